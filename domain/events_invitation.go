package domain

import "time"

// Event type names of the invitation stream.
const (
	TypeUserInvited           = "UserInvited"
	TypeInvitationResent      = "InvitationResent"
	TypeInvitationRevoked     = "InvitationRevoked"
	TypeInvitationAccepted    = "InvitationAccepted"
	TypeInvitationEmailSent   = "InvitationEmailSent"
	TypeInvitationEmailFailed = "InvitationEmailFailed"
)

// UserInvited issues an invitation. Generation is the token generation the
// token service derives the invitation token from (HMAC over id and
// generation); the token itself is never stored.
type UserInvited struct {
	InvitationID    InvitationID `json:"invitationId"`
	OrgID           OrgID        `json:"orgId"`
	Email           string       `json:"email"`
	NormalizedEmail string       `json:"normalizedEmail"`
	Role            Role         `json:"role"`
	InvitedBy       UserID       `json:"invitedBy"`
	Generation      int          `json:"generation"`
	ExpiresAt       time.Time    `json:"expiresAt"`
	// Name is the invitee's name as the inviter gave it (pasted before the
	// address); absent when not given, and in events written before it
	// existed.
	Name string `json:"name,omitempty"`
}

// InvitationResent issues a new token generation, killing the previous
// token, and restarts the expiry. The mail reactor mails the new one.
type InvitationResent struct {
	InvitationID InvitationID `json:"invitationId"`
	OrgID        OrgID        `json:"orgId"`
	Generation   int          `json:"generation"`
	ExpiresAt    time.Time    `json:"expiresAt"`
}

// InvitationRevoked withdraws a pending invitation.
type InvitationRevoked struct {
	InvitationID InvitationID `json:"invitationId"`
	OrgID        OrgID        `json:"orgId"`
}

// InvitationAccepted uses the invitation up; UserID is the account created
// for the invited address.
type InvitationAccepted struct {
	InvitationID InvitationID `json:"invitationId"`
	OrgID        OrgID        `json:"orgId"`
	UserID       UserID       `json:"userId"`
	Generation   int          `json:"generation"`
}

// InvitationEmailSent records that the mail for Generation was accepted by
// the SMTP server, so it is never sent again.
type InvitationEmailSent struct {
	InvitationID InvitationID `json:"invitationId"`
	OrgID        OrgID        `json:"orgId"`
	Generation   int          `json:"generation"`
	MessageID    string       `json:"messageId,omitempty"`
}

// InvitationEmailFailed records a permanent delivery failure for Generation
// (transient ones are retried and never recorded).
type InvitationEmailFailed struct {
	InvitationID InvitationID `json:"invitationId"`
	OrgID        OrgID        `json:"orgId"`
	Generation   int          `json:"generation"`
	Reason       string       `json:"reason"`
}

func (UserInvited) EventType() string           { return TypeUserInvited }
func (InvitationResent) EventType() string      { return TypeInvitationResent }
func (InvitationRevoked) EventType() string     { return TypeInvitationRevoked }
func (InvitationAccepted) EventType() string    { return TypeInvitationAccepted }
func (InvitationEmailSent) EventType() string   { return TypeInvitationEmailSent }
func (InvitationEmailFailed) EventType() string { return TypeInvitationEmailFailed }
