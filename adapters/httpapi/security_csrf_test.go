package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/orgportal/onboarding/adapters/httpapi"
)

// The session cookie is SameSite=Lax, so other sites' pages cannot use it
// in a POST. Sites under the same registrable domain (a sibling subdomain)
// are "same-site" and would send it, and the body-less POST routes
// (rotate, resend) take no JSON that a form could not send. So a
// cookie-authenticated unsafe request that the browser marks as coming
// from another origin (Sec-Fetch-Site, or else Origin) is refused; the
// portal's own pages (same origin) and bearer-token clients are not
// affected, and JSON bodies cannot be sent cross-origin without a CORS
// preflight the API never grants.
func TestSecurityCrossOriginCookieRequestsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner := e.ownerToken()
	rotate := "/orgs/" + e.org + "/self-service-link/rotate"
	cookie := httpapi.SessionCookie + "=" + owner
	host := e.srv.Listener.Addr().String()
	linkURL := func() string {
		return e.want(e.do(req{Method: "GET", Path: "/orgs/" + e.org + "/self-service-link", Token: owner}), 200, "").str("url")
	}
	before := linkURL()

	for name, h := range map[string]map[string]string{
		"sibling subdomain (same-site)": {"Cookie": cookie, "Sec-Fetch-Site": "same-site", "Origin": "https://evil.portal.example.test"},
		"another site":                  {"Cookie": cookie, "Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
		"old browser, Origin only":      {"Cookie": cookie, "Origin": "https://evil.portal.example.test"},
		"form posted as text/plain":     {"Cookie": cookie, "Origin": "https://evil.example", "Content-Type": "text/plain"},
	} {
		r := e.want(e.do(req{Method: "POST", Path: rotate, Header: h}), http.StatusForbidden, httpapi.CodeCrossOriginRequest)
		if r.Header.Get(httpapi.ConsistencyHeader) != "" {
			t.Errorf("%s: a refused request wrote something", name)
		}
		wantSecurityHeaders(t, name, r.Header)
	}
	if linkURL() != before {
		t.Fatal("a refused cross-origin request rotated the link")
	}

	// The portal's own pages: same origin, by header or by Origin = Host.
	e.wantWrite(e.do(req{Method: "POST", Path: rotate, Header: map[string]string{"Cookie": cookie, "Sec-Fetch-Site": "same-origin", "Origin": "http://" + host}}), 200)
	e.wantWrite(e.do(req{Method: "POST", Path: rotate, Header: map[string]string{"Cookie": cookie, "Origin": "http://" + host}}), 200)
	// A typed-in or bookmarked request, and clients that are not browsers.
	e.wantWrite(e.do(req{Method: "POST", Path: rotate, Header: map[string]string{"Cookie": cookie, "Sec-Fetch-Site": "none"}}), 200)
	e.wantWrite(e.do(req{Method: "POST", Path: rotate, Header: map[string]string{"Cookie": cookie}}), 200)
	// Bearer tokens are never sent by a browser on its own: no CSRF.
	e.wantWrite(e.do(req{Method: "POST", Path: rotate, Token: owner, Header: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://tool.example"}}), 200)
	// Safe methods are not state-changing: reading stays possible.
	e.want(e.do(req{Method: "GET", Path: "/orgs/" + e.org + "/self-service-link", Header: map[string]string{"Cookie": cookie, "Sec-Fetch-Site": "same-site"}}), 200, "")

	if linkURL() == before {
		t.Error("the allowed rotations did not rotate")
	}

	// Sign-in cannot be forged by a form either: it takes only JSON.
	e.want(e.do(req{Method: "POST", Path: "/session", RawBody: `email=a@b.example&password=x`,
		Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.example"}}), http.StatusUnsupportedMediaType, httpapi.CodeUnsupportedMediaType)
}
