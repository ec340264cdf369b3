package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// answeringStore answers every call with err.
type answeringStore struct {
	commands.EventStore
	err error
}

func (s answeringStore) Load(context.Context, domain.StreamName) (commands.Loaded, error) {
	return commands.Loaded{Revision: commands.NoStream}, s.err
}

func (s answeringStore) LoadFrom(context.Context, domain.StreamName, commands.Revision) (commands.Loaded, error) {
	return commands.Loaded{}, s.err
}

func (s answeringStore) Append(context.Context, domain.StreamName, commands.Revision, commands.Metadata, ...domain.Event) (commands.Position, error) {
	return 0, s.err
}

// histogramCounts gathers m's collectors and returns each histogram
// series' count, keyed by its labels in order ("append/ok").
func histogramCounts(t *testing.T, m *callMetrics, name string) map[string]uint64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.collectors()...)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, metric := range f.GetMetric() {
			key := ""
			for i, l := range metric.GetLabel() {
				if i > 0 {
					key += "/"
				}
				key += l.GetValue()
			}
			counts[key] = metric.GetHistogram().GetSampleCount()
		}
	}
	return counts
}

func TestTimedStoreCountsCallsByOutcome(t *testing.T) {
	m := newCallMetrics()
	ctx := context.Background()
	conflict := domain.Conflict(commands.CodeConcurrentChange, "stream %s changed", "s")
	for _, err := range []error{nil, conflict, commands.ErrUnavailable} {
		s := m.timeCalls(answeringStore{err: err})
		if _, got := s.Append(ctx, "s", commands.NoStream, commands.Metadata{}); !errors.Is(got, err) {
			t.Fatalf("Append answered %v, want the store's %v", got, err)
		}
		if _, got := s.Load(ctx, "s"); !errors.Is(got, err) {
			t.Fatalf("Load answered %v, want the store's %v", got, err)
		}
		if _, got := s.LoadFrom(ctx, "s", 3); !errors.Is(got, err) {
			t.Fatalf("LoadFrom answered %v, want the store's %v", got, err)
		}
	}
	got := histogramCounts(t, m, "portal_eventstore_call_duration_seconds")
	want := map[string]uint64{"append/ok": 1, "append/conflict": 1, "append/error": 1, "read/ok": 2, "read/conflict": 2, "read/error": 2}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("calls %s: %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}

func TestRequestsAreTimedByRouteTemplate(t *testing.T) {
	m := newCallMetrics()
	r := newRouter(slog.New(slog.DiscardHandler), nil, m.timeRequests)
	r.GET("/orgs/:orgId/things", func(c *gin.Context) { c.Status(http.StatusTeapot) })
	r.GET("/panics", func(*gin.Context) { panic("handler bug") })
	for _, path := range []string{"/orgs/o1/things", "/orgs/o2/things", "/healthz", "/nowhere/secret-token", "/panics"} {
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	// Made-up methods, which net/http accepts, share one series.
	for _, method := range []string{"FROB1", "FROB2"} {
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(method, "/healthz", nil))
	}
	got := histogramCounts(t, m, "portal_http_request_duration_seconds")
	want := map[string]uint64{"418/GET//orgs/:orgId/things": 2, "200/GET//healthz": 1, "404/GET/(no route)": 1, "500/GET//panics": 1, "404/other/(no route)": 2}
	if len(got) != len(want) {
		t.Fatalf("request series %v, want %v (templates, never paths; a panic as its 500; unknown methods as other)", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("requests %s: %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}
