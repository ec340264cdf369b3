package domain

import "time"

// Validity of password tokens unless the command says otherwise. A reset
// link is short-lived because it is requested by whoever knows the address;
// a set-your-password link follows a deliberate admin action.
const (
	DefaultPasswordResetTTL = time.Hour
	DefaultPasswordSetupTTL = 7 * 24 * time.Hour
)

// PasswordTokenPurpose tells which page a password token belongs to.
type PasswordTokenPurpose string

const (
	PasswordTokenSetup PasswordTokenPurpose = "setup" // set-your-password after a manual add
	PasswordTokenReset PasswordTokenPurpose = "reset" // forgotten password
)

// PasswordToken is the one outstanding password token of an account.
// Issuing a new one (of either purpose) supersedes it; using it clears it.
type PasswordToken struct {
	Purpose    PasswordTokenPurpose
	Generation int
	ExpiresAt  time.Time
}

// AccountState is one account (a person in one organization) folded from
// its user stream.
type AccountState struct {
	ID              UserID
	OrgID           OrgID
	Email           string
	NormalizedEmail string
	Name            string
	PasswordHash    string // empty until the password is set
	Via             JoinedVia
	Closed          bool

	// TokenGeneration is the last password token generation issued;
	// Pending is nil once it was used (or if none was ever issued).
	TokenGeneration int
	Pending         *PasswordToken

	MailedGeneration int
	MailFailure      string
}

// Exists reports whether the account was created.
func (s AccountState) Exists() bool { return s.ID != "" }

// CanSignIn reports whether a password sign-in may be attempted at all.
func (s AccountState) CanSignIn() bool { return s.Exists() && !s.Closed && s.PasswordHash != "" }

// MailDue reports whether the reactor should mail the outstanding password
// token (set-your-password or reset, by Pending.Purpose); once each.
func (s AccountState) MailDue(now time.Time) bool {
	return s.Exists() && !s.Closed && s.Pending != nil &&
		now.Before(s.Pending.ExpiresAt) && s.MailedGeneration < s.Pending.Generation
}

// CheckPasswordToken tells whether a token of the given purpose and
// generation can be used now.
func (s AccountState) CheckPasswordToken(purpose PasswordTokenPurpose, generation int, now time.Time) error {
	invalid := NotFound(CodePasswordTokenInvalid, "this link is not valid; check that you copied the whole link")
	switch {
	case !s.Exists() || generation < 1 || generation > s.TokenGeneration:
		return invalid
	case s.Closed:
		return Gone(CodeAccountClosed, "this account has been closed; ask the organization's admins")
	case generation < s.TokenGeneration:
		return Gone(CodePasswordTokenOutdated, "a newer link was sent to you; use the most recent email, or request a new link")
	case s.Pending == nil:
		return Gone(CodePasswordTokenUsed, "this link was already used; request a new one if you need to change your password again")
	case s.Pending.Purpose != purpose:
		return invalid
	case !now.Before(s.Pending.ExpiresAt):
		return Gone(CodePasswordTokenExpired, "this link has expired; request a new one")
	}
	return nil
}

// AccountCommand is a command decided by DecideAccount.
type AccountCommand interface{ accountCommand() }

// CreateAccount creates a person's account. With a PasswordHash (invitation
// accepted, registration verified, bootstrap) it is ready to sign in;
// without one (manual add) a set-your-password token is issued with it.
type CreateAccount struct {
	UserID       UserID
	OrgID        OrgID
	Email        Email
	Name         string
	PasswordHash string
	Via          JoinedVia
	SetupTTL     time.Duration // 0 means DefaultPasswordSetupTTL
}

// CompletePasswordSetup sets the first password through the setup link.
type CompletePasswordSetup struct {
	Generation   int
	PasswordHash string
}

// RequestPasswordReset issues a reset token.
type RequestPasswordReset struct {
	TTL time.Duration // 0 means DefaultPasswordResetTTL
}

// CompletePasswordReset replaces the password through the reset link.
type CompletePasswordReset struct {
	Generation   int
	PasswordHash string
}

// CloseAccount ends the account of a removed member.
type CloseAccount struct{}

// RecordAccountEmail records the outcome of mailing a password token.
type RecordAccountEmail struct {
	Generation    int
	MessageID     string
	FailureReason string
}

func (CreateAccount) accountCommand()         {}
func (CompletePasswordSetup) accountCommand() {}
func (RequestPasswordReset) accountCommand()  {}
func (CompletePasswordReset) accountCommand() {}
func (CloseAccount) accountCommand()          {}
func (RecordAccountEmail) accountCommand()    {}

// DecideAccount decides a command against one account.
func DecideAccount(s AccountState, cmd AccountCommand, now time.Time) ([]Event, error) {
	if c, ok := cmd.(CreateAccount); ok {
		return createAccount(s, c, now)
	}
	if !s.Exists() {
		return nil, NotFound(CodeAccountNotFound, "this account does not exist")
	}
	switch c := cmd.(type) {
	case CompletePasswordSetup:
		if err := s.CheckPasswordToken(PasswordTokenSetup, c.Generation, now); err != nil {
			return nil, err
		}
		if c.PasswordHash == "" {
			return nil, Invalid(CodeValidationFailed, "the password is missing").WithField("password", "the password is missing")
		}
		return []Event{PasswordSet{UserID: s.ID, OrgID: s.OrgID, Generation: c.Generation, PasswordHash: c.PasswordHash}}, nil
	case RequestPasswordReset:
		if s.Closed {
			return nil, Gone(CodeAccountClosed, "this account has been closed; ask the organization's admins")
		}
		ttl := c.TTL
		if ttl <= 0 {
			ttl = DefaultPasswordResetTTL
		}
		return []Event{PasswordResetRequested{
			UserID: s.ID, OrgID: s.OrgID, Generation: s.TokenGeneration + 1, ExpiresAt: now.Add(ttl).UTC(),
		}}, nil
	case CompletePasswordReset:
		if err := s.CheckPasswordToken(PasswordTokenReset, c.Generation, now); err != nil {
			return nil, err
		}
		if c.PasswordHash == "" {
			return nil, Invalid(CodeValidationFailed, "the password is missing").WithField("password", "the password is missing")
		}
		return []Event{PasswordResetCompleted{UserID: s.ID, OrgID: s.OrgID, Generation: c.Generation, PasswordHash: c.PasswordHash}}, nil
	case CloseAccount:
		if s.Closed {
			return nil, nil
		}
		return []Event{AccountClosed{UserID: s.ID, OrgID: s.OrgID}}, nil
	case RecordAccountEmail:
		if s.Pending == nil || c.Generation != s.Pending.Generation {
			// Only the outstanding token is ever mailed; a delivery result
			// for an older one is stale news.
			return nil, nil
		}
		if c.Generation <= s.MailedGeneration {
			return nil, nil
		}
		return []Event{accountMailEvent(s, c)}, nil
	}
	return nil, Invalid(CodeValidationFailed, "unsupported account command %T", cmd)
}

func accountMailEvent(s AccountState, c RecordAccountEmail) Event {
	setup := s.Pending.Purpose == PasswordTokenSetup
	switch {
	case setup && c.FailureReason != "":
		return SetPasswordEmailFailed{UserID: s.ID, OrgID: s.OrgID, Generation: c.Generation, Reason: c.FailureReason}
	case setup:
		return SetPasswordEmailSent{UserID: s.ID, OrgID: s.OrgID, Generation: c.Generation, MessageID: c.MessageID}
	case c.FailureReason != "":
		return PasswordResetEmailFailed{UserID: s.ID, OrgID: s.OrgID, Generation: c.Generation, Reason: c.FailureReason}
	}
	return PasswordResetEmailSent{UserID: s.ID, OrgID: s.OrgID, Generation: c.Generation, MessageID: c.MessageID}
}

func createAccount(s AccountState, c CreateAccount, now time.Time) ([]Event, error) {
	if s.Exists() {
		return nil, Conflict(CodeAccountExists, "this account already exists")
	}
	problems := fieldErrors{}
	name, err := ParsePersonName(c.Name)
	problems.add("name", err)
	if c.Email.IsZero() {
		problems["email"] = "the email address is missing"
	}
	if c.UserID == "" || c.OrgID == "" {
		problems["id"] = "user and organization ids are required"
	}
	if c.SetupTTL < 0 {
		problems["setupTtl"] = "the validity period cannot be negative"
	}
	if err := problems.err(CodeValidationFailed, "the account cannot be created; fix the fields listed"); err != nil {
		return nil, err
	}
	events := []Event{AccountCreated{
		UserID: c.UserID, OrgID: c.OrgID, Email: c.Email.String(), NormalizedEmail: c.Email.Normalized(),
		Name: name, PasswordHash: c.PasswordHash, Via: c.Via,
	}}
	if c.PasswordHash == "" {
		ttl := c.SetupTTL
		if ttl == 0 {
			ttl = DefaultPasswordSetupTTL
		}
		events = append(events, PasswordSetupRequested{UserID: c.UserID, OrgID: c.OrgID, Generation: 1, ExpiresAt: now.Add(ttl).UTC()})
	}
	return events, nil
}

// EvolveAccount applies one event to an account.
func EvolveAccount(s AccountState, e Event) AccountState {
	switch e := e.(type) {
	case AccountCreated:
		s = AccountState{
			ID: e.UserID, OrgID: e.OrgID, Email: e.Email, NormalizedEmail: e.NormalizedEmail,
			Name: e.Name, PasswordHash: e.PasswordHash, Via: e.Via,
		}
	case PasswordSetupRequested:
		s.TokenGeneration = e.Generation
		s.Pending = &PasswordToken{Purpose: PasswordTokenSetup, Generation: e.Generation, ExpiresAt: e.ExpiresAt}
	case PasswordResetRequested:
		s.TokenGeneration = e.Generation
		s.Pending = &PasswordToken{Purpose: PasswordTokenReset, Generation: e.Generation, ExpiresAt: e.ExpiresAt}
	case PasswordSet:
		s.PasswordHash = e.PasswordHash
		s.Pending = nil
	case PasswordResetCompleted:
		s.PasswordHash = e.PasswordHash
		s.Pending = nil
	case AccountClosed:
		s.Closed = true
		s.Pending = nil
	case SetPasswordEmailSent:
		s.MailedGeneration, s.MailFailure = max(s.MailedGeneration, e.Generation), ""
	case PasswordResetEmailSent:
		s.MailedGeneration, s.MailFailure = max(s.MailedGeneration, e.Generation), ""
	case SetPasswordEmailFailed:
		s.MailedGeneration, s.MailFailure = max(s.MailedGeneration, e.Generation), e.Reason
	case PasswordResetEmailFailed:
		s.MailedGeneration, s.MailFailure = max(s.MailedGeneration, e.Generation), e.Reason
	}
	return s
}
