package web_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/httpapi"
	"github.com/orgportal/onboarding/adapters/ratelimit"
)

// The tests here mount the API and the pages on one engine, as portal
// serve does (withAPI).

// apiReply is an API answer: its status, headers and decoded JSON body.
type apiReply struct {
	Status int
	Header http.Header
	Body   map[string]any
}

func (r apiReply) code() string { s, _ := r.Body["code"].(string); return s }

// api calls the JSON API under /api/v1 with a bearer token (when given)
// and a JSON body (when not nil).
func (e *env) api(method, path, token string, body any) apiReply {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		must(e.t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	must(e.t, err)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	must(e.t, err)
	defer resp.Body.Close()
	out := apiReply{Status: resp.StatusCode, Header: resp.Header}
	raw, err := io.ReadAll(resp.Body)
	must(e.t, err)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			e.t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, raw)
		}
	}
	return out
}

func (r apiReply) want(t *testing.T, status int, code string) apiReply {
	t.Helper()
	if r.Status != status || r.code() != code {
		t.Fatalf("API answered %d %q, want %d %q: %v", r.Status, r.code(), status, code, r.Body)
	}
	return r
}

// A failed sign-in on the page and one through the API spend one budget
// (per address; the client budget is shared alike), and so do invitations
// sent from the Users page and through the API: using both doors buys no
// extra attempts and no extra invitations.
func TestPagesAndAPIShareBudgets(t *testing.T) {
	e := newEnv(t, withAPI(), withLimits(ratelimit.Config{
		Subject: ratelimit.Rate{Events: 3, Per: time.Hour}, InvitationsPerDay: 2}))
	wrong := url.Values{"email": {e.addr("owner")}, "password": {"not the password at all"}}
	apiSignIn := func(password string) apiReply {
		return e.api("POST", httpapi.BasePath+"/session", "", map[string]string{"email": e.addr("owner"), "password": password})
	}
	b := e.browser()
	b.submit("/sign-in", "/sign-in", wrong).want(t, http.StatusUnauthorized, "not correct")
	apiSignIn("not the password at all").want(t, http.StatusUnauthorized, "invalid_credentials")
	b.submit("/sign-in", "/sign-in", wrong).want(t, http.StatusUnauthorized, "not correct")
	apiSignIn("not the password at all").want(t, http.StatusTooManyRequests, httpapi.CodeRateLimited)
	b.submit("/sign-in", "/sign-in", wrong).want(t, http.StatusTooManyRequests, "Too many attempts")

	e.clock.Advance(time.Hour)
	token, _ := apiSignIn(ownerPassword).want(t, http.StatusOK, "").Body["token"].(string)
	invite := func(local string) apiReply {
		return e.api("POST", httpapi.BasePath+"/orgs/"+string(e.org)+"/invitations", token, map[string]any{"emails": []string{e.addr(local)}})
	}
	invite("ann").want(t, http.StatusOK, "")
	owner := e.ownerBrowser()
	owner.submit("/users/invite", "/users/invite", url.Values{"emails": {e.addr("bob")}}).want(t, http.StatusOK, "Invited")
	invite("cy").want(t, http.StatusTooManyRequests, httpapi.CodeRateLimited)
	owner.submit("/users/invite", "/users/invite", url.Values{"emails": {e.addr("dee")}}).want(t, http.StatusTooManyRequests, "Too many attempts")
}

// With the API mounted, what no page takes gets the API's problem
// documents (request id, no-store, one access-log line), except a browser
// asking for a page, which gets an HTML page.
func TestUnknownRoutesWithAPI(t *testing.T) {
	e := newEnv(t, withAPI())
	for _, c := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", httpapi.BasePath + "/nope", http.StatusNotFound, httpapi.CodeRouteNotFound},
		{"PATCH", httpapi.BasePath + "/session", http.StatusMethodNotAllowed, httpapi.CodeMethodNotAllowed},
		{"GET", "/nope", http.StatusNotFound, httpapi.CodeRouteNotFound},
		{"DELETE", "/sign-in", http.StatusMethodNotAllowed, httpapi.CodeMethodNotAllowed},
	} {
		r := e.api(c.method, c.path, "", nil).want(t, c.status, c.code)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("%s %s: Content-Type %q", c.method, c.path, ct)
		}
		if r.Header.Get(httpapi.RequestIDHeader) == "" || r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s: headers %v", c.method, c.path, r.Header)
		}
	}
	if n := strings.Count(e.logs.String(), `"code":"`+httpapi.CodeRouteNotFound+`"`); n != 2 {
		t.Errorf("%d access-log lines name %s, want 2:\n%s", n, httpapi.CodeRouteNotFound, e.logs)
	}

	b := e.browser()
	wantSecurityHeaders(t, b.get("/nope").want(t, http.StatusNotFound, "Page not found"))
	b.do("DELETE", "/sign-in", nil, nil).want(t, http.StatusMethodNotAllowed, "Not available this way")
	// Under /api/ even a browser gets the problem document.
	if p := b.get(httpapi.BasePath + "/nope"); p.Status != http.StatusNotFound || !strings.HasPrefix(p.Header.Get("Content-Type"), "application/problem+json") {
		t.Errorf("an /api/ path answered %d %s", p.Status, p.Header.Get("Content-Type"))
	}
}
