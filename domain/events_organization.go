package domain

import "time"

// Event type names of the organization stream. Stored forever: never change
// a value.
const (
	TypeOrganizationCreated       = "OrganizationCreated"
	TypeMemberJoined              = "MemberJoined"
	TypeMemberRoleChanged         = "MemberRoleChanged"
	TypeMemberRemoved             = "MemberRemoved"
	TypeSelfServiceLinkConfigured = "SelfServiceLinkConfigured"
	TypeSelfServiceLinkRotated    = "SelfServiceLinkRotated"
)

// OrganizationCreated starts an organization. Its self-service link exists
// from this moment, enabled, with generation LinkGeneration and default
// settings (any domain, role member, no expiry, no use limit).
type OrganizationCreated struct {
	OrgID          OrgID  `json:"orgId"`
	Name           string `json:"name"`
	LinkGeneration int    `json:"linkGeneration"`
}

// MemberJoined adds a member to the roster, however they came in (Via).
// A manual add is a MemberJoined with Via "manual"; one event type for
// joining keeps the roster and the read models to a single code path.
type MemberJoined struct {
	OrgID           OrgID     `json:"orgId"`
	UserID          UserID    `json:"userId"`
	Email           string    `json:"email"`
	NormalizedEmail string    `json:"normalizedEmail"`
	Name            string    `json:"name"`
	Role            Role      `json:"role"`
	Via             JoinedVia `json:"via"`
	// InvitedBy is the inviter (Via invitation) or the admin who added the
	// member (Via manual); the lineage read model follows it.
	InvitedBy      UserID         `json:"invitedBy,omitempty"`
	InvitationID   InvitationID   `json:"invitationId,omitempty"`
	RegistrationID RegistrationID `json:"registrationId,omitempty"`
	// LinkGeneration is the self-service link generation used (Via
	// self_service_link); it counts as one use of that link.
	LinkGeneration int `json:"linkGeneration,omitempty"`
}

// MemberRoleChanged records a role change; From keeps the audit readable
// without replaying the roster.
type MemberRoleChanged struct {
	OrgID  OrgID  `json:"orgId"`
	UserID UserID `json:"userId"`
	From   Role   `json:"from"`
	To     Role   `json:"to"`
}

// MemberRemoved takes a member off the roster.
type MemberRemoved struct {
	OrgID           OrgID  `json:"orgId"`
	UserID          UserID `json:"userId"`
	NormalizedEmail string `json:"normalizedEmail"`
}

// SelfServiceLinkConfigured is the complete new settings of the link (not
// a diff), so projections need no history to show them.
type SelfServiceLinkConfigured struct {
	OrgID          OrgID      `json:"orgId"`
	Enabled        bool       `json:"enabled"`
	AllowedDomains []string   `json:"allowedDomains"`
	DefaultRole    Role       `json:"defaultRole"`
	ExpiresAt      *time.Time `json:"expiresAt,omitempty"`
	MaxUses        int        `json:"maxUses,omitempty"` // 0: unlimited
}

// SelfServiceLinkRotated issues a new link token generation; tokens of
// older generations stop working at once, and the use count starts over.
type SelfServiceLinkRotated struct {
	OrgID      OrgID `json:"orgId"`
	Generation int   `json:"generation"`
}

func (OrganizationCreated) EventType() string       { return TypeOrganizationCreated }
func (MemberJoined) EventType() string              { return TypeMemberJoined }
func (MemberRoleChanged) EventType() string         { return TypeMemberRoleChanged }
func (MemberRemoved) EventType() string             { return TypeMemberRemoved }
func (SelfServiceLinkConfigured) EventType() string { return TypeSelfServiceLinkConfigured }
func (SelfServiceLinkRotated) EventType() string    { return TypeSelfServiceLinkRotated }
