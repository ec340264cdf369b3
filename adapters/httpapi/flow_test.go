package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/orgportal/onboarding/adapters/httpapi"
)

// The whole life of an organization over HTTP, in the order an admin and
// the people they onboard go through it.
func TestOnboardingFlowsOverHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	// Sign in: token in the body, HttpOnly SameSite=Lax Secure cookie.
	r := e.wantWrite(e.do(req{Method: "POST", Path: "/session", Body: map[string]string{"email": strings.ToUpper(e.addr("owner")), "password": ownerPassword}}), 200)
	owner := r.str("token")
	if owner == "" || r.str("userId") != e.owner || r.str("orgId") != e.org {
		t.Fatalf("sign-in answer: %s", r.Raw)
	}
	cookie := r.Header.Get("Set-Cookie")
	for _, want := range []string{httpapi.SessionCookie + "=" + owner, "HttpOnly", "SameSite=Lax", "Secure", "Path=/api/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("Set-Cookie %q lacks %q", cookie, want)
		}
	}
	// The cookie alone authenticates too.
	e.want(e.do(req{Method: "GET", Path: "/orgs/" + e.org + "/self-service-link",
		Header: map[string]string{"Cookie": httpapi.SessionCookie + "=" + owner}}), 200, "")

	// Invite a list with valid, invalid, duplicate and member addresses.
	ann, bob := e.addr("ann"), e.addr("bob")
	r = e.wantWrite(e.do(req{Method: "POST", Path: "/orgs/" + e.org + "/invitations", Token: owner, Body: map[string]any{
		"emails": " " + ann + ", not-an-address;\n" + strings.ToUpper(ann) + " Bob Builder <" + bob + ">\t" + e.addr("owner"),
		"role":   "admin",
	}}), 200)
	results := r.Body["results"].([]any)
	statuses := []string{}
	ids := map[string]string{}
	for _, x := range results {
		m := x.(map[string]any)
		statuses = append(statuses, m["status"].(string))
		if id, ok := m["invitationId"].(string); ok {
			ids[m["email"].(string)] = id
		}
		if name, _ := m["name"].(string); (m["email"] == bob) != (name == "Bob Builder") {
			t.Errorf("result %v: the name pasted before bob's address, and no other", m)
		}
		if m["status"] == "invalid" && (m["reason"] == "" || m["email"] != "not-an-address") {
			t.Errorf("invalid result: %v", m)
		}
	}
	if got := strings.Join(statuses, ","); got != "invited,invalid,invited,already_member" {
		t.Fatalf("statuses %s: %s", got, r.Raw)
	}
	// Inviting again: already invited, nothing written (position 0).
	again := e.do(req{Method: "POST", Path: "/orgs/" + e.org + "/invitations", Token: owner, Body: map[string]any{"emails": []string{ann}}})
	if e.want(again, 200, ""); again.Body["results"].([]any)[0].(map[string]any)["status"] != "already_invited" || again.Body["position"] != float64(0) {
		t.Errorf("re-invite: %s", again.Raw)
	}

	// Resend kills the old token (superseded); the new one describes as pending.
	oldBob := e.invitationToken(ids[bob])
	e.wantWrite(e.do(req{Method: "POST", Path: "/orgs/" + e.org + "/invitations/" + ids[bob] + "/resend", Token: owner}), 200)
	e.want(e.do(req{Method: "POST", Path: "/invitations/" + oldBob + "/accept", Body: map[string]string{"name": "Bob", "password": goodPassword}}), 410, "invitation_superseded")
	bobToken := e.invitationToken(ids[bob])
	r = e.want(e.do(req{Method: "GET", Path: "/invitations/" + bobToken}), 200, "")
	if r.str("state") != "pending" || r.str("email") != bob || r.str("organizationName") != e.orgName || r.str("role") != "admin" ||
		r.str("name") != "Bob Builder" {
		t.Errorf("describe: %s", r.Raw)
	}

	// Accept: 201, then the token is used up; the new member can sign in.
	r = e.wantWrite(e.do(req{Method: "POST", Path: "/invitations/" + bobToken + "/accept", Body: map[string]string{"name": "Bob", "password": goodPassword}}), 201)
	bobID := r.str("userId")
	e.want(e.do(req{Method: "POST", Path: "/invitations/" + bobToken + "/accept", Body: map[string]string{"name": "Bob", "password": goodPassword}}), 410, "invitation_already_accepted")
	bobSession := e.signIn(bob, goodPassword)

	// Revoke ann's invitation: her link is gone.
	annToken := e.invitationToken(ids[ann])
	e.wantWrite(e.do(req{Method: "DELETE", Path: "/orgs/" + e.org + "/invitations/" + ids[ann], Token: owner}), 200)
	if r := e.do(req{Method: "GET", Path: "/invitations/" + annToken}); r.str("state") != "revoked" || r.str("code") != "invitation_revoked" {
		t.Errorf("describe revoked: %s", r.Raw)
	}
	e.want(e.do(req{Method: "POST", Path: "/invitations/" + annToken + "/accept", Body: map[string]string{"name": "Ann", "password": goodPassword}}), 410, "invitation_revoked")

	// Self-service link: get, put, rotate.
	r = e.want(e.do(req{Method: "GET", Path: "/orgs/" + e.org + "/self-service-link", Token: owner}), 200, "")
	if r.Body["enabled"] != true || !strings.HasPrefix(r.str("url"), publicURL+"/join/") {
		t.Fatalf("link: %s", r.Raw)
	}
	firstLink := strings.TrimPrefix(r.str("url"), publicURL+"/join/")
	r = e.wantWrite(e.do(req{Method: "PUT", Path: "/orgs/" + e.org + "/self-service-link", Token: owner, Body: map[string]any{
		"enabled": true, "allowedDomains": []string{e.domain}, "defaultRole": "member", "maxUses": 10,
	}}), 200)
	if doms := r.Body["allowedDomains"].([]any); len(doms) != 1 || doms[0] != e.domain || r.Body["maxUses"] != float64(10) {
		t.Errorf("put link: %s", r.Raw)
	}
	r = e.wantWrite(e.do(req{Method: "POST", Path: "/orgs/" + e.org + "/self-service-link/rotate", Token: owner}), 200)
	link := strings.TrimPrefix(r.str("url"), publicURL+"/join/")
	if link == firstLink {
		t.Fatal("rotation kept the URL")
	}
	e.want(e.do(req{Method: "GET", Path: "/join/" + firstLink}), 410, "link_rotated")

	// Register through the link, verify, sign in.
	r = e.want(e.do(req{Method: "GET", Path: "/join/" + link}), 200, "")
	if r.str("organizationName") != e.orgName || r.Body["allowedDomains"].([]any)[0] != e.domain {
		t.Errorf("describe link: %s", r.Raw)
	}
	e.want(e.do(req{Method: "POST", Path: "/join/" + link, Body: map[string]string{"email": "eve@evil-" + e.domain, "name": "Eve", "password": goodPassword}}), 403, "email_domain_not_allowed")
	carol := e.addr("carol")
	r = e.wantWrite(e.do(req{Method: "POST", Path: "/join/" + link, Body: map[string]string{"email": carol, "name": "Carol", "password": goodPassword}}), 202)
	// The answer for an existing member's address looks the same.
	same := e.wantWrite(e.do(req{Method: "POST", Path: "/join/" + link, Body: map[string]string{"email": bob, "name": "Bob", "password": goodPassword}}), 202)
	if same.str("status") != r.str("status") || len(same.Body) != len(r.Body) {
		t.Errorf("registration answers differ: %s vs %s", r.Raw, same.Raw)
	}
	verification := e.verificationToken(r.str("registrationId"))
	r = e.wantWrite(e.do(req{Method: "POST", Path: "/verify/" + verification}), 201)
	if r.str("orgId") != e.org {
		t.Errorf("verify: %s", r.Raw)
	}
	// The verification link is used up.
	e.want(e.do(req{Method: "POST", Path: "/verify/" + verification}), 410, "verification_already_used")
	e.signIn(carol, goodPassword)

	// Manual add, then the member sets a password through the mailed link.
	dave := e.addr("dave")
	r = e.wantWrite(e.do(req{Method: "POST", Path: "/orgs/" + e.org + "/users", Token: owner, Body: map[string]string{"email": dave, "name": "Dave", "role": "member"}}), 201)
	daveID := r.str("userId")
	e.wantWrite(e.do(req{Method: "POST", Path: "/set-password/" + e.passwordSetupToken(daveID), Body: map[string]string{"password": goodPassword}}), 200)
	daveSession := e.signIn(dave, goodPassword)

	// Password reset: the same answer for a known and an unknown address.
	known := e.want(e.do(req{Method: "POST", Path: "/password-reset", Body: map[string]string{"email": dave}}), 202, "")
	unknown := e.want(e.do(req{Method: "POST", Path: "/password-reset", Body: map[string]string{"email": e.addr("nobody")}}), 202, "")
	if string(known.Raw) != string(unknown.Raw) || known.Header.Get(httpapi.ConsistencyHeader) != "" {
		t.Errorf("password reset answers tell addresses apart: %s / %s", known.Raw, unknown.Raw)
	}
	e.wantWrite(e.do(req{Method: "POST", Path: "/password-reset/" + e.passwordResetToken(daveID), Body: map[string]string{"password": "another fine passphrase"}}), 200)
	e.signIn(dave, "another fine passphrase")

	// Roles: a member cannot administer; promoted, they can.
	e.want(e.do(req{Method: "GET", Path: "/orgs/" + e.org + "/self-service-link", Token: daveSession}), 403, "not_an_admin")
	e.wantWrite(e.do(req{Method: "PUT", Path: "/orgs/" + e.org + "/users/" + daveID + "/role", Token: owner, Body: map[string]string{"role": "admin"}}), 200)
	e.want(e.do(req{Method: "GET", Path: "/orgs/" + e.org + "/self-service-link", Token: daveSession}), 200, "")

	// Removal ends the member's sessions.
	e.wantWrite(e.do(req{Method: "DELETE", Path: "/orgs/" + e.org + "/users/" + bobID, Token: owner}), 200)
	e.want(e.do(req{Method: "GET", Path: "/orgs/" + e.org + "/self-service-link", Token: bobSession}), 401, "session_ended")

	// Sign out: the token and the cookie stop working.
	r = e.wantWrite(e.do(req{Method: "DELETE", Path: "/session", Token: owner}), 200)
	if c := r.Header.Get("Set-Cookie"); !strings.Contains(c, "Max-Age=0") {
		t.Errorf("sign-out does not clear the cookie: %q", c)
	}
	e.want(e.do(req{Method: "GET", Path: "/orgs/" + e.org + "/self-service-link", Token: owner}), 401, "session_ended")
	e.want(e.do(req{Method: "GET", Path: "/orgs/" + e.org + "/self-service-link",
		Header: map[string]string{"Cookie": httpapi.SessionCookie + "=" + owner}}), 401, "session_ended")
}

// Twenty people racing to accept one invitation make one member.
func TestConcurrentAcceptsOverHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner := e.ownerToken()
	id := e.invite(owner, e.addr("racer"), "")[0]["invitationId"].(string)
	token := e.invitationToken(id)
	codes := make(chan int, 20)
	for range 20 {
		go func() {
			r := e.do(req{Method: "POST", Path: "/invitations/" + token + "/accept", Body: map[string]string{"name": "Racer", "password": goodPassword}})
			codes <- r.Status
		}()
	}
	created := 0
	for range 20 {
		switch c := <-codes; c {
		case http.StatusCreated:
			created++
		case http.StatusGone, http.StatusConflict:
		default:
			t.Errorf("concurrent accept answered %d", c)
		}
	}
	if created != 1 {
		t.Errorf("%d accepts succeeded, want 1", created)
	}
}
