package commands_test

import (
	"testing"
	"time"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

func TestBootstrap_CreatesOnceAndGeneratesAPassword(t *testing.T) {
	e := newEnv(t)
	again, err := e.h.Bootstrap(e.ctx, commands.Request{}, commands.BootstrapInput{OrgID: e.org, OrgName: "Renamed", Email: e.addr("other"), Password: ownerPassword})
	if err != nil || again.Created || again.Position != 0 {
		t.Fatalf("second bootstrap: %+v %v", again, err)
	}
	org := e.orgState()
	if len(org.Members()) != 1 || org.Members()[0].Role != domain.RoleOwner || org.Name == "Renamed" {
		t.Fatalf("roster after restart: %+v", org.Members())
	}

	name := "Generated " + randomHex(4)
	email := "boss@g" + randomHex(4) + ".test"
	res, err := e.h.Bootstrap(e.ctx, commands.Request{}, commands.BootstrapInput{OrgName: name, Email: email})
	if err != nil || !res.Created || len(res.GeneratedPassword) < domain.MinPasswordLength || res.Position == 0 {
		t.Fatalf("bootstrap with generated password: %+v %v", res, err)
	}
	if res.OrgID != commands.BootstrapOrgID(name) {
		t.Fatalf("org id %q is not derived from the name", res.OrgID)
	}
	signed, err := e.signIn(email, res.GeneratedPassword)
	if err != nil || signed.UserID != res.OwnerID || signed.OrgID != res.OrgID {
		t.Fatalf("sign in with the generated password: %+v %v", signed, err)
	}
	_, err = e.h.Bootstrap(e.ctx, commands.Request{}, commands.BootstrapInput{OrgID: "org-" + domain.OrgID(randomHex(4)), OrgName: "X", Email: "x@y.test", Password: "short"})
	wantErr(t, err, domain.KindInvalid, domain.CodeWeakPassword)
}

func TestSignIn_SessionsAndNoEnumeration(t *testing.T) {
	e := newEnv(t)
	s, err := e.signIn(e.addr("OWNER"), ownerPassword) // addresses compare case-insensitively
	if err != nil || s.UserID != e.owner || s.OrgID != e.org || s.Token == "" || s.Position == 0 {
		t.Fatalf("sign in: %+v %v", s, err)
	}
	p, err := e.h.Authenticate(e.ctx, s.Token)
	if err != nil || p.UserID != e.owner || p.OrgID != e.org || p.SessionID != s.SessionID {
		t.Fatalf("authenticate: %+v %v", p, err)
	}

	_, wrongPassword := e.signIn(e.addr("owner"), "not the password at all")
	_, unknown := e.signIn(e.addr("nobody"), ownerPassword)
	_, malformed := e.signIn("not an address", ownerPassword)
	for _, err := range []error{wrongPassword, unknown, malformed} {
		wantErr(t, err, domain.KindUnauthenticated, domain.CodeInvalidCredentials)
		if err.Error() != wrongPassword.Error() {
			t.Fatalf("sign-in failures differ: %q vs %q", err, wrongPassword)
		}
	}

	_, err = e.h.Authenticate(e.ctx, "garbage")
	wantErr(t, err, domain.KindUnauthenticated, domain.CodeSessionInvalid)
	out, err := e.h.SignOut(e.ctx, commands.Request{}, s.Token)
	if err != nil || out.Position == 0 {
		t.Fatalf("sign out: %+v %v", out, err)
	}
	_, err = e.h.Authenticate(e.ctx, s.Token)
	wantErr(t, err, domain.KindUnauthenticated, domain.CodeSessionEnded)
	if again, err := e.h.SignOut(e.ctx, commands.Request{}, s.Token); err != nil || again.Position != 0 {
		t.Fatalf("second sign out: %+v %v", again, err)
	}

	s2, err := e.signIn(e.addr("owner"), ownerPassword)
	e.must(err)
	e.clock.Advance(domain.DefaultSessionTTL)
	_, err = e.h.Authenticate(e.ctx, s2.Token)
	wantErr(t, err, domain.KindUnauthenticated, domain.CodeSessionExpired)
}

func TestPasswordReset_SingleUseAndOneHour(t *testing.T) {
	e := newEnv(t)
	// The same (silent) answer for an unknown address.
	e.must(e.h.RequestPasswordReset(e.ctx, commands.Request{}, e.addr("nobody")))
	err := e.h.RequestPasswordReset(e.ctx, commands.Request{}, "no at sign")
	wantErr(t, err, domain.KindInvalid, domain.CodeInvalidEmail)

	e.must(e.h.RequestPasswordReset(e.ctx, commands.Request{}, e.addr("owner")))
	token := e.passwordToken(e.signers.PasswordReset, e.owner)
	if pending := e.account(e.owner).Pending; pending == nil || pending.ExpiresAt.Sub(e.clock.Now()) != time.Hour {
		t.Fatalf("reset token: %+v", pending)
	}
	_, err = e.h.CompletePasswordReset(e.ctx, commands.Request{}, token, "short")
	wantErr(t, err, domain.KindInvalid, domain.CodeWeakPassword)
	_, err = e.h.CompletePasswordSetup(e.ctx, commands.Request{}, token, goodPassword) // wrong purpose
	wantErr(t, err, domain.KindNotFound, domain.CodePasswordTokenInvalid)
	res, err := e.h.CompletePasswordReset(e.ctx, commands.Request{}, token, goodPassword)
	if err != nil || res.UserID != e.owner || res.Position == 0 {
		t.Fatalf("reset: %+v %v", res, err)
	}
	_, err = e.h.CompletePasswordReset(e.ctx, commands.Request{}, token, goodPassword+"!")
	wantErr(t, err, domain.KindGone, domain.CodePasswordTokenUsed)
	_, err = e.signIn(e.addr("owner"), ownerPassword)
	wantErr(t, err, domain.KindUnauthenticated, domain.CodeInvalidCredentials)
	if _, err := e.signIn(e.addr("owner"), goodPassword); err != nil {
		t.Fatalf("sign in with the new password: %v", err)
	}

	e.must(e.h.RequestPasswordReset(e.ctx, commands.Request{}, e.addr("owner")))
	first := e.passwordToken(e.signers.PasswordReset, e.owner)
	e.must(e.h.RequestPasswordReset(e.ctx, commands.Request{}, e.addr("owner")))
	_, err = e.h.CompletePasswordReset(e.ctx, commands.Request{}, first, ownerPassword)
	wantErr(t, err, domain.KindGone, domain.CodePasswordTokenOutdated)
	latest := e.passwordToken(e.signers.PasswordReset, e.owner)
	e.clock.Advance(time.Hour)
	_, err = e.h.CompletePasswordReset(e.ctx, commands.Request{}, latest, ownerPassword)
	wantErr(t, err, domain.KindGone, domain.CodePasswordTokenExpired)
	_, err = e.h.CompletePasswordReset(e.ctx, commands.Request{}, "tampered-token", ownerPassword)
	wantErr(t, err, domain.KindNotFound, domain.CodePasswordTokenInvalid)
}
