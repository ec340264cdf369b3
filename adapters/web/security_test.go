package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/httpapi"
	"github.com/orgportal/onboarding/adapters/ratelimit"
	"github.com/orgportal/onboarding/adapters/web"
)

const wantCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func wantSecurityHeaders(t *testing.T, p page) {
	t.Helper()
	for name, want := range map[string]string{
		"Content-Security-Policy": wantCSP,
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-store",
	} {
		if got := p.Header.Get(name); got != want {
			t.Errorf("%s %d: %s = %q, want %q", p.URL, p.Status, name, got, want)
		}
	}
	if ct := p.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("%s: Content-Type %q", p.URL, ct)
	}
}

// Every kind of answer carries the headers: a form, a refusal, an error
// page, an admin page.
func TestSecurityHeadersOnEveryPage(t *testing.T) {
	e := newEnv(t)
	anon := e.browser()
	admin := e.ownerBrowser()
	for _, p := range []page{
		anon.get("/sign-in"),
		anon.get("/invite/not-a-token"),
		anon.get("/no-such-page"),
		anon.post("/sign-in", url.Values{"email": {"x"}}),
		admin.get("/settings/self-service"),
		admin.get("/users/invite"),
	} {
		wantSecurityHeaders(t, p)
	}
}

// Cookies: HttpOnly and SameSite=Lax always; Secure and __Host- prefixed
// when the portal is served over https; plain names over http.
func TestCookieFlags(t *testing.T) {
	for _, secure := range []bool{true, false} {
		t.Run(map[bool]string{true: "https", false: "http"}[secure], func(t *testing.T) {
			cfg := baseConfig
			cfg.SecureCookie = secure
			e := newEnv(t, withConfig(cfg))
			b := e.browser()
			form := b.get("/sign-in")
			formCookie, sessionCookie := "portal_form", "portal_page_session"
			if secure {
				formCookie, sessionCookie = "__Host-portal_form", "__Host-portal_page_session"
			}
			pre := form.cookie(formCookie)
			if pre == nil {
				t.Fatalf("no %s cookie: %v", formCookie, form.Header.Values("Set-Cookie"))
			}
			signIn := b.post("/sign-in", url.Values{"csrf_token": {form.formToken(t, "/sign-in")},
				"email": {e.addr("owner")}, "password": {ownerPassword}})
			session := signIn.cookie(sessionCookie)
			if session == nil {
				t.Fatalf("no %s cookie after sign-in: %v", sessionCookie, signIn.Header.Values("Set-Cookie"))
			}
			for _, c := range []*http.Cookie{pre, session} {
				if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != secure || c.Path != "/" || c.Domain != "" {
					t.Errorf("cookie %s: HttpOnly=%v SameSite=%v Secure=%v Path=%q Domain=%q", c.Name, c.HttpOnly, c.SameSite, c.Secure, c.Path, c.Domain)
				}
			}
			if session.MaxAge <= 0 {
				t.Errorf("session cookie MaxAge %d, want the session's lifetime", session.MaxAge)
			}
			// The API's cookie name is not used: a page session never
			// authorizes an API call.
			if signIn.cookie(httpapi.SessionCookie) != nil {
				t.Error("the pages set the API's session cookie")
			}
		})
	}
}

// A form without its token, with another browser's token, or from another
// site changes nothing and answers 403 with a page that says what to do.
func TestCSRFRefusals(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	token := b.get("/sign-in").formToken(t, "/sign-in")
	creds := url.Values{"email": {e.addr("owner")}, "password": {ownerPassword}}
	other := e.browser()
	otherToken := other.get("/sign-in").formToken(t, "/sign-in")

	withToken := func(tok string) url.Values {
		v := url.Values{"csrf_token": {tok}}
		for k, x := range creds {
			v[k] = x
		}
		return v
	}
	for name, p := range map[string]page{
		"no token":                 b.post("/sign-in", creds),
		"another browser's token":  b.post("/sign-in", withToken(otherToken)),
		"a token without a cookie": e.browser().post("/sign-in", withToken(token)),
		"cross-site":               b.do("POST", "/sign-in", withToken(token), map[string]string{"Sec-Fetch-Site": "cross-site"}),
		"same-site sibling":        b.do("POST", "/sign-in", withToken(token), map[string]string{"Sec-Fetch-Site": "same-site"}),
		"foreign Origin":           b.do("POST", "/sign-in", withToken(token), map[string]string{"Origin": "https://evil.example"}),
	} {
		t.Run(name, func(t *testing.T) {
			p.want(t, http.StatusForbidden, "This form has expired", "reload the page")
			if p.cookie("__Host-portal_page_session") != nil {
				t.Error("a refused sign-in started a session")
			}
		})
	}
	// The same form with its own token works, also with the Origin
	// "null" browsers send under Referrer-Policy: no-referrer.
	p := b.do("POST", "/sign-in", withToken(token), map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"})
	if loc := p.location(t); loc != "/" {
		t.Fatalf("sign-in with the right token: %q", loc)
	}

	// Signed in, the admin forms want the token bound to the session: the
	// pre-session token of the same browser does not do.
	before := len(e.orgState().Link.AllowedDomains)
	refused := b.post("/settings/self-service", url.Values{"csrf_token": {token}, "enabled": {"on"}, "allowedDomains": {"evil.example"}})
	refused.want(t, http.StatusForbidden, "This form has expired")
	if len(e.orgState().Link.AllowedDomains) != before {
		t.Fatal("a refused form changed the link")
	}
	b.submit("/settings/self-service", "/settings/self-service", url.Values{"enabled": {"on"}, "allowedDomains": {"ok.example"}, "defaultRole": {"member"}}).location(t)
	if got := e.orgState().Link.AllowedDomains.Strings(); len(got) != 1 || got[0] != "ok.example" {
		t.Fatalf("allowed domains after the real form: %v", got)
	}
}

// The pages use no inline script or style (the CSP forbids both), and their
// script and style sheet come from the pages themselves.
func TestNoInlineScriptOrStyle(t *testing.T) {
	e := newEnv(t)
	admin := e.ownerBrowser()
	anon := e.browser()
	inline := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|<style|\sstyle=|\son[a-z]+=|javascript:`)
	for _, p := range []page{
		anon.get("/sign-in"), anon.get("/forgot-password"), anon.get("/join/" + e.linkToken()),
		admin.get("/settings/self-service"), admin.get("/users"), admin.get("/users/invite"), admin.get("/audit"),
		admin.get("/settings/self-service/rotate"),
	} {
		if p.Status != http.StatusOK {
			t.Fatalf("%s: %d", p.URL, p.Status)
		}
		if m := inline.FindString(p.Body); m != "" {
			t.Errorf("%s has inline script or style: %q", p.URL, m)
		}
		for _, src := range regexp.MustCompile(`(?:src|href)="(/assets/[^"]+)"`).FindAllStringSubmatch(p.Body, -1) {
			a := anon.get(strings.ReplaceAll(src[1], "&amp;", "&"))
			if a.Status != http.StatusOK || a.Header.Get("X-Content-Type-Options") != "nosniff" ||
				!strings.Contains(a.Header.Get("Cache-Control"), "immutable") {
				t.Errorf("asset %s: %d %v", src[1], a.Status, a.Header)
			}
		}
	}
	if p := anon.get("/assets/nope.js"); p.Status != http.StatusNotFound {
		t.Errorf("unknown asset: %d", p.Status)
	}
}

// No token, password or query string reaches the access log: it names
// route templates.
func TestNoSecretsInLogs(t *testing.T) {
	e := newEnv(t)
	inv := e.invite(e.addr("ann"), "")
	token := e.invitationToken(inv)
	b := e.browser()
	b.submit("/invite/"+token, "/invite/"+token, url.Values{"name": {"Ann"}, "password": {goodPassword}}).location(t)
	b.get("/users?q=secret-query")
	link := e.linkToken()
	e.browser().get("/join/" + link)
	logs := e.logs.String()
	for name, secret := range map[string]string{"invitation token": token, "link token": link, "password": goodPassword,
		"query string": "secret-query"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the %s reached the log", name)
		}
	}
	for _, route := range []string{`"route":"/invite/:token"`, `"route":"/join/:token"`, `"route":"/users"`} {
		if !strings.Contains(logs, route) {
			t.Errorf("the log does not name %s:\n%s", route, logs)
		}
	}
}

// Public forms share the API's budgets: per client and per address.
func TestPublicFormsAreRateLimited(t *testing.T) {
	e := newEnv(t, withLimits(ratelimit.Config{Subject: ratelimit.Rate{Events: 2, Per: time.Hour}}))
	b := e.browser()
	wrong := url.Values{"email": {e.addr("owner")}, "password": {"not the password at all"}}
	for range 2 {
		b.submit("/sign-in", "/sign-in", wrong).want(t, http.StatusUnauthorized, "not correct")
	}
	p := b.submit("/sign-in", "/sign-in", wrong).want(t, http.StatusTooManyRequests, "Too many attempts")
	if p.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// Another address still has its budget.
	b.submit("/sign-in", "/sign-in", url.Values{"email": {e.addr("other")}, "password": {"x"}}).want(t, http.StatusUnauthorized)

	e2 := setupEnv(t, withLimits(ratelimit.Config{Client: ratelimit.Rate{Events: 1, Per: time.Hour}}))
	c := e2.browser()
	c.submit("/forgot-password", "/forgot-password", url.Values{"email": {e2.addr("a")}}).want(t, http.StatusOK)
	c.submit("/forgot-password", "/forgot-password", url.Values{"email": {e2.addr("b")}}).want(t, http.StatusTooManyRequests)
}

// New refuses a missing command layer rather than failing later.
func TestNewNeedsCommands(t *testing.T) {
	if _, err := web.New(web.Deps{}); err == nil {
		t.Fatal("New without commands succeeded")
	}
}
