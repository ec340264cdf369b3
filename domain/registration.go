package domain

import "time"

// DefaultVerificationTTL is how long the verification link of a
// self-service registration stays valid unless the command says otherwise.
const DefaultVerificationTTL = 24 * time.Hour

// RegistrationStatus is where a self-service registration stands.
type RegistrationStatus string

const (
	RegistrationPending          RegistrationStatus = "pending_verification"
	RegistrationByExistingMember RegistrationStatus = "existing_member"
	RegistrationVerified         RegistrationStatus = "verified"
	RegistrationClosed           RegistrationStatus = "rejected"
)

// RegistrationState is one self-service registration folded from its
// stream. Anyone holding the link can start one, so nothing becomes a
// member until the address is proven by the mailed verification token.
type RegistrationState struct {
	ID              RegistrationID
	OrgID           OrgID
	Email           string
	NormalizedEmail string
	Name            string
	PasswordHash    string
	LinkGeneration  int
	Status          RegistrationStatus
	Generation      int // verification token generation
	ExpiresAt       time.Time
	UserID          UserID // set once verified
	RejectedCode    string

	MailedGeneration int
	MailFailure      string
}

// Exists reports whether the registration was started.
func (s RegistrationState) Exists() bool { return s.ID != "" }

// MailDue reports whether the reactor should send this registration's mail:
// the verification mail while it is pending and unexpired, or the "you
// already have an account" mail for an existing member; once each.
func (s RegistrationState) MailDue(now time.Time) bool {
	if s.MailedGeneration >= s.Generation {
		return false
	}
	switch s.Status {
	case RegistrationPending:
		return now.Before(s.ExpiresAt)
	case RegistrationByExistingMember:
		return true
	}
	return false
}

// RegistrationCommand is a command decided by DecideRegistration.
type RegistrationCommand interface{ registrationCommand() }

// StartRegistration registers through the self-service link. The caller
// passes the organization's current link (from the organization state it
// loaded) and whether the address already belongs to a member (from the
// membership stream). Both outcomes look the same to the public caller.
type StartRegistration struct {
	RegistrationID RegistrationID
	OrgID          OrgID
	Email          Email
	Name           string
	PasswordHash   string // already checked (CheckPassword) and hashed by the caller
	LinkGeneration int    // from the link token
	Link           SelfServiceLink
	AlreadyMember  bool
	TTL            time.Duration // 0 means DefaultVerificationTTL
}

// VerifyRegistrationEmail proves the address with the mailed token.
// UserID is the id of the account the caller will create.
type VerifyRegistrationEmail struct {
	Generation int
	UserID     UserID
}

// RejectRegistration closes a registration whose member cannot be admitted
// (Code is the domain error code that said why).
type RejectRegistration struct {
	Code string
}

// RecordRegistrationEmail records the outcome of mailing Generation.
type RecordRegistrationEmail struct {
	Generation    int
	MessageID     string
	FailureReason string
}

func (StartRegistration) registrationCommand()       {}
func (VerifyRegistrationEmail) registrationCommand() {}
func (RejectRegistration) registrationCommand()      {}
func (RecordRegistrationEmail) registrationCommand() {}

// DecideRegistration decides a command against one registration.
func DecideRegistration(s RegistrationState, cmd RegistrationCommand, now time.Time) ([]Event, error) {
	if c, ok := cmd.(StartRegistration); ok {
		return startRegistration(s, c, now)
	}
	if !s.Exists() {
		return nil, NotFound(CodeRegistrationNotFound, "this verification link is not valid; check that you copied the whole link")
	}
	switch c := cmd.(type) {
	case VerifyRegistrationEmail:
		return verifyRegistration(s, c, now)
	case RejectRegistration:
		if s.Status == RegistrationClosed {
			return nil, nil
		}
		return []Event{RegistrationRejected{RegistrationID: s.ID, OrgID: s.OrgID, Code: c.Code}}, nil
	case RecordRegistrationEmail:
		if c.Generation < 1 || c.Generation > s.Generation {
			return nil, Invalid(CodeValidationFailed, "no registration mail of generation %d exists", c.Generation)
		}
		if c.Generation <= s.MailedGeneration {
			return nil, nil
		}
		member := s.Status == RegistrationByExistingMember
		switch {
		case member && c.FailureReason != "":
			return []Event{AlreadyMemberEmailFailed{RegistrationID: s.ID, OrgID: s.OrgID, Generation: c.Generation, Reason: c.FailureReason}}, nil
		case member:
			return []Event{AlreadyMemberEmailSent{RegistrationID: s.ID, OrgID: s.OrgID, Generation: c.Generation, MessageID: c.MessageID}}, nil
		case c.FailureReason != "":
			return []Event{VerificationEmailFailed{RegistrationID: s.ID, OrgID: s.OrgID, Generation: c.Generation, Reason: c.FailureReason}}, nil
		}
		return []Event{VerificationEmailSent{RegistrationID: s.ID, OrgID: s.OrgID, Generation: c.Generation, MessageID: c.MessageID}}, nil
	}
	return nil, Invalid(CodeValidationFailed, "unsupported registration command %T", cmd)
}

func startRegistration(s RegistrationState, c StartRegistration, now time.Time) ([]Event, error) {
	if s.Exists() {
		return nil, Conflict(CodeRegistrationExists, "a registration with this id already exists")
	}
	// The link is checked before anything that depends on the address's
	// membership, so a refusal never reveals whether it is a member.
	if err := c.Link.Admits(c.LinkGeneration, c.Email, now); err != nil {
		return nil, err
	}
	problems := fieldErrors{}
	name, err := ParsePersonName(c.Name)
	problems.add("name", err)
	if c.PasswordHash == "" && !c.AlreadyMember {
		problems["password"] = "the password is missing"
	}
	if c.TTL < 0 {
		problems["ttl"] = "the validity period cannot be negative"
	}
	if c.RegistrationID == "" || c.OrgID == "" {
		problems["id"] = "registration and organization ids are required"
	}
	if err := problems.err(CodeValidationFailed, "the registration cannot be started; fix the fields listed"); err != nil {
		return nil, err
	}
	if c.AlreadyMember {
		return []Event{RegistrationAttemptedByMember{
			RegistrationID: c.RegistrationID, OrgID: c.OrgID,
			Email: c.Email.String(), NormalizedEmail: c.Email.Normalized(),
			LinkGeneration: c.LinkGeneration, Generation: 1,
		}}, nil
	}
	ttl := c.TTL
	if ttl == 0 {
		ttl = DefaultVerificationTTL
	}
	return []Event{RegistrationStarted{
		RegistrationID: c.RegistrationID, OrgID: c.OrgID,
		Email: c.Email.String(), NormalizedEmail: c.Email.Normalized(),
		Name: name, PasswordHash: c.PasswordHash, LinkGeneration: c.LinkGeneration,
		Generation: 1, ExpiresAt: now.Add(ttl).UTC(),
	}}, nil
}

func verifyRegistration(s RegistrationState, c VerifyRegistrationEmail, now time.Time) ([]Event, error) {
	switch {
	case s.Status == RegistrationByExistingMember || c.Generation < 1 || c.Generation > s.Generation:
		return nil, NotFound(CodeRegistrationNotFound, "this verification link is not valid; check that you copied the whole link")
	case s.Status == RegistrationVerified && s.UserID == c.UserID:
		return nil, nil // a retry of the verification that already happened
	case s.Status == RegistrationVerified:
		return nil, Gone(CodeVerificationUsed, "this address is already verified; sign in instead")
	case s.Status == RegistrationClosed:
		return nil, Gone(CodeRegistrationClosed, "this registration can no longer be completed; ask the organization for a new link or an invitation")
	case c.Generation < s.Generation:
		return nil, Gone(CodeVerificationSuperseded, "a newer verification email was sent; use the link in the most recent one")
	case !now.Before(s.ExpiresAt):
		return nil, Gone(CodeVerificationExpired, "this verification link has expired; register again through the organization's link")
	case c.UserID == "":
		return nil, Invalid(CodeValidationFailed, "the user id for the new account is missing")
	}
	return []Event{RegistrationEmailVerified{RegistrationID: s.ID, OrgID: s.OrgID, UserID: c.UserID, Generation: c.Generation}}, nil
}

// EvolveRegistration applies one event to a registration.
func EvolveRegistration(s RegistrationState, e Event) RegistrationState {
	switch e := e.(type) {
	case RegistrationStarted:
		s = RegistrationState{
			ID: e.RegistrationID, OrgID: e.OrgID, Email: e.Email, NormalizedEmail: e.NormalizedEmail,
			Name: e.Name, PasswordHash: e.PasswordHash, LinkGeneration: e.LinkGeneration,
			Status: RegistrationPending, Generation: e.Generation, ExpiresAt: e.ExpiresAt,
		}
	case RegistrationAttemptedByMember:
		s = RegistrationState{
			ID: e.RegistrationID, OrgID: e.OrgID, Email: e.Email, NormalizedEmail: e.NormalizedEmail,
			LinkGeneration: e.LinkGeneration, Status: RegistrationByExistingMember, Generation: e.Generation,
		}
	case RegistrationEmailVerified:
		s.Status = RegistrationVerified
		s.UserID = e.UserID
	case RegistrationRejected:
		s.Status = RegistrationClosed
		s.RejectedCode = e.Code
	case VerificationEmailSent:
		s.MailedGeneration, s.MailFailure = max(s.MailedGeneration, e.Generation), ""
	case AlreadyMemberEmailSent:
		s.MailedGeneration, s.MailFailure = max(s.MailedGeneration, e.Generation), ""
	case VerificationEmailFailed:
		s.MailedGeneration, s.MailFailure = max(s.MailedGeneration, e.Generation), e.Reason
	case AlreadyMemberEmailFailed:
		s.MailedGeneration, s.MailFailure = max(s.MailedGeneration, e.Generation), e.Reason
	}
	return s
}
