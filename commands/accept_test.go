package commands_test

import (
	"sync"
	"testing"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

func TestAcceptInvitation_MakesAMemberOnce(t *testing.T) {
	e := newEnv(t)
	id := e.invite(e.addr("Nina"), "admin")
	token := e.invitationToken(id)
	view, err := e.h.DescribeInvitation(e.ctx, token)
	if err != nil || view.State != "pending" || view.Email != e.addr("Nina") || view.OrganizationName == "" || view.Role != domain.RoleAdmin {
		t.Fatalf("describe: %+v %v", view, err)
	}

	// Failed accepts write nothing and leave the invitation usable.
	_, err = e.h.AcceptInvitation(e.ctx, commands.Request{}, commands.AcceptInput{Token: token, Name: "Nina", Password: "short"})
	wantErr(t, err, domain.KindInvalid, domain.CodeWeakPassword)
	_, err = e.h.AcceptInvitation(e.ctx, commands.Request{}, commands.AcceptInput{Token: token, Name: "Nina", Password: "nina-" + e.domain + "-pw!"})
	wantErr(t, err, domain.KindInvalid, domain.CodeWeakPassword)
	_, err = e.h.AcceptInvitation(e.ctx, commands.Request{}, commands.AcceptInput{Token: token, Name: "  ", Password: goodPassword})
	wantErr(t, err, domain.KindInvalid, domain.CodeInvalidName)
	// Both fields wrong: one answer names both, with the first one's code.
	_, err = e.h.AcceptInvitation(e.ctx, commands.Request{}, commands.AcceptInput{Token: token, Name: "", Password: "short"})
	wantErr(t, err, domain.KindInvalid, domain.CodeInvalidName)
	wantFields(t, err, "name", "password")
	_, err = e.h.AcceptInvitation(e.ctx, commands.Request{}, commands.AcceptInput{Token: token + "x", Name: "Nina", Password: goodPassword})
	wantErr(t, err, domain.KindNotFound, domain.CodeInvitationNotFound)
	if e.invitation(id).Status != domain.InvitationStatusPending {
		t.Fatal("a failed accept changed the invitation")
	}

	hostile := `Robert'); DROP TABLE users;-- <script>alert("x")</script> {"$gt": ""}`
	res, err := e.h.AcceptInvitation(e.ctx, commands.Request{}, commands.AcceptInput{Token: token, Name: hostile, Password: goodPassword})
	if err != nil || res.OrgID != e.org || res.Position == 0 {
		t.Fatalf("accept: %+v %v", res, err)
	}
	m, ok := e.orgState().Member(res.UserID)
	if !ok || m.Role != domain.RoleAdmin || m.Name != hostile || m.Via != domain.JoinedViaInvitation || m.Email != e.addr("Nina") {
		t.Fatalf("member: %+v %v", m, ok)
	}
	if acc := e.account(res.UserID); acc.Name != hostile || acc.PasswordHash == "" {
		t.Fatalf("account: %+v", acc)
	}
	if s, err := e.signIn(e.addr("nina"), goodPassword); err != nil || s.UserID != res.UserID {
		t.Fatalf("sign in as the new member: %+v %v", s, err)
	}
	_, err = e.h.AcceptInvitation(e.ctx, commands.Request{}, commands.AcceptInput{Token: token, Name: "Nina", Password: goodPassword})
	wantErr(t, err, domain.KindGone, domain.CodeInvitationUsed)
	view, err = e.h.DescribeInvitation(e.ctx, token)
	if err != nil || view.State != "accepted" {
		t.Fatalf("describe accepted: %+v %v", view, err)
	}
	// The new admin administers the organization.
	if _, err := e.h.InviteUsers(e.ctx, e.as(res.UserID), commands.InviteUsersInput{OrgID: e.org, Emails: []string{e.addr("next")}}); err != nil {
		t.Fatal(err)
	}
}

func TestAcceptInvitation_Expired(t *testing.T) {
	e := newEnv(t)
	id := e.invite(e.addr("nina"), "")
	token := e.invitationToken(id)
	e.clock.Advance(domain.DefaultInvitationTTL)
	_, err := e.h.AcceptInvitation(e.ctx, commands.Request{}, commands.AcceptInput{Token: token, Name: "Nina", Password: goodPassword})
	wantErr(t, err, domain.KindGone, domain.CodeInvitationExpired)
	// Resending revives it.
	_, err = e.h.ResendInvitation(e.ctx, e.asOwner, e.org, id)
	e.must(err)
	_, err = e.h.AcceptInvitation(e.ctx, commands.Request{}, commands.AcceptInput{Token: e.invitationToken(id), Name: "Nina", Password: goodPassword})
	e.must(err)
}

func TestAcceptInvitation_TwentyConcurrentAcceptsGiveOneMember(t *testing.T) {
	e := newEnv(t)
	id := e.invite(e.addr("nina"), "")
	token := e.invitationToken(id)
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		winners   []domain.UserID
		otherErrs []error
	)
	for range 20 {
		wg.Go(func() {
			res, err := e.h.AcceptInvitation(e.ctx, commands.Request{}, commands.AcceptInput{Token: token, Name: "Nina", Password: goodPassword})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				winners = append(winners, res.UserID)
			} else if domain.CodeOf(err) != domain.CodeInvitationUsed {
				otherErrs = append(otherErrs, err)
			}
		})
	}
	wg.Wait()
	if len(winners) != 1 || len(otherErrs) != 0 {
		t.Fatalf("winners %v, unexpected errors %v", winners, otherErrs)
	}
	org := e.orgState()
	if len(org.Members()) != 2 {
		t.Fatalf("roster: %+v", org.Members())
	}
	if m, ok := org.MemberByEmail(domain.MustParseEmail(e.addr("nina"))); !ok || m.UserID != winners[0] {
		t.Fatalf("member %+v", m)
	}
	if inv := e.invitation(id); inv.AcceptedBy != winners[0] {
		t.Fatalf("invitation accepted by %q", inv.AcceptedBy)
	}
}

// The name pasted before the address travels with the invitation: the
// acceptance page offers it, and an accept that leaves the name out joins
// under it; one given replaces it.
func TestAcceptInvitation_TheInvitersNameForTheInvitee(t *testing.T) {
	e := newEnv(t)
	id := e.invite(`"Quinn, Harley" <`+e.addr("quinn")+">", "")
	if inv := e.invitation(id); inv.Name != "Quinn, Harley" {
		t.Fatalf("invitation name %q", inv.Name)
	}
	token := e.invitationToken(id)
	view, err := e.h.DescribeInvitation(e.ctx, token)
	if err != nil || view.Name != "Quinn, Harley" {
		t.Fatalf("describe: %+v %v", view, err)
	}
	res, err := e.h.AcceptInvitation(e.ctx, commands.Request{}, commands.AcceptInput{Token: token, Name: "  ", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := e.orgState().Member(res.UserID); !ok || m.Name != "Quinn, Harley" {
		t.Fatalf("member %+v %v, want the inviter's name for them", m, ok)
	}

	other := e.invite(`Wrong Name <`+e.addr("rae")+">", "")
	res, err = e.h.AcceptInvitation(e.ctx, commands.Request{}, commands.AcceptInput{Token: e.invitationToken(other), Name: "Rae Right", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := e.orgState().Member(res.UserID); m.Name != "Rae Right" {
		t.Fatalf("member name %q, want their own", m.Name)
	}
}
