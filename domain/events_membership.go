package domain

// Event type names of the membership guard stream (one per organization and
// normalized address; see MembershipStream).
const (
	TypeMembershipInvitationHeld     = "MembershipInvitationHeld"
	TypeMembershipInvitationReleased = "MembershipInvitationReleased"
	TypeMembershipReserved           = "MembershipReserved"
	TypeMembershipReleased           = "MembershipReleased"
)

// MembershipInvitationHeld marks the address as invited by InvitationID, so
// a second invitation of the same address is refused.
type MembershipInvitationHeld struct {
	OrgID        OrgID        `json:"orgId"`
	InvitationID InvitationID `json:"invitationId"`
}

// MembershipInvitationReleased frees the address from an invitation that
// ended without a membership (revoked, expired).
type MembershipInvitationReleased struct {
	OrgID        OrgID        `json:"orgId"`
	InvitationID InvitationID `json:"invitationId"`
}

// MembershipReserved claims the address for one member. Only one claim can
// stand: writers append with the expected revision of the state they
// decided on (no stream at all for a never-used address).
type MembershipReserved struct {
	OrgID        OrgID        `json:"orgId"`
	UserID       UserID       `json:"userId"`
	Via          JoinedVia    `json:"via"`
	InvitationID InvitationID `json:"invitationId,omitempty"`
}

// MembershipReleased frees the address after the member was removed, so it
// can be invited again.
type MembershipReleased struct {
	OrgID  OrgID  `json:"orgId"`
	UserID UserID `json:"userId"`
}

func (MembershipInvitationHeld) EventType() string     { return TypeMembershipInvitationHeld }
func (MembershipInvitationReleased) EventType() string { return TypeMembershipInvitationReleased }
func (MembershipReserved) EventType() string           { return TypeMembershipReserved }
func (MembershipReleased) EventType() string           { return TypeMembershipReleased }
