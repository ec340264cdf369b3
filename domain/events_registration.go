package domain

import "time"

// Event type names of the self-service registration stream.
const (
	TypeRegistrationStarted           = "RegistrationStarted"
	TypeRegistrationAttemptedByMember = "RegistrationAttemptedByMember"
	TypeRegistrationEmailVerified     = "RegistrationEmailVerified"
	TypeRegistrationRejected          = "RegistrationRejected"
	TypeVerificationEmailSent         = "VerificationEmailSent"
	TypeVerificationEmailFailed       = "VerificationEmailFailed"
	TypeAlreadyMemberEmailSent        = "AlreadyMemberEmailSent"
	TypeAlreadyMemberEmailFailed      = "AlreadyMemberEmailFailed"
)

// RegistrationStarted records someone registering through the self-service
// link; they become a member only once the address is verified.
// Generation is the verification token generation.
//
// PasswordHash is the adaptive hash (argon2id/bcrypt, PHC string) of the
// chosen password, kept here until verification creates the account. It is
// not a token: it cannot be replayed as a credential. Projections and the
// audit trail must never copy it.
type RegistrationStarted struct {
	RegistrationID  RegistrationID `json:"registrationId"`
	OrgID           OrgID          `json:"orgId"`
	Email           string         `json:"email"`
	NormalizedEmail string         `json:"normalizedEmail"`
	Name            string         `json:"name"`
	PasswordHash    string         `json:"passwordHash"`
	LinkGeneration  int            `json:"linkGeneration"`
	Generation      int            `json:"generation"`
	ExpiresAt       time.Time      `json:"expiresAt"`
}

// RegistrationAttemptedByMember records a registration for an address that
// already belongs to a member. The public answer is the same as for a new
// registration (no account enumeration); the mail reactor sends a "you
// already have an account" mail instead of a verification mail.
type RegistrationAttemptedByMember struct {
	RegistrationID  RegistrationID `json:"registrationId"`
	OrgID           OrgID          `json:"orgId"`
	Email           string         `json:"email"`
	NormalizedEmail string         `json:"normalizedEmail"`
	LinkGeneration  int            `json:"linkGeneration"`
	Generation      int            `json:"generation"`
}

// RegistrationEmailVerified records that the person proved the address;
// UserID is the account about to be created for them.
type RegistrationEmailVerified struct {
	RegistrationID RegistrationID `json:"registrationId"`
	OrgID          OrgID          `json:"orgId"`
	UserID         UserID         `json:"userId"`
	Generation     int            `json:"generation"`
}

// RegistrationRejected closes a registration that cannot lead to a
// membership (the link was rotated or used up, or the address became a
// member meanwhile). Code is the domain error code that explains why.
type RegistrationRejected struct {
	RegistrationID RegistrationID `json:"registrationId"`
	OrgID          OrgID          `json:"orgId"`
	Code           string         `json:"code"`
}

// VerificationEmailSent records the verification mail for Generation.
type VerificationEmailSent struct {
	RegistrationID RegistrationID `json:"registrationId"`
	OrgID          OrgID          `json:"orgId"`
	Generation     int            `json:"generation"`
	MessageID      string         `json:"messageId,omitempty"`
}

// VerificationEmailFailed records a permanent delivery failure.
type VerificationEmailFailed struct {
	RegistrationID RegistrationID `json:"registrationId"`
	OrgID          OrgID          `json:"orgId"`
	Generation     int            `json:"generation"`
	Reason         string         `json:"reason"`
}

// AlreadyMemberEmailSent records the "you already have an account" mail.
type AlreadyMemberEmailSent struct {
	RegistrationID RegistrationID `json:"registrationId"`
	OrgID          OrgID          `json:"orgId"`
	Generation     int            `json:"generation"`
	MessageID      string         `json:"messageId,omitempty"`
}

// AlreadyMemberEmailFailed records a permanent delivery failure.
type AlreadyMemberEmailFailed struct {
	RegistrationID RegistrationID `json:"registrationId"`
	OrgID          OrgID          `json:"orgId"`
	Generation     int            `json:"generation"`
	Reason         string         `json:"reason"`
}

func (RegistrationStarted) EventType() string           { return TypeRegistrationStarted }
func (RegistrationAttemptedByMember) EventType() string { return TypeRegistrationAttemptedByMember }
func (RegistrationEmailVerified) EventType() string     { return TypeRegistrationEmailVerified }
func (RegistrationRejected) EventType() string          { return TypeRegistrationRejected }
func (VerificationEmailSent) EventType() string         { return TypeVerificationEmailSent }
func (VerificationEmailFailed) EventType() string       { return TypeVerificationEmailFailed }
func (AlreadyMemberEmailSent) EventType() string        { return TypeAlreadyMemberEmailSent }
func (AlreadyMemberEmailFailed) EventType() string      { return TypeAlreadyMemberEmailFailed }
