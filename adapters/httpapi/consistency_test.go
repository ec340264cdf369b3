package httpapi_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/httpapi"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// shortWait keeps the stale case quick; the tests never assert how long
// anything took, only what the answer says.
func shortWait() httpapi.Config {
	cfg := baseConfig
	cfg.ConsistencyWait = 150 * time.Millisecond
	return cfg
}

func TestReadYourWrites(t *testing.T) {
	t.Parallel()
	e, r := queryEnv(t, withConfig(shortWait()))
	owner := e.ownerToken()
	write := e.wantWrite(e.do(req{Method: "POST", Path: "/orgs/" + e.org + "/invitations", Token: owner,
		Body: map[string]any{"emails": e.addr("ann")}}), 200)
	token := write.Header.Get(httpapi.ConsistencyHeader)
	pos, err := strconv.ParseUint(token, 10, 64)
	must(t, err)

	// The projection catches up during the wait: fresh.
	r.set(func(m *memReader) {
		m.position = pos - 1
		m.onPosition = func(m *memReader, call int) {
			if call == 3 {
				m.position = pos
			}
		}
	})
	res := e.want(e.get(owner, "/users", httpapi.ConsistencyHeader, token), 200, "")
	if got := res.Header.Get(httpapi.ConsistencyStateHeader); got != "fresh" {
		t.Errorf("caught up during the wait: %s = %q, want fresh", httpapi.ConsistencyStateHeader, got)
	}
	r.mu.Lock()
	calls := r.positionCalls
	r.mu.Unlock()
	if calls < 3 {
		t.Errorf("answered after %d position reads, before the read models caught up", calls)
	}

	// It never catches up: the answer comes anyway, marked stale; the
	// query parameter works like the header.
	// Each query waits for the read model it reads, not for the others.
	r.set(func(m *memReader) { m.onPosition, m.position = nil, pos-1 })
	for p, model := range map[string]string{"/users?consistency=" + token: readmodels.UsersBase,
		"/invitations?consistency=" + token: readmodels.InvitationsBase, "/audit?consistency=" + token: readmodels.AuditBase,
		"/users/" + e.owner + "/lineage?consistency=" + token: readmodels.UsersBase} {
		if p == "/users/"+e.owner+"/lineage?consistency="+token {
			r.set(func(m *memReader) {
				m.users = []readmodels.User{userRow(e.org, e.owner, e.addr("owner"), readmodels.StatusActive, domain.RoleOwner, nil)}
			})
		}
		r.set(func(m *memReader) { m.usersAwaited = nil })
		res = e.want(e.get(owner, p), 200, "")
		if got := res.Header.Get(httpapi.ConsistencyStateHeader); got != "stale" {
			t.Errorf("%s: never caught up: %s = %q, want stale", p, httpapi.ConsistencyStateHeader, got)
		}
		r.mu.Lock()
		asked, orgs := r.positionModels, r.usersAwaited
		r.mu.Unlock()
		if !slices.Equal(asked, []string{model}) {
			t.Errorf("%s waited for the position of %q, want %q only", p, asked, model)
		}
		// A Users read waits for its organization's rows (AwaitUsers).
		if want := []domain.OrgID{domain.OrgID(e.org)}; model == readmodels.UsersBase && !slices.Equal(orgs, want) ||
			model != readmodels.UsersBase && len(orgs) > 0 {
			t.Errorf("%s waited for the Users rows of %q", p, orgs)
		}
	}

	// Already there, or a token of 0 (a write that changed nothing): fresh.
	r.set(func(m *memReader) { m.position = pos + 10 })
	for _, h := range []string{token, "0"} {
		res = e.want(e.get(owner, "/users", httpapi.ConsistencyHeader, h), 200, "")
		if got := res.Header.Get(httpapi.ConsistencyStateHeader); got != "fresh" {
			t.Errorf("token %s: %q, want fresh", h, got)
		}
	}
	// Header and parameter together: the larger one counts.
	r.set(func(m *memReader) { m.position = pos })
	res = e.want(e.get(owner, "/users?consistency="+strconv.FormatUint(pos+1, 10), httpapi.ConsistencyHeader, token), 200, "")
	if got := res.Header.Get(httpapi.ConsistencyStateHeader); got != "stale" {
		t.Errorf("the larger token is not passed: %q, want stale", got)
	}
}

// A client that gives up stops the wait; the server does not keep polling
// for it.
func TestConsistencyWaitEndsWithTheClient(t *testing.T) {
	t.Parallel()
	cfg := baseConfig
	cfg.ConsistencyWait = time.Hour
	e, r := queryEnv(t, withConfig(cfg))
	owner := e.ownerToken()
	polled := make(chan struct{}, 1)
	r.set(func(m *memReader) {
		m.position = 1
		m.onPosition = func(*memReader, int) {
			select {
			case polled <- struct{}{}:
			default:
			}
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	hr, err := http.NewRequestWithContext(ctx, "GET", e.srv.URL+httpapi.BasePath+"/orgs/"+e.org+"/users", nil)
	must(t, err)
	hr.Header.Set("Authorization", "Bearer "+owner)
	hr.Header.Set(httpapi.ConsistencyHeader, "1000000")
	done := make(chan error, 1)
	go func() {
		resp, err := e.srv.Client().Do(hr)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case <-polled:
	case <-time.After(30 * time.Second):
		t.Fatal("the read never started waiting")
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the request finished although its client went away")
	}
	// The handler ends (the access log records 499), and with it the polling.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(e.logs.String(), `"status":499`) {
		if time.Now().After(deadline) {
			t.Fatalf("the handler did not end when its client left: %s", e.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.mu.Lock()
	before := r.positionCalls
	r.mu.Unlock()
	time.Sleep(200 * time.Millisecond)
	r.mu.Lock()
	after := r.positionCalls
	r.mu.Unlock()
	if after != before {
		t.Errorf("still polling the position after the request ended (%d, then %d reads)", before, after)
	}
}
