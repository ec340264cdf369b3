package readmodels

import (
	"reflect"
	"testing"
	"time"

	"github.com/orgportal/onboarding/domain"
)

func TestFoldInvitations(t *testing.T) {
	expires := t0.Add(7 * 24 * time.Hour)
	issued := Invitation{ID: invAnn, OrgID: org, Email: "Ann@Example.org", Role: domain.RoleMember,
		InvitedBy: Ref{UserID: owner, Email: "Owner@Acme.example"}, InvitedAt: *at(3), ExpiresAt: expires,
		Status: InvitationPending, Generation: 1, Delivery: Delivery{State: DeliveryPending}, UpdatedAt: *at(3), Position: 300}
	issuedHistory := bootstrapped().add(string(owner), invite(invAnn, "Ann@Example.org", owner, 1))
	with := func(edit func(*Invitation)) Invitation { inv := issued; edit(&inv); return inv }

	tests := []struct {
		name string
		h    history
		want Invitation
	}{
		{"issued: pending, inviter by id and email", issuedHistory, issued},
		{"sent", issuedHistory.add("system", domain.InvitationEmailSent{InvitationID: invAnn, OrgID: org, Generation: 1}),
			with(func(i *Invitation) {
				i.TimesSent, i.LastSentAt, i.Delivery = 1, at(4), Delivery{State: DeliverySent, At: at(4)}
				i.UpdatedAt, i.Position = *at(4), 400
			})},
		{"resent: a new generation is pending again; a late mail of the old one only counts",
			issuedHistory.add(string(owner), domain.InvitationResent{InvitationID: invAnn, OrgID: org, Generation: 2, ExpiresAt: expires.Add(time.Hour)}).
				add("system", domain.InvitationEmailSent{InvitationID: invAnn, OrgID: org, Generation: 1}),
			with(func(i *Invitation) {
				i.Generation, i.ExpiresAt, i.TimesSent, i.LastSentAt = 2, expires.Add(time.Hour), 1, at(5)
				i.UpdatedAt, i.Position = *at(5), 500
			})},
		{"failed permanently",
			issuedHistory.add("system", domain.InvitationEmailFailed{InvitationID: invAnn, OrgID: org, Generation: 1, Reason: "550 no such user"}),
			with(func(i *Invitation) {
				i.Delivery = Delivery{State: DeliveryFailed, Reason: "550 no such user", At: at(4)}
				i.UpdatedAt, i.Position = *at(4), 400
			})},
		{"accepted", issuedHistory.add(string(ann), domain.InvitationAccepted{InvitationID: invAnn, OrgID: org, UserID: ann, Generation: 1}),
			with(func(i *Invitation) {
				i.Status, i.AcceptedBy, i.UpdatedAt, i.Position = InvitationAccepted, ann, *at(4), 400
			})},
		{"issued with the inviter's name for the invitee", bootstrapped().add(string(owner), func() domain.UserInvited {
			ev := invite(invAnn, "Ann@Example.org", owner, 1)
			ev.Name = "Ann from Sales"
			return ev
		}()), with(func(i *Invitation) { i.Name = "Ann from Sales" })},
		{"revoked", issuedHistory.add(string(owner), domain.InvitationRevoked{InvitationID: invAnn, OrgID: org}),
			with(func(i *Invitation) { i.Status, i.UpdatedAt, i.Position = InvitationRevoked, *at(4), 400 })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			invs, refs := memTable[Invitation]{}, memTable[ref]{}
			for from := range tt.h { // every suffix again: redelivery changes nothing
				for _, e := range tt.h[from:] {
					if err := foldInvitations(invs, refs, e); err != nil {
						t.Fatalf("fold %s: %v", e.Type, err)
					}
				}
				if len(invs) != 1 || !reflect.DeepEqual(invs[string(invAnn)], tt.want) {
					t.Fatalf("after redelivery from %d:\n got %+v\nwant %+v", from, invs[string(invAnn)], tt.want)
				}
			}
		})
	}
}

func TestInvitationStatusAt(t *testing.T) {
	inv := Invitation{Status: InvitationPending, ExpiresAt: t0}
	for _, tt := range []struct {
		inv  Invitation
		now  time.Time
		want InvitationStatus
	}{
		{inv, t0.Add(-time.Second), InvitationPending},
		{inv, t0, InvitationExpired},
		{Invitation{Status: InvitationAccepted, ExpiresAt: t0}, t0.Add(time.Hour), InvitationAccepted},
		{Invitation{Status: InvitationRevoked, ExpiresAt: t0}, t0.Add(time.Hour), InvitationRevoked},
	} {
		if got := tt.inv.StatusAt(tt.now); got != tt.want {
			t.Errorf("%s at %v: %s, want %s", tt.inv.Status, tt.now.Sub(t0), got, tt.want)
		}
	}
}

func TestFoldInvitationsRefusesUnknownInvitation(t *testing.T) {
	for _, e := range (history{}).add("system", domain.InvitationEmailSent{InvitationID: "inv-nowhere", OrgID: org, Generation: 1}) {
		if err := foldInvitations(memTable[Invitation]{}, memTable[ref]{}, e); err == nil {
			t.Error("mail of an invitation never issued: want an error, got none")
		}
	}
}
