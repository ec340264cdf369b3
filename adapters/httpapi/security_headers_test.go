package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/orgportal/onboarding/adapters/httpapi"
)

// wantSecurityHeaders checks what every API answer carries: no caching
// (answers hold tokens, links and personal data) and no content sniffing.
func wantSecurityHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options = %q, want nosniff", what, got)
	}
	if got := h.Get("Cache-Control"); !strings.Contains(got, "no-store") {
		t.Errorf("%s: Cache-Control = %q, want no-store", what, got)
	}
}

// Every route, and the answers no route gives (404, 405, 413, 415), carry
// the security headers, whatever the status.
func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner := e.ownerToken()
	api, err := httpapi.New(httpapi.Deps{Commands: e.h})
	must(t, err)
	for _, rt := range api.Handler().Routes() {
		path := strings.TrimPrefix(routeParam.ReplaceAllString(rt.Path, "x"), httpapi.BasePath)
		path = strings.Replace(path, "/orgs/x", "/orgs/"+e.org, 1)
		for _, token := range []string{"", owner} {
			r := e.do(req{Method: rt.Method, Path: path, Token: token, RawBody: withBody(rt.Method, `{}`)})
			wantSecurityHeaders(t, rt.Method+" "+rt.Path, r.Header)
		}
	}
	for _, rq := range []req{
		{Method: "GET", Path: "/no/such/route"},
		{Method: "PATCH", Path: "/session"},
		{Method: "POST", Path: "/session", RawBody: `{}`, Header: map[string]string{"Content-Type": "text/plain"}},
		{Method: "POST", Path: "/session", RawBody: `{"email":"` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"}`},
	} {
		r := e.do(rq)
		if r.Status < 400 {
			t.Errorf("%s %s: %d", rq.Method, rq.Path, r.Status)
		}
		wantSecurityHeaders(t, rq.Method+" "+rq.Path, r.Header)
	}
}

// A body over the limit is refused with 413 on every route that takes one,
// before authentication, decoding or any work.
func TestSecurityOversizedBodyOnEveryRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner := e.ownerToken()
	big := `{"email":"` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"}`
	api, err := httpapi.New(httpapi.Deps{Commands: e.h})
	must(t, err)
	n := 0
	for _, rt := range api.Handler().Routes() {
		if rt.Method != http.MethodPost && rt.Method != http.MethodPut && rt.Method != http.MethodPatch {
			continue
		}
		n++
		path := strings.TrimPrefix(routeParam.ReplaceAllString(rt.Path, "x"), httpapi.BasePath)
		path = strings.Replace(path, "/orgs/x", "/orgs/"+e.org, 1)
		for _, token := range []string{"", owner} {
			e.want(e.do(req{Method: rt.Method, Path: path, Token: token, RawBody: big}), http.StatusRequestEntityTooLarge, httpapi.CodeBodyTooLarge)
		}
	}
	if n < 10 {
		t.Errorf("only %d routes take a body", n)
	}
}
