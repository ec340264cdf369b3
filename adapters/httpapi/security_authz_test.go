package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/httpapi"
	"github.com/orgportal/onboarding/commands"
)

// orgRoutePrefix is where every administrative route lives.
const orgRoutePrefix = httpapi.BasePath + "/orgs/:orgId"

// adminRoutes lists the routes under /orgs/:orgId that the Gin engine
// serves, so that a route added later is in the matrix without anyone
// remembering to add it.
func adminRoutes(t *testing.T, e *env) []adminRoute {
	t.Helper()
	api, err := httpapi.New(httpapi.Deps{Commands: e.h})
	must(t, err)
	var out []adminRoute
	for _, r := range api.Handler().Routes() {
		if r.Path == orgRoutePrefix || strings.HasPrefix(r.Path, orgRoutePrefix+"/") {
			out = append(out, adminRoute{Method: r.Method, Path: r.Path})
		}
	}
	// The routes of today; more may come, none may go unnoticed.
	if len(out) < 9 {
		t.Fatalf("only %d admin routes found: %v", len(out), out)
	}
	return out
}

type adminRoute struct{ Method, Path string }

var routeParam = regexp.MustCompile(`[:*]([A-Za-z]+)`)

// concrete fills a route template with ids of the target organization:
// its own id, a pending invitation, a member. A parameter this test does
// not know gets the invitation id (an existing id of the organization is
// the interesting case: it must not be readable either).
func concrete(path string, org, invitation, user string) string {
	filled := routeParam.ReplaceAllStringFunc(path, func(p string) string {
		name := strings.ToLower(p[1:])
		switch {
		case name == "orgid":
			return org
		case strings.Contains(name, "user") || strings.Contains(name, "member"):
			return user
		default:
			return invitation
		}
	})
	return strings.TrimPrefix(filled, httpapi.BasePath)
}

// Every administrative route refuses, before it decodes, validates or
// reads anything: anonymous callers (401), members of the organization who
// are not admins (403), and admins of another organization (403). No answer
// carries data of an organization the caller does not administer.
func TestSecurityAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	target := newEnv(t)
	other := target.otherTenant()
	owner := target.ownerToken()
	memberID := target.member(owner, "plain", "member")
	member := target.signIn(target.addr("plain"), goodPassword)
	invitation := target.invite(owner, target.addr("pending"), "admin")[0]["invitationId"].(string)
	outsider := other.ownerToken
	otherInvitation := target.inviteInto(other, "theirs")

	// What must never appear in an answer to someone outside the target
	// organization: its name, its addresses (all in its own domain), the
	// id of its owner. And nobody of the target sees the other's.
	targetSecrets := []string{target.orgName, target.domain, target.owner}
	otherSecrets := []string{other.name, other.domain, other.owner, other.org, otherInvitation}

	bodies := []string{`{}`, `{"enabled":true,"emails":["x@y.example"],"role":"owner","email":"x@y.example","name":"X"}`}
	callers := []struct {
		name   string
		token  string
		status int
		codes  []string
	}{
		{"anonymous", "", http.StatusUnauthorized, []string{httpapi.CodeAuthRequired}},
		{"forged token", "AQAAAAABAQ", http.StatusUnauthorized, []string{"session_invalid"}},
		{"member, not admin", member, http.StatusForbidden, []string{"not_an_admin"}},
		{"admin of another organization", outsider, http.StatusForbidden, []string{"not_an_admin"}},
	}
	routes := adminRoutes(t, target)
	t.Logf("%d administrative routes", len(routes))
	for _, rt := range routes {
		path := concrete(rt.Path, target.org, invitation, memberID)
		for _, who := range callers {
			for _, body := range bodies {
				r := target.do(req{Method: rt.Method, Path: path, Token: who.token, RawBody: withBody(rt.Method, body)})
				if r.Status != who.status || !slices.Contains(who.codes, r.str("code")) {
					t.Errorf("%s %s as %s with body %s: %d %s, want %d %v", rt.Method, rt.Path, who.name, body, r.Status, r.str("code"), who.status, who.codes)
					continue
				}
				if who.token == outsider || who.token == "" {
					leaks(t, rt.Method+" "+rt.Path+" as "+who.name, r.Raw, targetSecrets)
				}
				leaks(t, rt.Method+" "+rt.Path+" as "+who.name, r.Raw, otherSecrets)
				wantSecurityHeaders(t, rt.Method+" "+rt.Path, r.Header)
			}
		}
	}

	// The same routes aimed at an organization that does not exist answer
	// exactly what they answer for one that exists: nothing tells them apart.
	for _, rt := range routes {
		a := target.do(req{Method: rt.Method, Path: concrete(rt.Path, other.org, otherInvitation, other.owner), Token: owner, RawBody: withBody(rt.Method, `{}`)})
		b := target.do(req{Method: rt.Method, Path: concrete(rt.Path, "org-does-not-exist", otherInvitation, other.owner), Token: owner, RawBody: withBody(rt.Method, `{}`)})
		if a.Status != http.StatusForbidden || string(a.Raw) != string(b.Raw) {
			t.Errorf("%s %s: other organization %d %s, unknown one %d %s", rt.Method, rt.Path, a.Status, a.Raw, b.Status, b.Raw)
		}
		leaks(t, rt.Method+" "+rt.Path+" on another organization", a.Raw, otherSecrets)
	}

	// The owner of the target may use every route; whatever the answers,
	// none carries the other organization's data (even when the other
	// organization's invitation id is put in the path), and none is a 5xx
	// other than the read side's "not configured" 503.
	for _, rt := range routes {
		for _, ids := range [][2]string{{invitation, memberID}, {otherInvitation, other.owner}} {
			path := concrete(rt.Path, target.org, ids[0], ids[1])
			r := target.do(req{Method: rt.Method, Path: path, Token: owner, RawBody: withBody(rt.Method, `{}`)})
			if r.Status >= 500 && r.Status != http.StatusServiceUnavailable {
				t.Errorf("%s %s as owner: %d %s", rt.Method, path, r.Status, r.Raw)
			}
			leaks(t, rt.Method+" "+rt.Path+" as owner", r.Raw, otherSecrets)
		}
	}
}

func withBody(method, body string) string {
	if method == http.MethodGet || method == http.MethodDelete || method == http.MethodHead {
		return ""
	}
	return body
}

// leaks fails when an answer contains any of the secrets.
func leaks(t *testing.T, what string, raw []byte, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(strings.ToLower(string(raw)), strings.ToLower(s)) {
			t.Errorf("%s: the answer contains %q: %s", what, s, raw)
		}
	}
}

// The one query that needs no read model, the membership as of a moment
// (folded from the event store), answers the organization's own members to
// its owner and nothing of another organization; anyone else gets 403.
func TestSecurityMembershipHistoryStaysInItsOrganization(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other := e.otherTenant()
	owner := e.ownerToken()
	e.member(owner, "plain", "member")
	member := e.signIn(e.addr("plain"), goodPassword)
	e.inviteInto(other, "theirs")
	api, err := httpapi.New(httpapi.Deps{Commands: e.h, Clock: e.clock.Now, Config: baseConfig, History: sharedStore})
	must(t, err)
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	withHistory := *e
	withHistory.srv = srv

	path := "/orgs/" + e.org + "/users?asOf=" + e.clock.Now().UTC().Format(time.RFC3339)
	r := withHistory.want(withHistory.do(req{Method: "GET", Path: path, Token: owner}), http.StatusOK, "")
	if !strings.Contains(string(r.Raw), e.addr("plain")) || !strings.Contains(string(r.Raw), e.owner) {
		t.Fatalf("the owner's answer lacks the organization's members: %s", r.Raw)
	}
	leaks(t, "asOf as owner", r.Raw, []string{other.name, other.domain, other.owner, other.org})
	for who, token := range map[string]string{"member": member, "admin of another organization": other.ownerToken} {
		r := withHistory.want(withHistory.do(req{Method: "GET", Path: path, Token: token}), http.StatusForbidden, "not_an_admin")
		leaks(t, "asOf as "+who, r.Raw, []string{e.orgName, e.domain, e.owner})
	}
}

// An invitation through a replica that saw its sender administer the
// organization a moment ago starts while the role is read (the hot path
// of a bulk onboarding). Once another replica has demoted the sender,
// every answer of such a request is the 403, whatever the body: no 400
// tells how far it got, and no invitation is written.
func TestSecurityInvitationAheadOfTheRoleCheck(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner := e.ownerToken()
	ada := e.member(owner, "ada", "admin")
	adaToken := e.signIn(e.addr("ada"), goodPassword)

	bodies := map[string]req{
		"valid list":     {Body: map[string]any{"emails": []string{e.addr("x1"), e.addr("x2")}}},
		"invalid role":   {Body: map[string]any{"emails": []string{e.addr("x3")}, "role": "emperor"}},
		"malformed JSON": {RawBody: `{"emails": [`},
		"unknown field":  {Body: map[string]any{"emails": []string{e.addr("x4")}, "colour": "red"}},
	}
	// One replica per body, each of which has seen ada administer.
	replicas := map[string]*env{}
	for name := range bodies {
		r := e.withCommands(commands.Config{})
		r.want(r.do(req{Method: "GET", Path: "/orgs/" + e.org + "/self-service-link", Token: adaToken}), http.StatusOK, "")
		replicas[name] = r
	}
	e.want(e.do(req{Method: "PUT", Path: "/orgs/" + e.org + "/users/" + ada + "/role", Token: owner, Body: map[string]string{"role": "member"}}), http.StatusOK, "")

	for name, body := range bodies {
		body.Method, body.Path, body.Token = "POST", "/orgs/"+e.org+"/invitations", adaToken
		r := replicas[name]
		r.want(r.do(body), http.StatusForbidden, "not_an_admin")
	}
	for _, res := range e.invite(owner, []string{e.addr("x1"), e.addr("x2"), e.addr("x3"), e.addr("x4")}, "") {
		if res["status"] != "invited" {
			t.Errorf("after the demoted admin's refused requests, %v", res)
		}
	}
}
