package bench

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakePortal answers the routes the read-side stages use, the way the
// query API is specified: a write returns X-Consistency-Token; a read given
// a token answers X-Consistency: stale the first time it is asked about a
// row, fresh with the row afterwards. It lets the lag, seed and Users query
// stages be tested before the real routes are wired in.
type fakePortal struct {
	active   string // portal_projection_active of users: "1" or "0"
	mu       sync.Mutex
	position int
	invited  []string
	asked    map[string]int
}

func (f *fakePortal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/orgs/org-1/invitations":
		var in struct {
			Emails []string `json:"emails"`
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &in)
		results := make([]map[string]string, len(in.Emails))
		for i, e := range in.Emails {
			f.invited = append(f.invited, e)
			results[i] = map[string]string{"email": e, "status": "invited"}
		}
		f.position++
		w.Header().Set("X-Consistency-Token", strconv.Itoa(f.position))
		_ = json.NewEncoder(w).Encode(map[string]any{"results": results, "position": f.position})
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/orgs/org-1/users":
		q := r.URL.Query().Get("q")
		var items []map[string]string
		if r.Header.Get("X-Consistency-Token") != "" {
			f.asked[q]++
			if f.asked[q] == 1 {
				w.Header().Set("X-Consistency", "stale")
				_ = json.NewEncoder(w).Encode(map[string]any{"items": []any{}, "counts": map[string]int{}})
				return
			}
			w.Header().Set("X-Consistency", "fresh")
		}
		for _, e := range f.invited {
			if strings.HasPrefix(e, q) && len(items) < 50 {
				items = append(items, map[string]string{"email": e, "status": "invited"})
			}
		}
		n := 0
		for _, e := range f.invited {
			if strings.HasPrefix(e, q) {
				n++
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"items": items, "counts": map[string]int{"invited": n}})
	case r.Method == http.MethodGet && r.URL.Path == "/metrics":
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = io.WriteString(w, "# TYPE portal_projection_active gauge\n"+
			"portal_projection_active{projection=\"audit\"} 0\nportal_projection_active{projection=\"users\"} "+f.active+"\n")
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/orgs/org-1/invitations":
		f.fresh(w, r) // always caught up: only the Users page lags here
		_ = json.NewEncoder(w).Encode(map[string]any{"items": []any{}})
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"status":404,"code":"route_not_found"}`))
	}
}

// fresh marks an answer to a read given a token as fresh.
func (f *fakePortal) fresh(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Consistency-Token") != "" {
		w.Header().Set("X-Consistency", "fresh")
	}
}

func fakeRunner(t *testing.T) *runner {
	t.Helper()
	srv := httptest.NewServer(&fakePortal{asked: map[string]int{}})
	t.Cleanup(srv.Close)
	o, err := ProfileOptions(ProfileSmoke)
	if err != nil {
		t.Fatal(err)
	}
	o.LagRate, o.LagDuration, o.Members, o.Queries = 50, 400*time.Millisecond, 120, 5
	return &runner{
		o: o, log: io.Discard, tag: "t1", res: &Results{Settings: settingsOf(o)},
		api:      &apiClient{base: srv.URL, hc: newHTTPClient(8), session: "s", org: "org-1"},
		mongoErr: errTest("no read-model database in this test"), esdbErr: errTest("no event store in this test"),
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }

func TestLagStageAgainstTheSpecifiedAPI(t *testing.T) {
	r := fakeRunner(t)
	r.stageLag(context.Background())
	s := r.res.stage(StageLag)
	if s == nil || s.Status != StatusOK || s.Latency == nil || s.Latency.Count == 0 || s.Latency.Errors != 0 {
		t.Fatalf("lag stage: %+v", s)
	}
	if s.Figures["staleAnswers"] == 0 || s.Figures["readsPerCommand"] < 2 {
		t.Errorf("the stale answers were not retried: %v", s.Figures)
	}
	if s.Figures["achievedRate"] <= 0 || s.Figures["commandP50Ms"] <= 0 {
		t.Errorf("figures: %v", s.Figures)
	}
}

func TestSeedAndUsersQueryAgainstTheSpecifiedAPI(t *testing.T) {
	r := fakeRunner(t)
	ctx := context.Background()
	r.stageSeed(ctx)
	seed := r.res.stage(StageSeed)
	if seed == nil || seed.Status != StatusOK || seed.Figures["projectionRowsPerS"] <= 0 || r.seedToken == "" {
		t.Fatalf("seed: %+v", seed)
	}
	r.stageUsersQuery(ctx)
	q := r.res.stage(StageUsersQuery)
	if q == nil || q.Status != StatusOK || q.Latency.Count != 5 || q.Figures["rows"] != 12 {
		t.Errorf("users query: %+v (a tenth of 120 members should match)", q)
	}
	if raw := r.res.stage(stageUsersRaw); raw == nil || raw.Status != StatusNotAvailable {
		t.Errorf("raw query without Mongo: %+v", raw)
	}
}

func TestRebuildWithoutTheAdminAPIIsNotAvailable(t *testing.T) {
	r := fakeRunner(t)
	r.adminToken = "admin"
	r.stageRebuild(context.Background()) // no Mongo: not available before any request
	if s := r.res.stage(StageRebuild); s == nil || s.Status != StatusNotAvailable {
		t.Errorf("rebuild: %+v", s)
	}
	if err := r.askRebuild(context.Background(), "users"); !routeMissing(err) {
		t.Errorf("askRebuild against a portal without the route: %v", err)
	}
}

// The harness tells a target that projects from one that leaves the
// projections to another process, and says so in the report.
func TestTargetThatRunsNoProjection(t *testing.T) {
	for _, active := range []string{"0", "1"} {
		srv := httptest.NewServer(&fakePortal{asked: map[string]int{}, active: active})
		api := &apiClient{base: srv.URL, hc: newHTTPClient(1)}
		runs, known, err := api.projecting(t.Context())
		srv.Close()
		if err != nil || !known || runs != (active == "1") {
			t.Fatalf("users active %s: runs %v, known %v, %v", active, runs, known, err)
		}
		var out strings.Builder
		printReport(&out, &Results{Target: Target{Mode: "url", Projects: &runs}}, "x.json")
		if says := strings.Contains(out.String(), "runs no projection"); says != !runs {
			t.Errorf("users active %s: the report says %q about it:\n%s", active, "runs no projection", out.String())
		}
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	if _, known, _ := (&apiClient{base: srv.URL, hc: newHTTPClient(1)}).projecting(t.Context()); known {
		t.Error("a portal without /metrics counted as known")
	}
}
