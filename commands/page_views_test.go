package commands_test

import (
	"testing"
	"time"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

func TestWhoAmI(t *testing.T) {
	e := newEnv(t)
	res, err := e.signIn(e.addr("owner"), ownerPassword)
	e.must(err)
	p, err := e.h.Authenticate(e.ctx, res.Token)
	e.must(err)
	me, err := e.h.WhoAmI(e.ctx, p)
	e.must(err)
	if me.UserID != e.owner || me.Role != domain.RoleOwner || me.Email != e.addr("owner") ||
		me.Name != "Olivia Owner" || me.OrgName != e.orgState().Name || !me.CanAdminister() {
		t.Fatalf("owner: %+v", me)
	}

	rita := e.member("rita", "member")
	rs, err := e.signIn(e.addr("rita"), goodPassword)
	e.must(err)
	rp, err := e.h.Authenticate(e.ctx, rs.Token)
	e.must(err)
	if me, err := e.h.WhoAmI(e.ctx, rp); err != nil || me.CanAdminister() || me.Role != domain.RoleMember {
		t.Fatalf("member: %+v %v", me, err)
	}
	_, err = e.h.RemoveMember(e.ctx, e.asOwner, e.org, rita)
	e.must(err)
	_, err = e.h.WhoAmI(e.ctx, rp)
	wantErr(t, err, domain.KindUnauthenticated, domain.CodeSessionEnded)
}

func TestDescribeMember(t *testing.T) {
	e := newEnv(t)
	ann := e.member("ann", "admin")
	m, err := e.h.DescribeMember(e.ctx, e.asOwner, e.org, ann)
	if err != nil || m.Email != e.addr("ann") || m.Role != domain.RoleAdmin || m.Via != domain.JoinedViaInvitation {
		t.Fatalf("describe: %+v %v", m, err)
	}
	plain := e.member("paul", "member")
	_, err = e.h.DescribeMember(e.ctx, e.as(plain), e.org, ann)
	wantErr(t, err, domain.KindForbidden, domain.CodeNotAnAdmin)
	_, err = e.h.DescribeMember(e.ctx, e.asOwner, e.org, "user-"+domain.UserID(randomHex(4)))
	wantErr(t, err, domain.KindNotFound, domain.CodeMemberNotFound)
	_, err = e.h.DescribeMember(e.ctx, e.asOwner, e.org, "../x")
	wantErr(t, err, domain.KindInvalid, domain.CodeInvalidID)
}

func TestDescribeVerification(t *testing.T) {
	e := newEnv(t)
	reg, err := e.register(e.linkToken(), e.addr("vera"))
	e.must(err)
	token := e.verificationToken(reg.RegistrationID)
	v, err := e.h.DescribeVerification(e.ctx, token)
	if err != nil || v.Email != e.addr("vera") || v.OrgID != e.org || v.OrganizationName != e.orgState().Name {
		t.Fatalf("pending: %+v %v", v, err)
	}
	_, err = e.h.DescribeVerification(e.ctx, "forged")
	wantErr(t, err, domain.KindNotFound, domain.CodeRegistrationNotFound)

	e.clock.Advance(domain.DefaultVerificationTTL)
	_, err = e.h.DescribeVerification(e.ctx, token)
	wantErr(t, err, domain.KindGone, domain.CodeVerificationExpired)
	e.clock.Advance(-domain.DefaultVerificationTTL)

	if _, err := e.h.VerifyRegistration(e.ctx, commands.Request{}, token); err != nil {
		t.Fatal(err)
	}
	_, err = e.h.DescribeVerification(e.ctx, token)
	wantErr(t, err, domain.KindGone, domain.CodeVerificationUsed)

	// A registration started before a rotation can no longer be verified;
	// the page says why before anyone clicks.
	other, err := e.register(e.linkToken(), e.addr("otto"))
	e.must(err)
	_, err = e.h.RotateSelfServiceLink(e.ctx, e.asOwner, e.org)
	e.must(err)
	_, err = e.h.DescribeVerification(e.ctx, e.verificationToken(other.RegistrationID))
	wantErr(t, err, domain.KindGone, domain.CodeLinkRotated)
}

func TestDescribePasswordLink(t *testing.T) {
	e := newEnv(t)
	added, err := e.h.AddMemberManually(e.ctx, e.asOwner, commands.AddMemberInput{OrgID: e.org, Email: e.addr("mo"), Name: "Mo"})
	e.must(err)
	setup := e.passwordToken(e.signers.PasswordSetup, added.UserID)
	v, err := e.h.DescribePasswordLink(e.ctx, domain.PasswordTokenSetup, setup)
	if err != nil || v.Email != e.addr("mo") || v.OrgID != e.org {
		t.Fatalf("setup link: %+v %v", v, err)
	}
	// A setup token is no reset token, and a forged one is nothing.
	_, err = e.h.DescribePasswordLink(e.ctx, domain.PasswordTokenReset, setup)
	wantErr(t, err, domain.KindNotFound, domain.CodePasswordTokenInvalid)
	_, err = e.h.DescribePasswordLink(e.ctx, domain.PasswordTokenSetup, "forged")
	wantErr(t, err, domain.KindNotFound, domain.CodePasswordTokenInvalid)

	_, err = e.h.CompletePasswordSetup(e.ctx, commands.Request{}, setup, goodPassword)
	e.must(err)
	_, err = e.h.DescribePasswordLink(e.ctx, domain.PasswordTokenSetup, setup)
	wantErr(t, err, domain.KindGone, domain.CodePasswordTokenUsed)

	e.must(e.h.RequestPasswordReset(e.ctx, commands.Request{}, e.addr("mo")))
	reset := e.passwordToken(e.signers.PasswordReset, added.UserID)
	if _, err := e.h.DescribePasswordLink(e.ctx, domain.PasswordTokenReset, reset); err != nil {
		t.Fatalf("reset link: %v", err)
	}
	e.clock.Advance(2 * time.Hour)
	_, err = e.h.DescribePasswordLink(e.ctx, domain.PasswordTokenReset, reset)
	wantErr(t, err, domain.KindGone, domain.CodePasswordTokenExpired)
}
