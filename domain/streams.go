package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Category is the part of a stream name before the first separator. It
// names the aggregate type; EventStoreDB's $by_category projection and our
// subscriptions split on the same first '-'.
type Category string

// The stream categories. Each aggregate lives in exactly one of them.
const (
	// organization-<OrgID>: the organization, its member roster (needed for
	// authorization and the last-owner rule) and its self-service link.
	CategoryOrganization Category = "organization"
	// invitation-<InvitationID>: one emailed invitation.
	CategoryInvitation Category = "invitation"
	// registration-<RegistrationID>: one self-service registration awaiting
	// email verification.
	CategoryRegistration Category = "registration"
	// user-<UserID>: one account (credentials, password tokens).
	CategoryUser Category = "user"
	// membership-<sha256(org, email)>: the uniqueness guard for one address
	// in one organization; see MembershipStream.
	CategoryMembership Category = "membership"
	// session-<SessionID>: one sign-in.
	CategorySession Category = "session"
	// login-<sha256(email)>: the global sign-in index of one address; see
	// LoginStream.
	CategoryLogin Category = "login"
)

// StreamSeparator separates category and id.
const StreamSeparator = "-"

// StreamName is "<category>-<id>". Build it only with NewStreamName (or the
// typed helpers below) so every stream name in the system has one shape.
type StreamName string

// NewStreamName is the one place stream names are built.
func NewStreamName[T ~string](category Category, id T) StreamName {
	return StreamName(string(category) + StreamSeparator + string(id))
}

// ParseStreamName splits at the first separator only: ids (UUIDs) contain
// the separator themselves.
func ParseStreamName(s string) (Category, string, error) {
	category, id, ok := strings.Cut(s, StreamSeparator)
	if !ok || category == "" || id == "" {
		return "", "", Invalid(CodeInvalidStreamName, "stream name %q is not of the form <category>-<id>", s)
	}
	return Category(category), id, nil
}

// Category returns the stream's category ("" if malformed).
func (s StreamName) Category() Category {
	c, _, _ := ParseStreamName(string(s))
	return c
}

// ID returns the stream's id part ("" if malformed).
func (s StreamName) ID() string {
	_, id, _ := ParseStreamName(string(s))
	return id
}

func (s StreamName) String() string { return string(s) }

// OrganizationStream names an organization's stream.
func OrganizationStream(id OrgID) StreamName { return NewStreamName(CategoryOrganization, id) }

// InvitationStream names an invitation's stream.
func InvitationStream(id InvitationID) StreamName { return NewStreamName(CategoryInvitation, id) }

// RegistrationStream names a self-service registration's stream.
func RegistrationStream(id RegistrationID) StreamName {
	return NewStreamName(CategoryRegistration, id)
}

// SessionStream names a sign-in's stream.
func SessionStream(id SessionID) StreamName { return NewStreamName(CategorySession, id) }

// UserStream names an account's stream.
func UserStream(id UserID) StreamName { return NewStreamName(CategoryUser, id) }

// MembershipStream names the guard stream for one address in one
// organization. The id is the hex SHA-256 of the org id and the normalized
// address, so it is deterministic (every writer computes the same name and
// the event store serializes them) while the address itself never shows up
// in stream names, which end up in every log line, metric label and URL of
// the event store's UI. The hash is a pseudonym, not encryption: anyone who
// knows both inputs can recompute it, which is exactly what we need.
func MembershipStream(org OrgID, email Email) StreamName {
	return NewStreamName(CategoryMembership, MembershipKey(org, email))
}

// MembershipKey is the id part of MembershipStream. A NUL separates the
// parts: it cannot occur in either, so no two pairs hash the same input.
func MembershipKey(org OrgID, email Email) string {
	sum := sha256.Sum256([]byte(string(org) + "\x00" + email.Normalized()))
	return hex.EncodeToString(sum[:])
}
