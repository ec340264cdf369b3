package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// Each way an invitation link dies has a page that says so and what to do
// next, with the status the API gives: 404 for a link that never worked,
// 410 for one that did. Accepting through a dead link changes nothing.
func TestInvitationLinkPages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := e.browser()

	revoked := e.invite(e.addr("rev"), "")
	revokedToken := e.invitationToken(revoked)
	_, err := e.h.RevokeInvitation(ctx, e.asOwner(), e.org, revoked)
	must(t, err)

	resent := e.invite(e.addr("old"), "")
	oldToken := e.invitationToken(resent)
	_, err = e.h.ResendInvitation(ctx, e.asOwner(), e.org, resent)
	must(t, err)

	accepted := e.invite(e.addr("acc"), "")
	acceptedToken := e.invitationToken(accepted)
	_, err = e.h.AcceptInvitation(ctx, commands.Request{}, commands.AcceptInput{Token: acceptedToken, Name: "Acc", Password: goodPassword})
	must(t, err)

	expiring := e.invite(e.addr("exp"), "")
	expiringToken := e.invitationToken(expiring)

	for _, tc := range []struct {
		name, token string
		status      int
		says        []string
	}{
		{"garbage", "not-a-token", http.StatusNotFound, []string{"This invitation link is not valid", "copied the whole link"}},
		{"revoked", revokedToken, http.StatusGone, []string{"This invitation was withdrawn", "ask the person who invited you for a new invitation"}},
		{"superseded", oldToken, http.StatusGone, []string{"no longer valid", "most recent invitation email"}},
		{"accepted", acceptedToken, http.StatusGone, []string{"already been accepted", "Sign in"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.get("/invite/"+tc.token).want(t, tc.status, tc.says...)
		})
	}

	// The pending one shows its form, with the invited address.
	b.get("/invite/"+expiringToken).want(t, http.StatusOK, "Join "+e.orgName, e.addr("exp"), "Your name", "Choose a password")
	// Then it expires: the page says so and when; accepting is refused.
	form := b.get("/invite/" + expiringToken)
	e.clock.Advance(domain.DefaultInvitationTTL)
	b.get("/invite/"+expiringToken).want(t, http.StatusGone, "This invitation has expired", "send it again")
	b.post("/invite/"+expiringToken, url.Values{"csrf_token": {form.formToken(t, "/invite/"+expiringToken)},
		"name": {"Late"}, "password": {goodPassword}}).want(t, http.StatusGone, "This invitation has expired")
	if _, ok := e.orgState().MemberByEmail(domain.MustParseEmail(e.addr("exp"))); ok {
		t.Fatal("an expired invitation made a member")
	}
}

func TestJoinLinkPages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := e.browser()
	b.get("/join/nope").want(t, http.StatusNotFound, "This registration link is not valid")

	old := e.linkToken()
	_, err := e.h.ConfigureSelfServiceLink(ctx, e.asOwner(), e.org, commands.ConfigureLinkInput{
		Enabled: true, AllowedDomains: []string{e.domain}, DefaultRole: "member"})
	must(t, err)
	b.get("/join/"+old).want(t, http.StatusOK, "Join "+e.orgName, "Addresses at "+e.domain+" can register here")

	_, err = e.h.RotateSelfServiceLink(ctx, e.asOwner(), e.org)
	must(t, err)
	b.get("/join/"+old).want(t, http.StatusGone, "This registration link is no longer valid", "current link")

	current := e.linkToken()
	_, err = e.h.ConfigureSelfServiceLink(ctx, e.asOwner(), e.org, commands.ConfigureLinkInput{Enabled: false, DefaultRole: "member"})
	must(t, err)
	b.get("/join/"+current).want(t, http.StatusGone, "switched off")
}

// The registration form checks every field at once and puts each problem
// next to its field (aria-describedby, aria-invalid), keeping what was
// typed except the password.
func TestJoinFormValidation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.h.ConfigureSelfServiceLink(ctx, e.asOwner(), e.org, commands.ConfigureLinkInput{
		Enabled: true, AllowedDomains: []string{e.domain}, DefaultRole: "member"})
	must(t, err)
	token := e.linkToken()
	b := e.browser()
	p := b.submit("/join/"+token, "/join/"+token, url.Values{"name": {"  "}, "email": {"not-an-address"}, "password": {"too short"}})
	p.want(t, http.StatusBadRequest, "There is a problem", "The name is empty", "at least 12 characters")
	for _, f := range []string{"name", "email", "password"} {
		wantFieldError(t, p, f)
	}
	if strings.Contains(p.Body, "too short") {
		t.Error("the password was sent back to the browser")
	}
	if !strings.Contains(p.Body, `value="not-an-address"`) {
		t.Error("the address typed was not kept")
	}

	// An address outside the allowed domains: refused next to the email
	// field, with the domains to use.
	p = b.submit("/join/"+token, "/join/"+token, url.Values{"name": {"Eve"}, "email": {"eve@elsewhere.test"}, "password": {goodPassword}})
	p.want(t, http.StatusBadRequest, "use an address at "+e.domain)
	wantFieldError(t, p, "email")
	if !strings.Contains(p.Body, `data-allowed-domains="`+e.domain+`"`) {
		t.Error("the email field does not carry the allowed domains for inline checks")
	}
}

// wantFieldError checks that a field's input is marked invalid and
// described by its own error element, which holds a message.
func wantFieldError(t *testing.T, p page, name string) {
	t.Helper()
	id := "f-" + name
	input := regexpFind(p.Body, `<(?:input|textarea|select)[^>]*id="`+id+`"[^>]*>`)
	if input == "" || !strings.Contains(input, `aria-invalid="true"`) || !strings.Contains(input, id+"-error") {
		t.Errorf("field %s is not marked invalid and described by its error: %s", name, input)
	}
	errEl := regexpFind(p.Body, `<p class="field-error" id="`+id+`-error"[^>]*>[^<]+</p>`)
	if errEl == "" || strings.Contains(errEl, "hidden") {
		t.Errorf("field %s has no visible error next to it:\n%s", name, p.Body)
	}
	if !strings.Contains(p.Body, `href="#`+id+`"`) {
		t.Errorf("the error summary does not link to field %s", name)
	}
}

// Registration then verification through the pages, no script needed:
// "check your email", the landing page asks for one click (a mail scanner
// opening the link changes nothing), and the member exists.
func TestRegisterAndVerify(t *testing.T) {
	e := newEnv(t)
	token := e.linkToken()
	b := e.browser()
	b.submit("/join/"+token, "/join/"+token, url.Values{"name": {"Vera Verified"}, "email": {e.addr("vera")}, "password": {goodPassword}}).
		want(t, http.StatusOK, "Check your email", e.addr("vera"))

	vtoken := e.verificationToken(e.registrationOf(e.addr("vera")))
	landing := b.get("/verify/"+vtoken).want(t, http.StatusOK, "Confirm your email address", e.addr("vera"), e.orgName)
	if _, ok := e.orgState().MemberByEmail(domain.MustParseEmail(e.addr("vera"))); ok {
		t.Fatal("opening the verification link made a member")
	}
	done := b.post("/verify/"+vtoken, url.Values{"csrf_token": {landing.formToken(t, "/verify/"+vtoken)}})
	if loc := done.location(t); loc != "/sign-in?notice=verified" {
		t.Fatalf("after verifying: %q", loc)
	}
	m, ok := e.orgState().MemberByEmail(domain.MustParseEmail(e.addr("vera")))
	if !ok || m.Via != domain.JoinedViaSelfServiceLink {
		t.Fatalf("member after verification: %+v %v", m, ok)
	}
	b.get("/sign-in?notice=verified").want(t, http.StatusOK, "Your email address is confirmed")
	b.signIn(e.addr("vera"), goodPassword)

	// The link again: used.
	b.get("/verify/"+vtoken).want(t, http.StatusGone, "already confirmed", "Sign in")
	e.browser().get("/verify/garbage").want(t, http.StatusNotFound, "This verification link is not valid")
}

// Accepting an invitation through its page signs the person in.
func TestAcceptInvitationSignsIn(t *testing.T) {
	e := newEnv(t)
	token := e.invitationToken(e.invite(e.addr("ann"), "admin"))
	b := e.browser()
	p := b.submit("/invite/"+token, "/invite/"+token, url.Values{"name": {""}, "password": {"ann@" + e.domain + "-x"}})
	p.want(t, http.StatusBadRequest, "The name is empty", "must not contain your email address")
	wantFieldError(t, p, "name")
	wantFieldError(t, p, "password")

	p = b.submit("/invite/"+token, "/invite/"+token, url.Values{"name": {"Ann Admin"}, "password": {goodPassword}})
	loc := p.location(t)
	if !strings.HasPrefix(loc, "/?notice=welcome&consistency=") {
		t.Fatalf("after accepting: %q", loc)
	}
	if p.cookie("__Host-portal_page_session") == nil {
		t.Fatal("no session after accepting")
	}
	// Admins land on the Users page, with the consistency token.
	if home := b.get(loc).location(t); !strings.HasPrefix(home, "/users?") || !strings.Contains(home, "consistency=") {
		t.Fatalf("home sent an admin to %q", home)
	}
	b.get("/settings/self-service").want(t, http.StatusOK, "Self Service")
}

// Password links: a manually added member sets a first password, a reset
// works once; dead links say why.
func TestPasswordLinks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	added, err := e.h.AddMemberManually(ctx, e.asOwner(), commands.AddMemberInput{OrgID: e.org, Email: e.addr("mo"), Name: "Mo"})
	must(t, err)
	setup := e.passwordToken(e.signers.PasswordSetup, added.UserID)
	b := e.browser()
	b.get("/set-password/"+setup).want(t, http.StatusOK, "Set your password", e.addr("mo"))
	b.get("/reset-password/"+setup).want(t, http.StatusNotFound, "This link is not valid")
	b.submit("/set-password/"+setup, "/set-password/"+setup, url.Values{"password": {"tiny"}}).want(t, http.StatusBadRequest, "at least 12")
	loc := b.submit("/set-password/"+setup, "/set-password/"+setup, url.Values{"password": {goodPassword}}).location(t)
	if !strings.HasPrefix(loc, "/?notice=password_set") {
		t.Fatalf("after setting the password: %q", loc)
	}
	b.get("/account").want(t, http.StatusOK, e.addr("mo"), "Member")
	e.browser().get("/set-password/"+setup).want(t, http.StatusGone, "already been used", "Request a new link")

	// Forgotten password: the same answer for any address.
	anon := e.browser()
	anon.submit("/forgot-password", "/forgot-password", url.Values{"email": {e.addr("nobody")}}).want(t, http.StatusOK, "Check your email")
	anon.submit("/forgot-password", "/forgot-password", url.Values{"email": {"nonsense"}}).want(t, http.StatusBadRequest, "There is a problem")
	anon.submit("/forgot-password", "/forgot-password", url.Values{"email": {e.addr("mo")}}).want(t, http.StatusOK, "Check your email")
	reset := e.passwordToken(e.signers.PasswordReset, added.UserID)
	anon.get("/reset-password/"+reset).want(t, http.StatusOK, "Choose a new password", e.addr("mo"))
	anon.submit("/reset-password/"+reset, "/reset-password/"+reset, url.Values{"password": {"another fine passphrase"}}).location(t)
	e.browser().signIn(e.addr("mo"), "another fine passphrase")
	e.browser().get("/reset-password/x").want(t, http.StatusNotFound, "This link is not valid")
}
