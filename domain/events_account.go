package domain

import "time"

// Event type names of the account (user) stream.
const (
	TypeAccountCreated           = "AccountCreated"
	TypePasswordSetupRequested   = "PasswordSetupRequested"
	TypePasswordSet              = "PasswordSet"
	TypePasswordResetRequested   = "PasswordResetRequested"
	TypePasswordResetCompleted   = "PasswordResetCompleted"
	TypeAccountClosed            = "AccountClosed"
	TypeSetPasswordEmailSent     = "SetPasswordEmailSent"
	TypeSetPasswordEmailFailed   = "SetPasswordEmailFailed"
	TypePasswordResetEmailSent   = "PasswordResetEmailSent"
	TypePasswordResetEmailFailed = "PasswordResetEmailFailed"
)

// AccountCreated creates the account of one person in one organization.
//
// PasswordHash (also in PasswordSet and PasswordResetCompleted) is the
// adaptive hash of the password, a PHC string such as "$argon2id$…". It
// lives in the account's own events because sign-in must be answerable from
// the write side after any replay; it is a verifier, not a token, so the
// rule "no raw token in an event" holds. Projections and the audit trail
// must never copy it. Empty when the person sets the password later (a
// manual add).
type AccountCreated struct {
	UserID          UserID    `json:"userId"`
	OrgID           OrgID     `json:"orgId"`
	Email           string    `json:"email"`
	NormalizedEmail string    `json:"normalizedEmail"`
	Name            string    `json:"name"`
	PasswordHash    string    `json:"passwordHash,omitempty"`
	Via             JoinedVia `json:"via"`
}

// PasswordSetupRequested issues a set-your-password token (generation) for
// an account created without a password; the mail reactor mails the link.
type PasswordSetupRequested struct {
	UserID     UserID    `json:"userId"`
	OrgID      OrgID     `json:"orgId"`
	Generation int       `json:"generation"`
	ExpiresAt  time.Time `json:"expiresAt"`
}

// PasswordSet records the first password, chosen through the setup link.
type PasswordSet struct {
	UserID       UserID `json:"userId"`
	OrgID        OrgID  `json:"orgId"`
	Generation   int    `json:"generation"`
	PasswordHash string `json:"passwordHash"`
}

// PasswordResetRequested issues a reset token generation, valid until
// ExpiresAt; any older password token stops working.
type PasswordResetRequested struct {
	UserID     UserID    `json:"userId"`
	OrgID      OrgID     `json:"orgId"`
	Generation int       `json:"generation"`
	ExpiresAt  time.Time `json:"expiresAt"`
}

// PasswordResetCompleted replaces the password and uses the token up.
type PasswordResetCompleted struct {
	UserID       UserID `json:"userId"`
	OrgID        OrgID  `json:"orgId"`
	Generation   int    `json:"generation"`
	PasswordHash string `json:"passwordHash"`
}

// AccountClosed ends an account (its member was removed): it can no longer
// sign in or reset its password.
type AccountClosed struct {
	UserID UserID `json:"userId"`
	OrgID  OrgID  `json:"orgId"`
}

// SetPasswordEmailSent records the set-your-password mail for Generation.
type SetPasswordEmailSent struct {
	UserID     UserID `json:"userId"`
	OrgID      OrgID  `json:"orgId"`
	Generation int    `json:"generation"`
	MessageID  string `json:"messageId,omitempty"`
}

// SetPasswordEmailFailed records a permanent delivery failure.
type SetPasswordEmailFailed struct {
	UserID     UserID `json:"userId"`
	OrgID      OrgID  `json:"orgId"`
	Generation int    `json:"generation"`
	Reason     string `json:"reason"`
}

// PasswordResetEmailSent records the password-reset mail for Generation.
type PasswordResetEmailSent struct {
	UserID     UserID `json:"userId"`
	OrgID      OrgID  `json:"orgId"`
	Generation int    `json:"generation"`
	MessageID  string `json:"messageId,omitempty"`
}

// PasswordResetEmailFailed records a permanent delivery failure.
type PasswordResetEmailFailed struct {
	UserID     UserID `json:"userId"`
	OrgID      OrgID  `json:"orgId"`
	Generation int    `json:"generation"`
	Reason     string `json:"reason"`
}

func (AccountCreated) EventType() string           { return TypeAccountCreated }
func (PasswordSetupRequested) EventType() string   { return TypePasswordSetupRequested }
func (PasswordSet) EventType() string              { return TypePasswordSet }
func (PasswordResetRequested) EventType() string   { return TypePasswordResetRequested }
func (PasswordResetCompleted) EventType() string   { return TypePasswordResetCompleted }
func (AccountClosed) EventType() string            { return TypeAccountClosed }
func (SetPasswordEmailSent) EventType() string     { return TypeSetPasswordEmailSent }
func (SetPasswordEmailFailed) EventType() string   { return TypeSetPasswordEmailFailed }
func (PasswordResetEmailSent) EventType() string   { return TypePasswordResetEmailSent }
func (PasswordResetEmailFailed) EventType() string { return TypePasswordResetEmailFailed }
