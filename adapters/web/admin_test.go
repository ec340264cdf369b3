package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/orgportal/onboarding/domain"
)

func TestSignInOutAndRedirects(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	// A page that needs a session sends to sign-in and comes back after.
	loc := b.get("/settings/self-service?x=1").location(t)
	if loc != "/sign-in?next=%2Fsettings%2Fself-service%3Fx%3D1" {
		t.Fatalf("redirect to sign-in: %q", loc)
	}
	form := b.get(loc).want(t, http.StatusOK, "Sign in")
	p := b.post("/sign-in", url.Values{"csrf_token": {form.formToken(t, "/sign-in")}, "next": {"/settings/self-service?x=1"},
		"email": {e.addr("owner")}, "password": {ownerPassword}})
	if got := p.location(t); got != "/settings/self-service?x=1" {
		t.Fatalf("after sign-in: %q", got)
	}
	// next never leaves the site.
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"} {
		other := e.browser()
		p := other.submit("/sign-in", "/sign-in", url.Values{"next": {next}, "email": {e.addr("owner")}, "password": {ownerPassword}})
		if got := p.location(t); got != "/" {
			t.Errorf("next %q redirected to %q", next, got)
		}
	}

	// Wrong credentials: the same message for an unknown address, next to
	// nothing but the form, the address kept.
	wrong := e.browser().submit("/sign-in", "/sign-in", url.Values{"email": {e.addr("owner")}, "password": {"wrong wrong wrong"}})
	wrong.want(t, http.StatusUnauthorized, "The email address or password is not correct")
	unknown := e.browser().submit("/sign-in", "/sign-in", url.Values{"email": {e.addr("nobody")}, "password": {"wrong wrong wrong"}})
	unknown.want(t, http.StatusUnauthorized, "The email address or password is not correct")
	if !strings.Contains(wrong.Body, `value="`+e.addr("owner")+`"`) {
		t.Error("the address was not kept")
	}

	// Sign out ends the session: the old cookie no longer opens anything.
	b.get("/").location(t)
	out := b.submit("/account", "/sign-out", nil)
	if got := out.location(t); got != "/sign-in?notice=signed_out" {
		t.Fatalf("after sign-out: %q", got)
	}
	if c := out.cookie("__Host-portal_page_session"); c == nil || c.MaxAge >= 0 {
		t.Errorf("sign-out did not clear the cookie: %v", c)
	}
	if got := b.get("/users").location(t); !strings.HasPrefix(got, "/sign-in") {
		t.Fatalf("after sign-out /users sent to %q", got)
	}
}

// Members have an account page; the administration pages answer 403 and
// their forms change nothing.
func TestMembersCannotAdminister(t *testing.T) {
	e := newEnv(t)
	e.member("mia", "member")
	b := e.browser()
	b.signIn(e.addr("mia"), goodPassword)
	if got := b.get("/").location(t); got != "/account" {
		t.Fatalf("a member's home: %q", got)
	}
	acc := b.get("/account").want(t, http.StatusOK, e.addr("mia"), "Only the organization's owners and admins")
	if strings.Contains(acc.Body, `href="/users"`) {
		t.Error("a member's navigation links to the Users page")
	}
	for _, path := range []string{"/users", "/users/invite", "/settings/self-service", "/audit"} {
		b.get(path).want(t, http.StatusForbidden, "Only admins can do this")
	}
	token := acc.formToken(t, "/sign-out")
	b.post("/users/invite", url.Values{"csrf_token": {token}, "emails": {e.addr("x")}}).want(t, http.StatusForbidden)
}

// The invite form: the outcome per address, then back to the Users page
// with the consistency token; bad input stays in the form with the
// problem next to the field.
func TestInviteForm(t *testing.T) {
	e := newEnv(t)
	e.member("mem", "member")
	b := e.ownerBrowser()
	b.get("/users/invite").want(t, http.StatusOK, "Email addresses", "Role", "Send")

	p := b.submit("/users/invite", "/users/invite", url.Values{
		"emails": {e.addr("ann") + ", " + e.addr("bob") + "\n" + e.addr("mem") + " not-an-address"}, "role": {"admin"}})
	p.want(t, http.StatusOK, "Outcome per address", e.addr("ann"), "Invited", "Already a member", "Not a valid address")
	done := regexpFind(p.Body, `href="/users\?consistency=\d+"`)
	if done == "" {
		t.Fatalf("no way back to the Users page with a consistency token:\n%s", p.text())
	}
	for _, local := range []string{"ann", "bob"} {
		found := false
		for _, ev := range e.events(domain.MembershipStream(e.org, domain.MustParseEmail(e.addr(local)))) {
			found = found || ev.EventType() == domain.TypeMembershipInvitationHeld
		}
		if !found {
			t.Errorf("%s was not invited", local)
		}
	}
	// Again: already invited.
	b.submit("/users/invite", "/users/invite", url.Values{"emails": {e.addr("ann")}}).want(t, http.StatusOK, "Already invited")

	// A list pasted from a mail program: the display name is the invitee's
	// name until they choose their own, offered on the acceptance page.
	pasted := b.submit("/users/invite", "/users/invite", url.Values{"emails": {`Eve Example <` + e.addr("eve") + `>`}, "role": {"member"}})
	pasted.want(t, http.StatusOK, "Outcome per address", e.addr("eve"), "(Eve Example)", "Invited")
	dora := e.invite(`"Maar, Dora" <`+e.addr("dora")+`>`, "")
	accept := e.browser().get("/invite/"+e.invitationToken(dora)).want(t, http.StatusOK, e.addr("dora"))
	if !strings.Contains(accept.Body, `value="Maar, Dora"`) {
		t.Errorf("the acceptance page does not offer the inviter's name for the invitee:\n%s", accept.text())
	}

	empty := b.submit("/users/invite", "/users/invite", url.Values{"emails": {"  "}, "role": {"member"}})
	empty.want(t, http.StatusBadRequest, "There is a problem", "No email address given")
	wantFieldError(t, empty, "emails")
	badRole := b.submit("/users/invite", "/users/invite", url.Values{"emails": {e.addr("cy")}, "role": {"owner"}})
	badRole.want(t, http.StatusBadRequest, "Role must be admin or member")
	wantFieldError(t, badRole, "role")
}

func TestResendAndRevoke(t *testing.T) {
	e := newEnv(t)
	inv := e.invite(e.addr("ann"), "")
	oldToken := e.invitationToken(inv)
	b := e.ownerBrowser()
	e.reader.set(func(s *stubReader) { s.invitations = append(s.invitations, invitationRow(e, inv, e.addr("ann"))) })
	users := b.get("/users").want(t, http.StatusOK, "Open invitations", e.addr("ann"), "Resend", "Revoke")

	loc := b.post("/invitations/"+string(inv)+"/resend", url.Values{"csrf_token": {users.formToken(t, "/invitations/"+string(inv)+"/resend")}}).location(t)
	if !strings.HasPrefix(loc, "/users?notice=resent&consistency=") {
		t.Fatalf("after resend: %q", loc)
	}
	e.browser().get("/invite/"+oldToken).want(t, http.StatusGone, "no longer valid")
	newToken := e.invitationToken(inv)
	e.browser().get("/invite/"+newToken).want(t, http.StatusOK)

	loc = b.post("/invitations/"+string(inv)+"/revoke", url.Values{"csrf_token": {users.formToken(t, "/invitations/"+string(inv)+"/revoke")}}).location(t)
	if !strings.HasPrefix(loc, "/users?notice=revoked&consistency=") {
		t.Fatalf("after revoke: %q", loc)
	}
	e.browser().get("/invite/"+newToken).want(t, http.StatusGone, "withdrawn")

	// Another organization's invitation, or none: 404, nothing happens.
	b.post("/invitations/inv-nope/resend", url.Values{"csrf_token": {users.formToken(t, "/invitations/"+string(inv)+"/resend")}}).
		want(t, http.StatusNotFound)
}

// Role change and removal each have a confirmation page; the rules of the
// organization (the last owner stays) are explained on it.
func TestRoleChangeAndRemoval(t *testing.T) {
	e := newEnv(t)
	ann := e.member("ann", "member")
	b := e.ownerBrowser()
	confirm := b.get("/users/"+string(ann)+"/role").want(t, http.StatusOK, "Change the role of ann", e.addr("ann"), "Current role", "Owner")
	if m, _ := e.orgState().Member(ann); m.Role != domain.RoleMember {
		t.Fatal("opening the confirmation changed the role")
	}
	loc := b.post("/users/"+string(ann)+"/role", url.Values{"csrf_token": {confirm.formToken(t, "/users/"+string(ann)+"/role")}, "role": {"admin"}}).location(t)
	if !strings.HasPrefix(loc, "/users?notice=role_changed&consistency=") {
		t.Fatalf("after the role change: %q", loc)
	}
	if m, _ := e.orgState().Member(ann); m.Role != domain.RoleAdmin {
		t.Fatalf("role after the change: %s", m.Role)
	}

	// The last owner cannot be demoted: said on the confirmation page.
	own := b.get("/users/" + string(e.owner) + "/role")
	p := b.post("/users/"+string(e.owner)+"/role", url.Values{"csrf_token": {own.formToken(t, "/users/"+string(e.owner)+"/role")}, "role": {"member"}})
	p.want(t, http.StatusConflict, "There is a problem", "last owner")

	// An admin is offered no ownership.
	annB := e.browser()
	annB.signIn(e.addr("ann"), goodPassword)
	if pg := annB.get("/users/" + string(e.owner) + "/role"); strings.Contains(pg.Body, `value="owner"`) {
		t.Error("an admin is offered the owner role")
	}

	removal := b.get("/users/"+string(ann)+"/remove").want(t, http.StatusOK, "Remove ann?", "loses access at once")
	loc = b.post("/users/"+string(ann)+"/remove", url.Values{"csrf_token": {removal.formToken(t, "/users/"+string(ann)+"/remove")}}).location(t)
	if !strings.HasPrefix(loc, "/users?notice=removed&consistency=") {
		t.Fatalf("after removal: %q", loc)
	}
	if _, ok := e.orgState().Member(ann); ok {
		t.Fatal("still a member")
	}
	// Ann's session ended with the removal.
	if got := annB.get("/account").location(t); !strings.Contains(got, "session_ended") {
		t.Errorf("a removed member's page sent to %q", got)
	}
	b.get("/users/"+string(ann)+"/remove").want(t, http.StatusNotFound, "No such member")
	b.get("/users/x%21y/role").want(t, http.StatusBadRequest)
}

func TestSelfServiceSettings(t *testing.T) {
	e := newEnv(t)
	b := e.ownerBrowser()
	page := b.get("/settings/self-service").want(t, http.StatusOK, "Identity Configuration", "Provisioning", "Self Service",
		"Registration URL", "Rotate link", "Allowed domains", "Default role", "Expires at", "Maximum uses")
	url0 := publicURL + "/join/" + e.linkToken()
	if !strings.Contains(page.Body, `value="`+url0+`"`) {
		t.Fatalf("the page does not show the URL %s", url0)
	}
	if !strings.Contains(page.Body, `data-copy-target="link-url"`) {
		t.Error("no Copy button for the URL field")
	}

	bad := b.submit("/settings/self-service", "/settings/self-service", url.Values{"enabled": {"on"},
		"allowedDomains": {"ok.example\nnot a domain"}, "defaultRole": {"owner"}, "expiresAt": {"yesterday"}, "maxUses": {"-3"}})
	bad.want(t, http.StatusBadRequest, "There is a problem")
	for _, f := range []string{"expiresAt", "maxUses"} {
		wantFieldError(t, bad, f)
	}
	bad = b.submit("/settings/self-service", "/settings/self-service", url.Values{"enabled": {"on"},
		"allowedDomains": {"ok.example\nnot a domain"}, "defaultRole": {"owner"}, "expiresAt": {"2001-01-01T00:00"}})
	bad.want(t, http.StatusBadRequest, "must be in the future")
	for _, f := range []string{"allowedDomains", "defaultRole", "expiresAt"} {
		wantFieldError(t, bad, f)
	}

	loc := b.submit("/settings/self-service", "/settings/self-service", url.Values{"enabled": {"on"},
		"allowedDomains": {e.domain + ", *.sub." + e.domain}, "defaultRole": {"admin"}, "expiresAt": {"2099-06-01T12:30"}, "maxUses": {"7"}}).location(t)
	if loc != "/settings/self-service?notice=link_saved" {
		t.Fatalf("after saving: %q", loc)
	}
	link := e.orgState().Link
	if got := link.AllowedDomains.Strings(); len(got) != 2 || link.DefaultRole != domain.RoleAdmin || link.MaxUses != 7 ||
		link.ExpiresAt == nil || link.ExpiresAt.Format("2006-01-02T15:04") != "2099-06-01T12:30" {
		t.Fatalf("link after saving: %+v", link)
	}
	saved := b.get("/settings/self-service?notice=link_saved").want(t, http.StatusOK, "settings are saved")
	if !strings.Contains(saved.Body, `value="2099-06-01T12:30"`) || !strings.Contains(saved.Body, `value="7"`) {
		t.Error("the saved settings are not shown")
	}
	// Disabling: an unchecked box is sent as nothing.
	b.submit("/settings/self-service", "/settings/self-service", url.Values{"defaultRole": {"admin"}}).location(t)
	if e.orgState().Link.Enabled {
		t.Fatal("the link is still enabled")
	}

	// Rotate: a confirmation with the warning, then a new URL; the old one
	// shows the "no longer valid" page.
	old := e.linkToken()
	confirm := b.get("/settings/self-service/rotate").want(t, http.StatusOK, "The current URL stops working at once")
	loc = b.post("/settings/self-service/rotate", url.Values{"csrf_token": {confirm.formToken(t, "/settings/self-service/rotate")}}).location(t)
	if loc != "/settings/self-service?notice=link_rotated" {
		t.Fatalf("after rotating: %q", loc)
	}
	if e.linkToken() == old {
		t.Fatal("the token did not change")
	}
	e.browser().get("/join/"+old).want(t, http.StatusGone, "no longer valid")
}

// Unknown pages and methods: an HTML page for browsers; other clients and
// everything under /api/ get the fallback (the API's problem documents).
func TestUnknownRoutes(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.get("/nope").want(t, http.StatusNotFound, "Page not found")
	b.do("DELETE", "/sign-in", nil, nil).want(t, http.StatusMethodNotAllowed)
	api := b.get("/api/v1/nope")
	if api.Status != http.StatusNotFound || strings.Contains(api.Body, "<html") {
		t.Errorf("an /api/ path got a page: %d %s", api.Status, api.Body)
	}
}
