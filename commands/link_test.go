package commands_test

import (
	"sync"
	"testing"
	"time"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

func (e *env) register(token, email string) (commands.RegisterResult, error) {
	return e.h.RegisterViaLink(e.ctx, commands.Request{}, commands.RegisterInput{Token: token, Email: email, Name: "Reg Istrant", Password: goodPassword})
}

func TestSelfServiceLink_ConfigureRegisterVerify(t *testing.T) {
	e := newEnv(t)
	view, err := e.h.GetSelfServiceLink(e.ctx, e.asOwner, e.org)
	if err != nil || !view.Enabled || view.Generation != 1 || view.DefaultRole != domain.RoleMember || len(view.AllowedDomains) != 0 {
		t.Fatalf("initial link: %+v %v", view, err)
	}
	expires := e.clock.Now().Add(48 * time.Hour)
	cfg := commands.ConfigureLinkInput{Enabled: true, AllowedDomains: []string{e.domain, "*.Sub." + e.domain}, DefaultRole: "admin", ExpiresAt: &expires, MaxUses: 2}
	res, err := e.h.ConfigureSelfServiceLink(e.ctx, e.asOwner, e.org, cfg)
	if err != nil || res.Position == 0 || res.Link.MaxUses != 2 || res.Link.AllowedDomains[1] != "*.sub."+e.domain {
		t.Fatalf("configure: %+v %v", res, err)
	}
	if again, err := e.h.ConfigureSelfServiceLink(e.ctx, e.asOwner, e.org, cfg); err != nil || again.Position != 0 {
		t.Fatalf("unchanged PUT: %+v %v", again, err)
	}
	_, err = e.h.ConfigureSelfServiceLink(e.ctx, e.asOwner, e.org, commands.ConfigureLinkInput{Enabled: true, AllowedDomains: []string{"not a domain"}})
	wantErr(t, err, domain.KindInvalid, domain.CodeInvalidLinkSetting)

	token := e.linkToken()
	join, err := e.h.DescribeJoinLink(e.ctx, token)
	if err != nil || join.OrgID != e.org || len(join.AllowedDomains) != 2 {
		t.Fatalf("describe join: %+v %v", join, err)
	}
	// Every field is checked before the link's rules: one answer lists all
	// three problems, the address's at a domain the link refuses too.
	_, err = e.h.RegisterViaLink(e.ctx, commands.Request{}, commands.RegisterInput{Token: token, Email: "not an address", Name: " ", Password: "short"})
	wantErr(t, err, domain.KindInvalid, domain.CodeInvalidEmail)
	wantFields(t, err, "email", "name", "password")
	_, err = e.h.RegisterViaLink(e.ctx, commands.Request{}, commands.RegisterInput{Token: token, Email: "x@evil-" + e.domain, Name: "Reg", Password: "short"})
	wantErr(t, err, domain.KindInvalid, domain.CodeWeakPassword)
	wantFields(t, err, "password")
	for _, refused := range []string{"x@evil-" + e.domain, "x@a." + e.domain, "x@" + e.domain + ".evil.test"} {
		_, err = e.register(token, refused)
		wantErr(t, err, domain.KindForbidden, domain.CodeEmailDomainForbidden)
	}
	_, err = e.register(token, "bad address")
	wantErr(t, err, domain.KindInvalid, domain.CodeInvalidEmail)
	_, err = e.register("forged", e.addr("x"))
	wantErr(t, err, domain.KindNotFound, domain.CodeLinkNotFound)

	reg, err := e.register(token, "Rita@deep.sub."+e.domain)
	if err != nil || reg.Position == 0 {
		t.Fatalf("register: %+v %v", reg, err)
	}
	if _, ok := e.orgState().MemberByEmail(domain.MustParseEmail("rita@deep.sub." + e.domain)); ok {
		t.Fatal("a member before verification")
	}
	verified, err := e.h.VerifyRegistration(e.ctx, commands.Request{}, e.verificationToken(reg.RegistrationID))
	if err != nil || verified.Position == 0 {
		t.Fatalf("verify: %+v %v", verified, err)
	}
	m, ok := e.orgState().Member(verified.UserID)
	if !ok || m.Role != domain.RoleAdmin || m.Via != domain.JoinedViaSelfServiceLink {
		t.Fatalf("member: %+v", m)
	}
	if _, err := e.signIn("rita@deep.sub."+e.domain, goodPassword); err != nil {
		t.Fatalf("sign in after verification: %v", err)
	}
	// The link is used up (register_security_test.go has the rest).
	_, err = e.h.VerifyRegistration(e.ctx, commands.Request{}, e.verificationToken(reg.RegistrationID))
	wantErr(t, err, domain.KindGone, domain.CodeVerificationUsed)
	_, err = e.h.VerifyRegistration(e.ctx, commands.Request{}, "forged")
	wantErr(t, err, domain.KindNotFound, domain.CodeRegistrationNotFound)

	// The same answer for an address that is already a member; the event
	// tells the mail reactor to send "you already have an account".
	existing, err := e.register(token, e.addr("owner"))
	if err != nil || existing.Position == 0 || existing.RegistrationID == "" {
		t.Fatalf("register as member: %+v %v", existing, err)
	}
	evs := e.events(domain.RegistrationStream(existing.RegistrationID))
	if _, ok := evs[0].(domain.RegistrationAttemptedByMember); !ok || len(evs) != 1 {
		t.Fatalf("member registration recorded %#v", evs)
	}
	_, err = e.h.VerifyRegistration(e.ctx, commands.Request{}, e.verificationToken(existing.RegistrationID))
	wantErr(t, err, domain.KindNotFound, domain.CodeRegistrationNotFound)

	// The use limit counts verified members of this generation.
	second, err := e.register(token, e.addr("sam"))
	e.must(err)
	third, err := e.register(token, e.addr("tom"))
	e.must(err)
	_, err = e.h.VerifyRegistration(e.ctx, commands.Request{}, e.verificationToken(second.RegistrationID))
	e.must(err)
	_, err = e.h.VerifyRegistration(e.ctx, commands.Request{}, e.verificationToken(third.RegistrationID))
	wantErr(t, err, domain.KindGone, domain.CodeLinkExhausted)
	_, err = e.register(token, e.addr("ugo"))
	wantErr(t, err, domain.KindGone, domain.CodeLinkExhausted)
	if _, ok := e.orgState().MemberByEmail(domain.MustParseEmail(e.addr("tom"))); ok {
		t.Fatal("a member beyond the use limit")
	}
	// Tom's address was given back: he can be invited.
	e.invite(e.addr("tom"), "")

	e.clock.Advance(48 * time.Hour)
	_, err = e.h.DescribeJoinLink(e.ctx, token)
	wantErr(t, err, domain.KindGone, domain.CodeLinkExpired)
	_, err = e.h.ConfigureSelfServiceLink(e.ctx, e.asOwner, e.org, commands.ConfigureLinkInput{Enabled: false})
	e.must(err)
	_, err = e.register(token, e.addr("vic"))
	wantErr(t, err, domain.KindGone, domain.CodeLinkDisabled)
}

func TestSelfServiceLink_RotateKillsTheOldLinkAndItsRegistrations(t *testing.T) {
	e := newEnv(t)
	old := e.linkToken()
	pending, err := e.register(old, e.addr("early"))
	e.must(err)
	rotated, err := e.h.RotateSelfServiceLink(e.ctx, e.asOwner, e.org)
	if err != nil || rotated.Link.Generation != 2 || rotated.Position == 0 {
		t.Fatalf("rotate: %+v %v", rotated, err)
	}
	_, err = e.register(old, e.addr("late"))
	wantErr(t, err, domain.KindGone, domain.CodeLinkRotated)
	_, err = e.h.VerifyRegistration(e.ctx, commands.Request{}, e.verificationToken(pending.RegistrationID))
	wantErr(t, err, domain.KindGone, domain.CodeLinkRotated)
	_, err = e.h.VerifyRegistration(e.ctx, commands.Request{}, e.verificationToken(pending.RegistrationID))
	wantErr(t, err, domain.KindGone, domain.CodeRegistrationClosed)

	reg, err := e.register(e.linkToken(), e.addr("fresh"))
	e.must(err)
	_, err = e.h.VerifyRegistration(e.ctx, commands.Request{}, e.verificationToken(reg.RegistrationID))
	e.must(err)

	plain := e.member("plain", "member")
	_, err = e.h.RotateSelfServiceLink(e.ctx, e.as(plain), e.org)
	wantErr(t, err, domain.KindForbidden, domain.CodeNotAnAdmin)
	_, err = e.h.GetSelfServiceLink(e.ctx, e.as(plain), e.org)
	wantErr(t, err, domain.KindForbidden, domain.CodeNotAnAdmin)
}

func TestSelfServiceLink_RotateRacingRegistrations(t *testing.T) {
	e := newEnv(t)
	old := e.linkToken()
	const n = 8
	regs := make([]commands.RegisterResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := e.h.RotateSelfServiceLink(e.ctx, e.asOwner, e.org)
		if err != nil {
			t.Error(err)
		}
	})
	for i := range n {
		wg.Go(func() { regs[i], errs[i] = e.register(old, e.addr("racer"+string(rune('a'+i)))) })
	}
	wg.Wait()
	// Each registration either was refused as rotated, or started under
	// the old link and cannot be verified any more: nobody joins through
	// a rotated link.
	for i := range n {
		if errs[i] != nil {
			wantErr(t, errs[i], domain.KindGone, domain.CodeLinkRotated)
			continue
		}
		_, err := e.h.VerifyRegistration(e.ctx, commands.Request{}, e.verificationToken(regs[i].RegistrationID))
		wantErr(t, err, domain.KindGone, domain.CodeLinkRotated)
	}
	if got := len(e.orgState().Members()); got != 1 {
		t.Fatalf("%d members after the race", got)
	}
}

func TestSelfServiceLink_VerifyRacingRotateNeverAdmitsThroughADeadLink(t *testing.T) {
	e := newEnv(t)
	const n = 6
	regs := make([]commands.RegisterResult, n)
	token := e.linkToken()
	for i := range n {
		var err error
		regs[i], err = e.register(token, e.addr("v"+string(rune('a'+i))))
		e.must(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	wg.Go(func() {
		if _, err := e.h.RotateSelfServiceLink(e.ctx, e.asOwner, e.org); err != nil {
			t.Error(err)
		}
	})
	for i := range n {
		wg.Go(func() {
			_, errs[i] = e.h.VerifyRegistration(e.ctx, commands.Request{}, e.verificationToken(regs[i].RegistrationID))
		})
	}
	wg.Wait()
	org := e.orgState()
	joined := 0
	for i := range n {
		_, member := org.MemberByEmail(domain.MustParseEmail(e.addr("v" + string(rune('a'+i)))))
		switch {
		case errs[i] == nil && member:
			joined++
		case errs[i] != nil && !member:
			wantErr(t, errs[i], domain.KindGone, domain.CodeLinkRotated)
		default:
			t.Errorf("registration %d: err %v, member %v", i, errs[i], member)
		}
	}
	if org.Link.Generation != 2 || len(org.Members()) != 1+joined {
		t.Fatalf("generation %d, %d members, %d joined", org.Link.Generation, len(org.Members()), joined)
	}
}
