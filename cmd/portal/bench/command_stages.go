package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strings"
	"time"
)

// email is the address number seq of a stage, unique to this run (tag):
// a rerun against the same portal invites new people.
func (r *runner) email(prefix string, seq int) string {
	return fmt.Sprintf("%s-%d.%s@example.org", prefix, seq, r.tag)
}

// stageInvite1 runs InviteUsers with one address per request at one client
// (for the overhead over a raw append) and at --concurrency (for
// throughput). The CPU profile, if asked for, is taken at --concurrency.
func (r *runner) stageInvite1(ctx context.Context) {
	for _, c := range r.levels() {
		s := Stage{Name: levelName(StageInvite1, c, r.o.Concurrency), Kind: "product"}
		prefix := "i1c" + fmt.Sprint(c)
		r.logf("%s: InviteUsers, 1 address per request, %d clients, %s", s.Name, c, describeLoad(r.o.commandLoad(c)))
		var profile func()
		if c == r.o.Concurrency && r.o.profiles(StageInvite1) {
			profile = r.startProfile(ctx, &s, r.o.Duration)
		}
		r.measureCommands(ctx, &s, r.o.commandLoad(c), func(ctx context.Context, seq int) error {
			_, _, err := r.api.invite(ctx, inviteBody([]string{r.email(prefix, seq)}))
			return err
		})
		if profile != nil {
			profile()
		}
		r.add(s)
	}
}

// inviteBatch is the number of addresses per request of invite50 and of
// the seed.
const inviteBatch = 50

func (r *runner) stageInvite50(ctx context.Context) {
	s := Stage{Name: StageInvite50, Kind: "product"}
	r.logf("%s: InviteUsers, %d addresses per request, %d clients, %s", s.Name, inviteBatch, r.o.Concurrency, describeLoad(r.o.commandLoad(r.o.Concurrency)))
	res := r.measureCommands(ctx, &s, r.o.commandLoad(r.o.Concurrency), func(ctx context.Context, seq int) error {
		emails := make([]string, inviteBatch)
		for i := range emails {
			emails[i] = r.email("i50", seq*inviteBatch+i)
		}
		_, _, err := r.api.invite(ctx, inviteBody(emails))
		return err
	})
	s.figure("addressesPerS", res.PerS*inviteBatch)
	r.add(s)
}

// stageRegister runs RegisterViaLink: POST /join/{token} with the
// organization's self-service link. Each one hashes a password (argon2id),
// so it is much slower than an invitation by design.
func (r *runner) stageRegister(ctx context.Context) {
	s := Stage{Name: StageRegister, Kind: "product"}
	token, err := r.linkToken(ctx)
	if err != nil {
		s.Status, s.Reason = statusOf(err), err.Error()
		r.add(s)
		return
	}
	r.logf("%s: RegisterViaLink, %d clients, %s", s.Name, r.o.Concurrency, describeLoad(r.o.commandLoad(r.o.Concurrency)))
	anonymous := &apiClient{base: r.api.base, hc: r.api.hc} // a stranger following the link: no session
	path := apiBase + "/join/" + token
	r.measureCommands(ctx, &s, r.o.commandLoad(r.o.Concurrency), func(ctx context.Context, seq int) error {
		body, _ := json.Marshal(map[string]string{ // strings only: cannot fail
			"email": r.email("reg", seq), "name": fmt.Sprintf("Bench Person %d", seq), "password": r.password,
		})
		_, err := anonymous.call(ctx, http.MethodPost, path, "POST /join/{token}", body, nil)
		return err
	})
	r.add(s)
}

// linkToken reads the organization's self-service link and returns its
// token (the last path segment of its URL).
func (r *runner) linkToken(ctx context.Context) (string, error) {
	resp, err := r.api.call(ctx, http.MethodGet, apiBase+"/orgs/"+r.api.org+"/self-service-link", "GET /orgs/{orgId}/self-service-link", nil, nil)
	if err != nil {
		return "", fmt.Errorf("self-service link: %w", err)
	}
	var link struct {
		Enabled bool   `json:"enabled"`
		URL     string `json:"url"`
	}
	if err := json.Unmarshal(resp.body, &link); err != nil || link.URL == "" {
		return "", failure("self-service link: the answer has no url")
	}
	if !link.Enabled {
		return "", failure("the organization's self-service link is disabled")
	}
	_, token, ok := strings.Cut(link.URL, "/join/")
	if !ok || token == "" {
		return "", failure("self-service link: the url has no /join/{token}")
	}
	return token, nil
}

// statusOf is the stage status for a stage that could not start: a route
// that does not exist yet is "not available", anything else a failure.
func statusOf(err error) string {
	if routeMissing(err) {
		return StatusNotAvailable
	}
	return StatusFailed
}

func describeLoad(spec loadSpec) string {
	var parts []string
	if spec.Rate > 0 {
		parts = append(parts, fmt.Sprintf("open loop at %.0f/s", spec.Rate))
	} else {
		parts = append(parts, "closed loop")
	}
	if spec.Duration > 0 {
		parts = append(parts, "for "+spec.Duration.String())
	}
	if spec.Count > 0 {
		parts = append(parts, fmt.Sprintf("at most %d requests", spec.Count))
	}
	return strings.Join(parts, ", ")
}

// startProfile asks the portal's pprof listener for a CPU profile as long
// as the stage's load (10 s when that has no length) and writes it to
// --cpuprofile; the returned function waits for it.
func (r *runner) startProfile(ctx context.Context, s *Stage, length time.Duration) func() {
	if r.pprofURL == "" {
		s.note("no CPU profile: the portal has no pprof listener (PORTAL_PPROF_ADDR; with --url give --pprof-url)")
		return nil
	}
	seconds := 10
	if length > 0 {
		seconds = max(1, int(math.Ceil(length.Seconds())))
	}
	done := make(chan struct{})
	var outcome string // written before done is closed, read after
	go func() {
		defer close(done)
		if err := fetchProfile(ctx, r.pprofURL, seconds, r.o.CPUProfile); err != nil {
			outcome = fmt.Sprintf("CPU profile failed: %v", err)
			return
		}
		outcome = fmt.Sprintf("CPU profile of the portal during this stage (%d s): %s", seconds, r.o.CPUProfile)
	}()
	return func() {
		<-done
		s.note("%s", outcome)
	}
}

func fetchProfile(ctx context.Context, base string, seconds int, path string) error {
	hc := &http.Client{Timeout: time.Duration(seconds)*time.Second + 30*time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, seconds), nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof answered %d", resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
