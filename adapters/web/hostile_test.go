package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// Input from the network never makes a page fail with a 500 or echo
// markup: oversized bodies, broken encodings, absurd tokens and names
// that are HTML.
func TestHostileInput(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	token := b.get("/sign-in").formToken(t, "/sign-in")

	huge := url.Values{"csrf_token": {token}, "email": {strings.Repeat("a", 300<<10)}}
	b.post("/sign-in", huge).want(t, http.StatusRequestEntityTooLarge, "Too much text")

	for _, path := range []string{
		"/invite/" + strings.Repeat("A", 5000), "/join/%00", "/verify/..%2f..%2fetc", "/reset-password/%ff%fe",
		"/set-password/" + url.PathEscape("<script>"),
	} {
		if p := b.get(path); p.Status != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, p.Status)
		}
	}

	link := e.linkToken()
	form := b.get("/join/" + link)
	p := b.post("/join/"+link, url.Values{"csrf_token": {form.formToken(t, "/join/"+link)},
		"name": {"\xff\xfe bad"}, "email": {"x@" + e.domain}, "password": {"\xffpassword-password"}})
	p.want(t, http.StatusBadRequest, "not valid UTF-8")

	// Markup typed into a form comes back as text.
	p = b.post("/join/"+link, url.Values{"csrf_token": {form.formToken(t, "/join/"+link)},
		"name": {`"><script>alert(1)</script>`}, "email": {`"><img src=x onerror=alert(1)>`}, "password": {"x"}})
	if p.Status != http.StatusBadRequest || strings.Contains(p.Body, "<script>alert") || strings.Contains(p.Body, "<img src=x") {
		t.Errorf("markup reflected: %d\n%s", p.Status, p.Body)
	}

	// Names that are markup, from the read models, are shown as text.
	e.reader.set(func(s *stubReader) {
		s.users = []readmodels.User{{OrgID: e.org, UserID: "u-x", Email: "x@" + e.domain, Name: `<img src=x onerror=alert(1)>`,
			Status: readmodels.StatusActive, Role: domain.RoleMember}}
	})
	admin := e.ownerBrowser()
	users := admin.get("/users?q="+url.QueryEscape(`"><script>alert(1)</script>`)).want(t, http.StatusOK)
	if strings.Contains(users.Body, "<img src=x") || strings.Contains(users.Body, "<script>alert") {
		t.Errorf("markup from the read models or the query reached the page unescaped")
	}
	admin.get("/audit?from=%ff&to="+strings.Repeat("9", 100)).want(t, http.StatusBadRequest)
	admin.get("/users?cursor="+strings.Repeat("c", 5000)).want(t, http.StatusOK)
	admin.get("/audit/lineage/"+strings.Repeat("u", 100)).want(t, http.StatusBadRequest)

	// A form body that is not a form: the token is missing, so 403.
	raw := b.do("POST", "/sign-in", nil, map[string]string{"Content-Type": "application/json"})
	raw.want(t, http.StatusForbidden)
}
