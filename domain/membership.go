package domain

import "time"

// MembershipStatus is what one address currently holds in one organization.
type MembershipStatus string

const (
	MembershipFree    MembershipStatus = "" // never used, or released
	MembershipInvited MembershipStatus = "invited"
	MembershipActive  MembershipStatus = "member"
)

// MembershipState is the guard for one (organization, normalized address)
// pair, folded from its membership stream (see MembershipStream).
//
// Uniqueness across streams cannot be decided by one aggregate's state
// alone, so it is delegated to the event store: every writer decides on
// this small stream and appends with the expected revision of the state it
// loaded (NoStream for an address never seen). Of twenty concurrent
// invitations or acceptances for one address, exactly one append succeeds;
// the others reload and get already_invited or already_member. The domain
// only produces the events; the command layer owns the expected revision.
type MembershipState struct {
	OrgID        OrgID
	Status       MembershipStatus
	InvitationID InvitationID // set while Status is invited, and kept for a member who was invited
	UserID       UserID       // set while Status is member
}

// MembershipCommand is a command decided by DecideMembership.
type MembershipCommand interface{ membershipCommand() }

// HoldForInvitation claims the address for a new invitation.
//
// If the address is held by an older invitation, the caller loads that
// invitation and sets PreviousHoldEnded when it can no longer be accepted
// (revoked, expired, or its stream was never written because the process
// died between the two appends). The old hold is then released and the new
// one taken in the same append.
type HoldForInvitation struct {
	OrgID             OrgID
	InvitationID      InvitationID
	PreviousHoldEnded bool
}

// ReleaseInvitationHold frees the address from an invitation that ended
// (revoked). Releasing a hold the address no longer has is a no-op.
type ReleaseInvitationHold struct {
	InvitationID InvitationID
}

// ReserveMembership claims the address for a member: accepting an
// invitation, a verified self-service registration, a manual add or the
// bootstrap owner. It is refused only if the address already has a member.
type ReserveMembership struct {
	OrgID        OrgID
	UserID       UserID
	Via          JoinedVia
	InvitationID InvitationID
}

// ReleaseMembership frees the address after its member was removed.
type ReleaseMembership struct {
	UserID UserID
}

func (HoldForInvitation) membershipCommand()     {}
func (ReleaseInvitationHold) membershipCommand() {}
func (ReserveMembership) membershipCommand()     {}
func (ReleaseMembership) membershipCommand()     {}

func alreadyMember() error {
	return Conflict(CodeAlreadyMember, "this address already belongs to a member of the organization")
}

// DecideMembership decides a command against one address's guard. The
// time is unused today; it keeps the shape of every other Decide.
func DecideMembership(s MembershipState, cmd MembershipCommand, _ time.Time) ([]Event, error) {
	switch c := cmd.(type) {
	case HoldForInvitation:
		switch {
		case s.Status == MembershipActive:
			return nil, alreadyMember()
		case s.Status == MembershipInvited && s.InvitationID == c.InvitationID:
			return nil, nil // a retried append of the same invitation
		case s.Status == MembershipInvited && !c.PreviousHoldEnded:
			return nil, Conflict(CodeAlreadyInvited, "this address already has a pending invitation; resend it instead of inviting again")
		}
		held := MembershipInvitationHeld{OrgID: c.OrgID, InvitationID: c.InvitationID}
		if s.Status == MembershipInvited {
			return []Event{MembershipInvitationReleased{OrgID: s.OrgID, InvitationID: s.InvitationID}, held}, nil
		}
		return []Event{held}, nil
	case ReleaseInvitationHold:
		if s.Status != MembershipInvited || s.InvitationID != c.InvitationID {
			return nil, nil
		}
		return []Event{MembershipInvitationReleased{OrgID: s.OrgID, InvitationID: c.InvitationID}}, nil
	case ReserveMembership:
		if s.Status == MembershipActive {
			if s.UserID == c.UserID {
				return nil, nil // a retried append of the same reservation
			}
			return nil, alreadyMember()
		}
		if c.OrgID == "" || c.UserID == "" {
			return nil, Invalid(CodeValidationFailed, "organization and user ids are required to reserve a membership")
		}
		return []Event{MembershipReserved{OrgID: c.OrgID, UserID: c.UserID, Via: c.Via, InvitationID: c.InvitationID}}, nil
	case ReleaseMembership:
		if s.Status != MembershipActive || s.UserID != c.UserID {
			return nil, nil
		}
		return []Event{MembershipReleased{OrgID: s.OrgID, UserID: c.UserID}}, nil
	}
	return nil, Invalid(CodeValidationFailed, "unsupported membership command %T", cmd)
}

// EvolveMembership applies one event to an address's guard.
func EvolveMembership(s MembershipState, e Event) MembershipState {
	switch e := e.(type) {
	case MembershipInvitationHeld:
		s = MembershipState{OrgID: e.OrgID, Status: MembershipInvited, InvitationID: e.InvitationID}
	case MembershipInvitationReleased:
		if s.Status == MembershipInvited && s.InvitationID == e.InvitationID {
			s = MembershipState{OrgID: e.OrgID}
		}
	case MembershipReserved:
		s = MembershipState{OrgID: e.OrgID, Status: MembershipActive, UserID: e.UserID, InvitationID: e.InvitationID}
	case MembershipReleased:
		s = MembershipState{OrgID: e.OrgID}
	}
	return s
}
