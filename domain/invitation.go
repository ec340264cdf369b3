package domain

import "time"

// DefaultInvitationTTL is how long an invitation (or a resent one) stays
// valid unless the command says otherwise.
const DefaultInvitationTTL = 7 * 24 * time.Hour

// InvitationStatus is the stored lifecycle state. "Expired" is not stored:
// it depends on the clock, so it is computed (see Expired).
type InvitationStatus string

const (
	InvitationStatusPending  InvitationStatus = "pending"
	InvitationStatusAccepted InvitationStatus = "accepted"
	InvitationStatusRevoked  InvitationStatus = "revoked"
)

// InvitationState is one invitation folded from its stream.
type InvitationState struct {
	ID              InvitationID
	OrgID           OrgID
	Email           string
	NormalizedEmail string
	Role            Role
	InvitedBy       UserID
	Name            string // as the inviter gave it; empty when not given
	Status          InvitationStatus
	Generation      int // current token generation; older tokens are dead
	ExpiresAt       time.Time
	AcceptedBy      UserID
	// MailedGeneration is the last generation whose mail delivery was
	// recorded (sent or permanently failed); the reactor mails only newer.
	MailedGeneration int
	MailFailure      string // reason of the last permanent failure, if any
}

// Exists reports whether the invitation was issued.
func (s InvitationState) Exists() bool { return s.ID != "" }

// Expired reports whether a pending invitation has run out at now.
func (s InvitationState) Expired(now time.Time) bool { return !now.Before(s.ExpiresAt) }

// Open reports whether the invitation can still be accepted at now, i.e.
// it still holds its address.
func (s InvitationState) Open(now time.Time) bool {
	return s.Exists() && s.Status == InvitationStatusPending && !s.Expired(now)
}

// MailDue reports whether the reactor should mail the current token: the
// invitation is open and this generation's delivery is not recorded yet.
// A replay or a second reactor sees the recorded delivery and sends nothing.
func (s InvitationState) MailDue(now time.Time) bool {
	return s.Open(now) && s.MailedGeneration < s.Generation
}

// CheckToken tells whether a token of the given generation can be used now
// (to show the invitation page or to accept). Each way a token dies has its
// own code, so the page can say what happened.
func (s InvitationState) CheckToken(generation int, now time.Time) error {
	switch {
	case !s.Exists() || generation < 1 || generation > s.Generation:
		return NotFound(CodeInvitationNotFound, "this invitation link is not valid; check that you copied the whole link")
	case s.Status == InvitationStatusAccepted:
		return Gone(CodeInvitationUsed, "this invitation has already been accepted; sign in instead, or ask for a new invitation")
	case s.Status == InvitationStatusRevoked:
		return Gone(CodeInvitationRevoked, "this invitation was withdrawn; ask the organization for a new invitation")
	case generation < s.Generation:
		return Gone(CodeInvitationSuperseded, "a newer invitation was sent to you; use the link in the most recent invitation email, or ask for a new one")
	case s.Expired(now):
		return Gone(CodeInvitationExpired, "this invitation has expired; ask the organization for a new invitation")
	}
	return nil
}

// InvitationCommand is a command decided by DecideInvitation.
type InvitationCommand interface{ invitationCommand() }

// InviteUser issues a new invitation. Authorization (the inviter is an
// admin of OrgID) is checked by the caller on the organization state; the
// one-invitation-per-address rule is the membership stream's.
type InviteUser struct {
	InvitationID InvitationID
	OrgID        OrgID
	Email        Email
	Role         Role // admin or member; empty means member
	InvitedBy    UserID
	TTL          time.Duration // 0 means DefaultInvitationTTL
	// Name is the invitee's name as the inviter knows it (optional): the
	// Users page shows it until they join, and the acceptance page offers
	// it; the invitee's own entry replaces it.
	Name string
}

// ResendInvitation issues a fresh token and restarts the expiry.
type ResendInvitation struct {
	TTL time.Duration // 0 means DefaultInvitationTTL
}

// RevokeInvitation withdraws a pending invitation.
type RevokeInvitation struct{}

// AcceptInvitation uses the invitation up. Generation comes from the token,
// which the token service has already verified against its key.
type AcceptInvitation struct {
	Generation int
	UserID     UserID // the account to be created for the invited address
}

// RecordInvitationEmail records the outcome of mailing Generation: sent
// (FailureReason empty) or permanently failed.
type RecordInvitationEmail struct {
	Generation    int
	MessageID     string
	FailureReason string
}

func (InviteUser) invitationCommand()            {}
func (ResendInvitation) invitationCommand()      {}
func (RevokeInvitation) invitationCommand()      {}
func (AcceptInvitation) invitationCommand()      {}
func (RecordInvitationEmail) invitationCommand() {}

// DecideInvitation decides a command against one invitation.
func DecideInvitation(s InvitationState, cmd InvitationCommand, now time.Time) ([]Event, error) {
	if c, ok := cmd.(InviteUser); ok {
		return inviteUser(s, c, now)
	}
	if !s.Exists() {
		return nil, NotFound(CodeInvitationNotFound, "this invitation does not exist")
	}
	switch c := cmd.(type) {
	case ResendInvitation:
		switch s.Status {
		case InvitationStatusAccepted:
			return nil, Conflict(CodeInvitationAccepted, "this invitation was already accepted; there is nothing to resend")
		case InvitationStatusRevoked:
			return nil, Conflict(CodeInvitationRevoked, "this invitation was revoked; send a new invitation instead")
		}
		return []Event{InvitationResent{
			InvitationID: s.ID, OrgID: s.OrgID, Generation: s.Generation + 1,
			ExpiresAt: now.Add(ttlOrDefault(c.TTL)).UTC(),
		}}, nil
	case RevokeInvitation:
		switch s.Status {
		case InvitationStatusAccepted:
			return nil, Conflict(CodeInvitationAccepted, "this invitation was already accepted; remove the member instead")
		case InvitationStatusRevoked:
			return nil, nil // revoking twice changes nothing
		}
		return []Event{InvitationRevoked{InvitationID: s.ID, OrgID: s.OrgID}}, nil
	case AcceptInvitation:
		if err := s.CheckToken(c.Generation, now); err != nil {
			return nil, err
		}
		if c.UserID == "" {
			return nil, Invalid(CodeValidationFailed, "the user id for the new account is missing")
		}
		return []Event{InvitationAccepted{InvitationID: s.ID, OrgID: s.OrgID, UserID: c.UserID, Generation: c.Generation}}, nil
	case RecordInvitationEmail:
		if c.Generation < 1 || c.Generation > s.Generation {
			return nil, Invalid(CodeValidationFailed, "no invitation mail of generation %d exists", c.Generation)
		}
		if c.Generation <= s.MailedGeneration {
			return nil, nil // already recorded: a redelivered message
		}
		if c.FailureReason != "" {
			return []Event{InvitationEmailFailed{InvitationID: s.ID, OrgID: s.OrgID, Generation: c.Generation, Reason: c.FailureReason}}, nil
		}
		return []Event{InvitationEmailSent{InvitationID: s.ID, OrgID: s.OrgID, Generation: c.Generation, MessageID: c.MessageID}}, nil
	}
	return nil, Invalid(CodeValidationFailed, "unsupported invitation command %T", cmd)
}

func inviteUser(s InvitationState, c InviteUser, now time.Time) ([]Event, error) {
	if s.Exists() {
		return nil, Conflict(CodeInvitationExists, "an invitation with this id already exists")
	}
	problems := fieldErrors{}
	role, err := ParseInvitableRole(string(c.Role))
	problems.add("role", err)
	if c.Email.IsZero() {
		problems["email"] = "the email address is missing"
	}
	if c.TTL < 0 {
		problems["ttl"] = "the validity period cannot be negative"
	}
	name := ""
	if c.Name != "" {
		name, err = ParsePersonName(c.Name)
		problems.add("name", err)
	}
	if c.InvitationID == "" || c.OrgID == "" || c.InvitedBy == "" {
		problems["id"] = "invitation, organization and inviter ids are required"
	}
	if err := problems.err(CodeValidationFailed, "the invitation cannot be sent; fix the fields listed"); err != nil {
		return nil, err
	}
	return []Event{UserInvited{
		InvitationID: c.InvitationID, OrgID: c.OrgID,
		Email: c.Email.String(), NormalizedEmail: c.Email.Normalized(),
		Role: role, InvitedBy: c.InvitedBy, Generation: 1,
		ExpiresAt: now.Add(ttlOrDefault(c.TTL)).UTC(), Name: name,
	}}, nil
}

func ttlOrDefault(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return DefaultInvitationTTL
	}
	return ttl
}

// EvolveInvitation applies one event to an invitation.
func EvolveInvitation(s InvitationState, e Event) InvitationState {
	switch e := e.(type) {
	case UserInvited:
		s = InvitationState{
			ID: e.InvitationID, OrgID: e.OrgID, Email: e.Email, NormalizedEmail: e.NormalizedEmail,
			Role: e.Role, InvitedBy: e.InvitedBy, Status: InvitationStatusPending,
			Generation: e.Generation, ExpiresAt: e.ExpiresAt, Name: e.Name,
		}
	case InvitationResent:
		s.Generation = e.Generation
		s.ExpiresAt = e.ExpiresAt
		s.MailFailure = ""
	case InvitationRevoked:
		s.Status = InvitationStatusRevoked
	case InvitationAccepted:
		s.Status = InvitationStatusAccepted
		s.AcceptedBy = e.UserID
	case InvitationEmailSent:
		s.MailedGeneration = max(s.MailedGeneration, e.Generation)
		s.MailFailure = ""
	case InvitationEmailFailed:
		s.MailedGeneration = max(s.MailedGeneration, e.Generation)
		s.MailFailure = e.Reason
	}
	return s
}
