package commands_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

func TestInviteUsers_OneResultPerAddress(t *testing.T) {
	e := newEnv(t)
	pending := e.invite(e.addr("pending"), "")
	list := strings.Join([]string{
		" Nina@" + e.domain, "bob@" + e.domain + ";carol@" + e.domain, "NINA@" + e.domain, // a duplicate, dropped
		"not-an-address", e.addr("owner"), e.addr("pending"), "jürgen@" + e.domain,
	}, ",\n")
	res, err := e.h.InviteUsers(e.ctx, e.asOwner, commands.InviteUsersInput{OrgID: e.org, Emails: []string{list}, Role: "admin"})
	e.must(err)
	want := []struct {
		email  string
		status commands.InviteStatus
	}{
		{"Nina@" + e.domain, commands.InviteInvited}, {"bob@" + e.domain, commands.InviteInvited},
		{"carol@" + e.domain, commands.InviteInvited}, {"not-an-address", commands.InviteInvalidAddress},
		{e.addr("owner"), commands.InviteAlreadyMember}, {e.addr("pending"), commands.InviteAlreadyInvited},
		{"jürgen@" + e.domain, commands.InviteInvalidAddress},
	}
	if len(res.Results) != len(want) || res.Position == 0 {
		t.Fatalf("results: %+v", res)
	}
	for i, w := range want {
		got := res.Results[i]
		if got.Email != w.email || got.Status != w.status {
			t.Errorf("result %d: %+v, want %s %s", i, got, w.email, w.status)
		}
		if (w.status == commands.InviteInvalidAddress) != (got.Reason != "") {
			t.Errorf("result %d: reason %q", i, got.Reason)
		}
	}
	if res.Results[5].InvitationID != pending {
		t.Errorf("already_invited names %q, want the pending %q", res.Results[5].InvitationID, pending)
	}
	inv := e.invitation(res.Results[0].InvitationID)
	if inv.Role != domain.RoleAdmin || inv.Email != "Nina@"+e.domain || inv.NormalizedEmail != "nina@"+e.domain ||
		inv.InvitedBy != e.owner || !inv.ExpiresAt.Equal(e.clock.Now().Add(domain.DefaultInvitationTTL)) {
		t.Errorf("invitation: %+v", inv)
	}

	_, err = e.h.InviteUsers(e.ctx, e.asOwner, commands.InviteUsersInput{OrgID: e.org, Emails: []string{e.addr("x")}, Role: "owner"})
	wantErr(t, err, domain.KindInvalid, domain.CodeInvalidRole)
	_, err = e.h.InviteUsers(e.ctx, e.asOwner, commands.InviteUsersInput{OrgID: e.org, Emails: []string{" ,; "}})
	wantErr(t, err, domain.KindInvalid, domain.CodeNoAddresses)
	_, err = e.h.InviteUsers(e.ctx, e.asOwner, commands.InviteUsersInput{OrgID: e.org, Emails: []string{""}, Role: "owner"})
	wantErr(t, err, domain.KindInvalid, domain.CodeNoAddresses)
	wantFields(t, err, "emails", "role")
}

func TestInviteUsers_TenThousandAddressesAreRefusedWhole(t *testing.T) {
	e := newEnv(t)
	var b strings.Builder
	for i := range 10_000 {
		fmt.Fprintf(&b, "user%d@%s\n", i, e.domain)
	}
	_, err := e.h.InviteUsers(e.ctx, e.asOwner, commands.InviteUsersInput{OrgID: e.org, Emails: []string{b.String()}})
	wantErr(t, err, domain.KindInvalid, domain.CodeTooManyAddresses)
	if n := len(e.events(domain.MembershipStream(e.org, domain.MustParseEmail("user0@"+e.domain)))); n != 0 {
		t.Fatalf("%d events written for a refused request", n)
	}
}

func TestInviteUsers_OnlyAdminsOfTheOrganization(t *testing.T) {
	e := newEnv(t)
	other := setupEnv(t)
	plain := e.member("plain", "member")
	in := commands.InviteUsersInput{OrgID: e.org, Emails: []string{e.addr("x")}}
	_, err := e.h.InviteUsers(e.ctx, e.as(plain), in)
	wantErr(t, err, domain.KindForbidden, domain.CodeNotAnAdmin)
	_, err = e.h.InviteUsers(e.ctx, other.asOwner, in) // the owner of another organization
	wantErr(t, err, domain.KindForbidden, domain.CodeNotAnAdmin)
	_, err = e.h.InviteUsers(e.ctx, commands.Request{Actor: domain.ActorSystem}, in)
	wantErr(t, err, domain.KindForbidden, domain.CodeNotAnAdmin)
	_, err = e.h.InviteUsers(e.ctx, e.asOwner, commands.InviteUsersInput{OrgID: "org-missing-" + domain.OrgID(randomHex(3)), Emails: in.Emails})
	wantErr(t, err, domain.KindNotFound, domain.CodeOrganizationNotFound)
	_, err = e.h.InviteUsers(e.ctx, e.asOwner, commands.InviteUsersInput{OrgID: "../etc", Emails: in.Emails})
	wantErr(t, err, domain.KindInvalid, domain.CodeInvalidID)

	// Invitations of one organization cannot be managed from another.
	id := e.invite(e.addr("y"), "")
	_, err = other.h.ResendInvitation(other.ctx, other.asOwner, other.org, id)
	wantErr(t, err, domain.KindNotFound, domain.CodeInvitationNotFound)
	_, err = other.h.RevokeInvitation(other.ctx, other.asOwner, e.org, id)
	wantErr(t, err, domain.KindForbidden, domain.CodeNotAnAdmin)
}

func TestInviteUsers_TwentyConcurrentInvitationsOfOneAddressGiveOne(t *testing.T) {
	e := newEnv(t)
	results := make([]commands.InviteOutcome, 20)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			res, err := e.h.InviteUsers(e.ctx, e.asOwner, commands.InviteUsersInput{OrgID: e.org, Emails: []string{e.addr("nina")}})
			if err != nil {
				t.Error(err)
				return
			}
			results[i] = res.Results[0]
		})
	}
	wg.Wait()
	var invited []domain.InvitationID
	for _, r := range results {
		switch r.Status {
		case commands.InviteInvited:
			invited = append(invited, r.InvitationID)
		case commands.InviteAlreadyInvited:
		default:
			t.Errorf("unexpected outcome %+v", r)
		}
	}
	if len(invited) != 1 {
		t.Fatalf("%d invitations: %v", len(invited), invited)
	}
	for _, r := range results {
		if r.Status == commands.InviteAlreadyInvited && r.InvitationID != invited[0] {
			t.Errorf("already_invited names %q, not the one invitation %q", r.InvitationID, invited[0])
		}
	}
	guard := domain.Fold(domain.MembershipState{}, domain.EvolveMembership, e.events(domain.MembershipStream(e.org, domain.MustParseEmail(e.addr("nina"))))...)
	if guard.InvitationID != invited[0] {
		t.Fatalf("the address is held by %q", guard.InvitationID)
	}
}

func TestResendAndRevoke(t *testing.T) {
	e := newEnv(t)
	id := e.invite(e.addr("nina"), "")
	old := e.invitationToken(id)
	e.clock.Advance(6 * 24 * time.Hour)
	res, err := e.h.ResendInvitation(e.ctx, e.asOwner, e.org, id)
	if err != nil || res.Generation != 2 || !res.ExpiresAt.Equal(e.clock.Now().Add(domain.DefaultInvitationTTL)) || res.Position == 0 {
		t.Fatalf("resend: %+v %v", res, err)
	}
	_, err = e.h.AcceptInvitation(e.ctx, commands.Request{}, commands.AcceptInput{Token: old, Name: "Nina", Password: goodPassword})
	wantErr(t, err, domain.KindGone, domain.CodeInvitationSuperseded)
	fresh := e.invitationToken(id)
	view, err := e.h.DescribeInvitation(e.ctx, fresh)
	if err != nil || view.State != "pending" {
		t.Fatalf("describe after resend: %+v %v", view, err)
	}

	// An invitation that expired can be replaced by a new one; the old one
	// can then no longer be resent.
	e.clock.Advance(domain.DefaultInvitationTTL)
	view, err = e.h.DescribeInvitation(e.ctx, fresh)
	if err != nil || view.State != "expired" || view.Code != domain.CodeInvitationExpired {
		t.Fatalf("describe expired: %+v %v", view, err)
	}
	replacement := e.invite(e.addr("nina"), "")
	_, err = e.h.ResendInvitation(e.ctx, e.asOwner, e.org, id)
	wantErr(t, err, domain.KindConflict, domain.CodeAlreadyInvited)

	rev, err := e.h.RevokeInvitation(e.ctx, e.asOwner, e.org, replacement)
	if err != nil || rev.Position == 0 {
		t.Fatalf("revoke: %+v %v", rev, err)
	}
	_, err = e.h.AcceptInvitation(e.ctx, commands.Request{}, commands.AcceptInput{Token: e.invitationToken(replacement), Name: "Nina", Password: goodPassword})
	wantErr(t, err, domain.KindGone, domain.CodeInvitationRevoked)
	if again, err := e.h.RevokeInvitation(e.ctx, e.asOwner, e.org, replacement); err != nil || again.Position != 0 {
		t.Fatalf("second revoke: %+v %v", again, err)
	}
	_, err = e.h.ResendInvitation(e.ctx, e.asOwner, e.org, replacement)
	wantErr(t, err, domain.KindConflict, domain.CodeInvitationRevoked)
	// Revoking freed the address.
	e.invite(e.addr("nina"), "")
	_, err = e.h.RevokeInvitation(e.ctx, e.asOwner, e.org, "no-such-invitation")
	wantErr(t, err, domain.KindNotFound, domain.CodeInvitationNotFound)
}
