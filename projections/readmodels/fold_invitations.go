package readmodels

import (
	"fmt"

	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections"
)

// invitationsEventTypes change invitations, or (MemberJoined) teach the
// projection the emails of inviters.
var invitationsEventTypes = []string{
	domain.TypeUserInvited, domain.TypeInvitationResent, domain.TypeInvitationRevoked,
	domain.TypeInvitationAccepted, domain.TypeInvitationEmailSent, domain.TypeInvitationEmailFailed,
	domain.TypeMemberJoined,
}

// foldInvitations applies one event to the invitations. The delivery state
// follows the current token generation: a resend makes it pending again,
// and a late outcome of an older generation only counts in TimesSent.
func foldInvitations(invs table[Invitation], refs table[ref], e projections.Envelope) error {
	pos, at := int64(e.Position), millis(e.At())
	change := func(id domain.InvitationID, edit func(*Invitation)) error {
		inv, ok := invs.get(string(id))
		if !ok {
			return fmt.Errorf("invitations: %s of invitation %s that was never issued", e.Type, id)
		}
		if inv.Position >= pos {
			return nil
		}
		edit(&inv)
		inv.Position, inv.UpdatedAt = pos, at
		invs.put(string(id), inv)
		return nil
	}
	switch ev := e.Event.(type) {
	case domain.UserInvited:
		// The invitation's first event, under a fresh id: created without
		// a read of whether it exists.
		create(invs, string(ev.InvitationID), Invitation{
			ID: ev.InvitationID, OrgID: ev.OrgID, Email: ev.Email, Name: ev.Name, Role: ev.Role,
			InvitedBy: personRef(refs, ev.InvitedBy), InvitedAt: at, ExpiresAt: millis(ev.ExpiresAt),
			Status: InvitationPending, Generation: ev.Generation, Delivery: Delivery{State: DeliveryPending},
			UpdatedAt: at, Position: pos,
		})
	case domain.InvitationResent:
		return change(ev.InvitationID, func(inv *Invitation) {
			inv.Generation = ev.Generation
			inv.ExpiresAt = millis(ev.ExpiresAt)
			inv.Delivery = Delivery{State: DeliveryPending}
		})
	case domain.InvitationRevoked:
		return change(ev.InvitationID, func(inv *Invitation) { inv.Status = InvitationRevoked })
	case domain.InvitationAccepted:
		return change(ev.InvitationID, func(inv *Invitation) {
			inv.Status = InvitationAccepted
			inv.AcceptedBy = ev.UserID
		})
	case domain.InvitationEmailSent:
		return change(ev.InvitationID, func(inv *Invitation) {
			inv.TimesSent++
			inv.LastSentAt = timePtr(at)
			if ev.Generation == inv.Generation {
				inv.Delivery = Delivery{State: DeliverySent, At: timePtr(at)}
			}
		})
	case domain.InvitationEmailFailed:
		return change(ev.InvitationID, func(inv *Invitation) {
			if ev.Generation == inv.Generation {
				inv.Delivery = Delivery{State: DeliveryFailed, Reason: ev.Reason, At: timePtr(at)}
			}
		})
	case domain.MemberJoined:
		rememberUser(refs, ev.OrgID, ev.UserID, ev.Email, "")
	}
	return nil
}
