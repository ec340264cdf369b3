package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/esdbserver"
	"github.com/orgportal/onboarding/adapters/httpapi"
	"github.com/orgportal/onboarding/adapters/ratelimit"
)

func TestBadRequestBodies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner := e.ownerToken()
	path := "/orgs/" + e.org + "/users"
	post := func(raw string, header map[string]string) reply {
		return e.do(req{Method: "POST", Path: path, Token: owner, RawBody: raw, Header: header})
	}

	for name, raw := range map[string]string{
		"syntax":        `{"email": "a@b.c",}`,
		"truncated":     `{"email": "a@b.c"`,
		"not an object": `["a@b.c"]`,
		"two documents": `{"email":"a@b.c"} {"email":"d@e.f"}`,
		"only spaces":   `   `,
	} {
		r := e.want(post(raw, nil), 400, httpapi.CodeMalformedJSON)
		if !strings.Contains(r.str("detail"), "JSON") {
			t.Errorf("%s: detail %q does not say what is wrong", name, r.str("detail"))
		}
	}
	r := e.want(post(`{"email": 42}`, nil), 400, httpapi.CodeMalformedJSON)
	if r.Body["errors"].(map[string]any)["email"] != "must be a string" {
		t.Errorf("wrong type: %s", r.Raw)
	}
	r = e.want(post(`{"emial": "a@b.c"}`, nil), 400, httpapi.CodeMalformedJSON)
	if r.Body["errors"].(map[string]any)["emial"] != "unknown field" {
		t.Errorf("unknown field: %s", r.Raw)
	}
	e.want(e.do(req{Method: "POST", Path: "/orgs/" + e.org + "/invitations", Token: owner, RawBody: `{"emails": {"a": 1}}`}), 400, httpapi.CodeMalformedJSON)
	e.want(post(`{"email":"a@b.c"}`, map[string]string{"Content-Type": "text/plain"}), 415, httpapi.CodeUnsupportedMediaType)

	// Field validation: every field problem at once.
	r = e.want(e.do(req{Method: "POST", Path: path, Token: owner, Body: map[string]string{"email": "nope", "name": "", "role": "owner"}}), 400, "validation_failed")
	if errs, _ := r.Body["errors"].(map[string]any); len(errs) != 3 {
		t.Errorf("field errors: %s", r.Raw)
	}
	r = e.want(e.do(req{Method: "POST", Path: "/session", Body: map[string]string{"email": e.addr("owner"), "password": "wrong password!"}}), 401, "invalid_credentials")
	if r.Header.Get("Set-Cookie") != "" {
		t.Error("a failed sign-in set a cookie")
	}
	e.want(e.do(req{Method: "PUT", Path: "/orgs/" + e.org + "/self-service-link", Token: owner, Body: map[string]any{"allowedDomains": []string{}}}), 400, "invalid_link_settings")
	r = e.want(e.do(req{Method: "PUT", Path: "/orgs/" + e.org + "/self-service-link", Token: owner, Body: map[string]any{"enabled": true, "allowedDomains": []string{"not a domain"}}}), 400, "invalid_link_settings")
	if r.Body["errors"] == nil {
		t.Errorf("no field errors: %s", r.Raw)
	}
}

func TestOversizedBodies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner := e.ownerToken()
	big := `{"emails": "` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"}`
	e.want(e.do(req{Method: "POST", Path: "/orgs/" + e.org + "/invitations", Token: owner, RawBody: big}), 413, httpapi.CodeBodyTooLarge)

	// Without a declared length (chunked), the limit applies while reading.
	hr, err := http.NewRequest("POST", e.srv.URL+httpapi.BasePath+"/session", strings.NewReader(big))
	must(t, err)
	hr.ContentLength = -1
	hr.Header.Set("Content-Type", "application/json")
	resp, err := e.srv.Client().Do(hr)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 413 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("chunked oversized body: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestAuthenticationAndTenancy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other := newEnv(t)
	owner := e.ownerToken()
	linkOf := func(org string) string { return "/orgs/" + org + "/self-service-link" }

	r := e.want(e.do(req{Method: "GET", Path: linkOf(e.org)}), 401, httpapi.CodeAuthRequired)
	if r.Header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	e.want(e.do(req{Method: "GET", Path: linkOf(e.org), Token: "forged"}), 401, "session_invalid")
	e.want(e.do(req{Method: "GET", Path: linkOf(e.org), Header: map[string]string{"Authorization": "Basic b3duZXI6cHc="}}), 401, httpapi.CodeAuthRequired)

	// Another organization, existing or not: the same 403, no data.
	a := e.want(e.do(req{Method: "GET", Path: linkOf(other.org), Token: owner}), 403, "not_an_admin")
	b := e.want(e.do(req{Method: "GET", Path: linkOf("org-does-not-exist"), Token: owner}), 403, "not_an_admin")
	if string(a.Raw) != string(b.Raw) || strings.Contains(string(a.Raw), other.orgName) {
		t.Errorf("403s differ or leak: %s / %s", a.Raw, b.Raw)
	}
	otherInvitation := other.invite(other.ownerToken(), other.addr("x"), "")[0]["invitationId"].(string)
	for _, rq := range []req{
		{Method: "POST", Path: "/orgs/" + other.org + "/invitations", Body: map[string]any{"emails": "x@y.z"}},
		{Method: "DELETE", Path: "/orgs/" + other.org + "/invitations/" + otherInvitation},
		{Method: "POST", Path: "/orgs/" + other.org + "/invitations/" + otherInvitation + "/resend"},
		{Method: "DELETE", Path: "/orgs/" + other.org + "/users/" + other.owner},
		{Method: "PUT", Path: "/orgs/" + other.org + "/users/" + other.owner + "/role", Body: map[string]string{"role": "member"}},
		{Method: "POST", Path: linkOf(other.org) + "/rotate"},
	} {
		rq.Token = owner
		e.want(e.do(rq), 403, "not_an_admin")
	}
	// Another organization's invitation through one's own organization: 404.
	e.want(e.do(req{Method: "DELETE", Path: "/orgs/" + e.org + "/invitations/" + otherInvitation, Token: owner}), 404, "invitation_not_found")
}

func TestNotFoundConflictAndGone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner := e.ownerToken()

	e.want(e.do(req{Method: "GET", Path: "/invitations/not-a-token"}), 404, "invitation_not_found")
	e.want(e.do(req{Method: "GET", Path: "/join/not-a-token"}), 404, "link_not_found")
	e.want(e.do(req{Method: "POST", Path: "/verify/not-a-token"}), 404, "registration_not_found")
	e.want(e.do(req{Method: "POST", Path: "/set-password/not-a-token", Body: map[string]string{"password": goodPassword}}), 404, "password_token_invalid")
	e.want(e.do(req{Method: "GET", Path: "/no/such/route"}), 404, httpapi.CodeRouteNotFound)
	e.want(e.do(req{Method: "PATCH", Path: "/session"}), 405, httpapi.CodeMethodNotAllowed)
	e.want(e.do(req{Method: "DELETE", Path: "/orgs/" + e.org + "/users/no-such-user", Token: owner}), 404, "member_not_found")
	e.want(e.do(req{Method: "DELETE", Path: "/orgs/" + e.org + "/users/bad%20id", Token: owner}), 400, "invalid_id")

	// The last owner can be neither demoted nor removed.
	e.want(e.do(req{Method: "PUT", Path: "/orgs/" + e.org + "/users/" + e.owner + "/role", Token: owner, Body: map[string]string{"role": "member"}}), 409, "last_owner")
	// An address that is a member cannot be added again.
	e.want(e.do(req{Method: "POST", Path: "/orgs/" + e.org + "/users", Token: owner, Body: map[string]string{"email": e.addr("owner"), "name": "Again"}}), 409, "already_member")

	// Gone, with a distinct code per reason.
	superseded := e.invite(owner, e.addr("s"), "")[0]["invitationId"].(string)
	oldToken := e.invitationToken(superseded)
	e.wantWrite(e.do(req{Method: "POST", Path: "/orgs/" + e.org + "/invitations/" + superseded + "/resend", Token: owner}), 200)
	revoked := e.invite(owner, e.addr("r"), "")[0]["invitationId"].(string)
	revokedToken := e.invitationToken(revoked)
	e.wantWrite(e.do(req{Method: "DELETE", Path: "/orgs/" + e.org + "/invitations/" + revoked, Token: owner}), 200)
	expiring := e.invite(owner, e.addr("x"), "")[0]["invitationId"].(string)
	expiredToken := e.invitationToken(expiring)
	e.clock.Advance(8 * 24 * time.Hour)

	accept := func(token string) reply {
		return e.do(req{Method: "POST", Path: "/invitations/" + token + "/accept", Body: map[string]string{"name": "N", "password": goodPassword}})
	}
	seen := map[string]bool{}
	for token, code := range map[string]string{oldToken: "invitation_superseded", revokedToken: "invitation_revoked", expiredToken: "invitation_expired"} {
		r := e.want(accept(token), 410, code)
		if !strings.Contains(r.str("detail"), "invitation") || seen[r.str("detail")] && code != "invitation_expired" {
			t.Errorf("%s: detail %q", code, r.str("detail"))
		}
		seen[r.str("detail")] = true
	}
	// A failed accept does not use the invitation up: resent, it works.
	fresh := e.ownerToken() // the earlier session expired with the clock
	e.wantWrite(e.do(req{Method: "POST", Path: "/orgs/" + e.org + "/invitations/" + expiring + "/resend", Token: fresh}), 200)
	e.wantWrite(accept(e.invitationToken(expiring)), 201)
	e.want(e.do(req{Method: "GET", Path: "/orgs/" + e.org + "/self-service-link", Token: owner}), 401, "session_expired")
}

func TestHostileInput(t *testing.T) {
	t.Parallel()
	orgName := `Acme <script>alert(1)</script> '; DROP TABLE orgs;-- {{.}} ${jndi:ldap://x}`
	e := newEnv(t, withOrgName(orgName))
	owner := e.ownerToken()

	// 10,000 addresses: refused as a whole, quickly, nothing written.
	many := make([]string, 10_000)
	for i := range many {
		many[i] = "user" + strings.Repeat("x", i%7) + "@" + e.domain
	}
	start := time.Now()
	e.want(e.do(req{Method: "POST", Path: "/orgs/" + e.org + "/invitations", Token: owner, Body: map[string]any{"emails": many}}), 400, "too_many_addresses")
	e.want(e.do(req{Method: "POST", Path: "/orgs/" + e.org + "/invitations", Token: owner, Body: map[string]any{"emails": strings.Join(many, "\n")}}), 400, "too_many_addresses")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusing 10,000 addresses took %v", d)
	}

	// Injection-looking input is data: stored and returned verbatim.
	evil := `<svg/onload=alert('x')>"@` + e.domain
	res := e.invite(owner, []string{evil, "用户@例子.广告", e.addr("plain")}, "")
	if res[1]["status"] != "invalid" || res[1]["email"] != "用户@例子.广告" || !strings.Contains(res[1]["reason"].(string), "xn--") {
		t.Errorf("internationalized address: %v", res[1])
	}
	if res[0]["status"] != "invalid" || res[0]["email"] != evil {
		t.Errorf("hostile address: %v", res[0])
	}
	if res[len(res)-1]["status"] != "invited" {
		t.Fatalf("plain address: %v", res)
	}
	id := res[len(res)-1]["invitationId"].(string)
	token := e.invitationToken(id)
	r := e.want(e.do(req{Method: "GET", Path: "/invitations/" + token}), 200, "")
	if r.str("organizationName") != orgName {
		t.Errorf("organization name %q, want %q verbatim", r.str("organizationName"), orgName)
	}
	name := `Robert'); DROP TABLE users;-- <b>`
	e.wantWrite(e.do(req{Method: "POST", Path: "/invitations/" + token + "/accept", Body: map[string]string{"name": name, "password": goodPassword}}), 201)

	// A forged request id cannot inject into logs; a good one is echoed.
	r = e.do(req{Method: "GET", Path: "/join/x", Header: map[string]string{httpapi.RequestIDHeader: "abc def\tinjected=1"}})
	if got := r.Header.Get(httpapi.RequestIDHeader); got == "" || strings.ContainsAny(got, " \t") {
		t.Errorf("malformed request id echoed: %q", got)
	}
	r = e.do(req{Method: "GET", Path: "/join/x", Header: map[string]string{httpapi.RequestIDHeader: "req-123.abc"}})
	if got := r.Header.Get(httpapi.RequestIDHeader); got != "req-123.abc" {
		t.Errorf("request id %q not echoed", got)
	}

	// Tokens of every shape: never a 500.
	for _, tok := range []string{strings.Repeat("A", 5000), "%00", "..%2F..%2Fetc", "AQ", "AQAAAAA"} {
		for _, p := range []string{"/invitations/", "/join/", "/verify/"} {
			method := "GET"
			if p == "/verify/" {
				method = "POST"
			}
			if r := e.do(req{Method: method, Path: p + tok}); r.Status >= 500 || r.Status < 400 {
				t.Errorf("%s %s<%d chars>: %d", method, p, len(tok), r.Status)
			}
		}
	}
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withLimits(ratelimit.Config{
		Client:            ratelimit.Rate{Events: 4, Per: time.Minute},
		Subject:           ratelimit.Rate{Events: 2, Per: time.Minute},
		InvitationsPerDay: 3,
	}))
	signIn := func(email string) reply {
		return e.do(req{Method: "POST", Path: "/session", Body: map[string]string{"email": email, "password": "wrong password!"}})
	}
	// Per address: the third attempt for one email is refused.
	e.want(signIn(e.addr("owner")), 401, "invalid_credentials")
	e.want(signIn(e.addr("owner")), 401, "invalid_credentials")
	r := e.want(signIn(" "+strings.ToUpper(e.addr("owner"))), 429, httpapi.CodeRateLimited)
	if ra := r.Header.Get("Retry-After"); ra != "30" {
		t.Errorf("Retry-After = %q, want 30 (one token of 2/min)", ra)
	}
	// Per client: the fourth request from this address, whatever the email.
	e.want(signIn(e.addr("other")), 401, "invalid_credentials")
	e.want(signIn(e.addr("third")), 429, httpapi.CodeRateLimited)
	// X-Forwarded-For from an untrusted peer changes nothing.
	e.want(e.do(req{Method: "POST", Path: "/session", Header: map[string]string{"X-Forwarded-For": "203.0.113.7"},
		Body: map[string]string{"email": e.addr("fourth"), "password": "wrong password!"}}), 429, httpapi.CodeRateLimited)
	// Other groups have their own budget; time refills it.
	e.want(e.do(req{Method: "GET", Path: "/join/nope"}), 404, "link_not_found")
	e.clock.Advance(time.Minute)
	owner := e.ownerToken()

	// Invitations per organization per day: every valid address needs
	// budget up front; invalid and duplicate addresses do not count, and
	// those not invited (already invited, refused requests) are given back.
	res := e.invite(owner, []string{e.addr("a"), "invalid", e.addr("b"), e.addr("a")}, "")
	if len(res) != 3 {
		t.Fatalf("results %v", res)
	}
	e.want(e.do(req{Method: "POST", Path: "/orgs/" + e.org + "/invitations", Token: owner, Body: map[string]any{"emails": []string{e.addr("c"), e.addr("d")}}}), 429, httpapi.CodeRateLimited)
	if again := e.invite(owner, e.addr("a"), ""); again[0]["status"] != "already_invited" {
		t.Fatalf("re-invite: %v", again)
	}
	e.invite(owner, e.addr("c"), "") // the third and last of the day
	r = e.want(e.do(req{Method: "POST", Path: "/orgs/" + e.org + "/invitations/" + res[0]["invitationId"].(string) + "/resend", Token: owner}), 429, httpapi.CodeRateLimited)
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
}

func TestEventStoreDownIs503(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, err := esdbserver.Start(context.Background(), esdbserver.Config{DataDir: dir, ListenAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	must(t, err)
	conn, store, err := dialStore(context.Background(), srv.ConnectionString()+"&maxDiscoverAttempts=1")
	must(t, err)
	defer conn.Close()
	e := newEnv(t, withStore(store))
	owner := e.ownerToken()
	must(t, srv.Close())

	start := time.Now()
	r := e.want(e.do(req{Method: "POST", Path: "/orgs/" + e.org + "/invitations", Token: owner, Body: map[string]any{"emails": e.addr("x")}}), 503, httpapi.CodeUnavailable)
	if r.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	e.want(e.do(req{Method: "POST", Path: "/session", Body: map[string]string{"email": e.addr("owner"), "password": ownerPassword}}), 503, httpapi.CodeUnavailable)
	t.Logf("503s after %v", time.Since(start).Round(time.Millisecond))
	_ = os.RemoveAll(dir)
}

// The access log names routes, never concrete paths, tokens or passwords.
func TestAccessLogKeepsSecretsOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner := e.ownerToken()
	id := e.invite(owner, e.addr("logged"), "")[0]["invitationId"].(string)
	token := e.invitationToken(id)
	e.do(req{Method: "GET", Path: "/invitations/" + token + "?secret=query-value"})
	e.wantWrite(e.do(req{Method: "POST", Path: "/invitations/" + token + "/accept", Header: map[string]string{httpapi.RequestIDHeader: "trace-42"},
		Body: map[string]string{"name": "Logged", "password": goodPassword}}), 201)

	logs := e.logs.String()
	for _, secret := range []string{token, owner, goodPassword, ownerPassword, "query-value"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains a secret %.12s…:\n%s", secret, logs)
		}
	}
	for _, want := range []string{`"route":"/api/v1/invitations/:token/accept"`, `"request_id":"trace-42"`, `"status":201`, `"route":"/api/v1/session"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %s:\n%s", want, logs)
		}
	}
}
