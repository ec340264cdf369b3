// Package ratelimit holds the budgets of the portal's public endpoints:
// requests per client address, attempts per email address or link token,
// and invitations per organization and day. Both doors to the same
// commands, the JSON API (httpapi) and the portal pages (web), draw on one
// Limits, so that using both buys a client no extra sign-in, join, verify
// or reset attempts and an organization no extra invitations.
//
// The buckets live in memory and are per process: a restart forgets them
// and each replica counts on its own.
package ratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/orgportal/onboarding/domain"
)

// DefaultMaxKeys is how many clients, subjects or organizations each
// limiter tracks at once (about 100 bytes each).
const DefaultMaxKeys = 100_000

// invitationsPeriod is the period of Config.InvitationsPerDay.
const invitationsPeriod = 24 * time.Hour

// Config holds the budgets.
type Config struct {
	// Client limits the public endpoints per client address and Group.
	Client Rate
	// Subject limits the same endpoints per email address or link token
	// and Group.
	Subject Rate
	// InvitationsPerDay limits the invitations (new ones and resends) of
	// one organization per 24 hours; 0 means unlimited.
	InvitationsPerDay int
	// MaxKeys bounds the memory of each of the three limiters (keys
	// tracked at once); DefaultMaxKeys when 0.
	MaxKeys int
}

// Group names endpoints that share a budget. A page and the API endpoint
// that run the same command use the same group, which is what makes their
// budgets one.
type Group string

// The groups of the public endpoints.
const (
	GroupSession       Group = "session"        // signing in
	GroupPasswordReset Group = "password-reset" // asking for a reset link
	GroupPasswordLink  Group = "password-link"  // setting a password through a mailed link
	GroupLookup        Group = "lookup"         // opening an invitation or self-service link
	GroupAccept        Group = "accept"         // accepting an invitation
	GroupJoin          Group = "join"           // registering through the self-service link
	GroupVerify        Group = "verify"         // confirming a registration's address
)

// Limits are the budgets, shared by every handler given the same value.
// Safe for concurrent use.
type Limits struct {
	perClient   *limiter // key: group + client address
	perSubject  *limiter // key: group + Subject
	invitations *limiter // key: organization id
}

// New returns fresh budgets. The zero Config limits nothing.
func New(c Config) *Limits {
	keys := c.MaxKeys
	if keys <= 0 {
		keys = DefaultMaxKeys
	}
	return &Limits{
		perClient:   newLimiter(c.Client, keys),
		perSubject:  newLimiter(c.Subject, keys),
		invitations: newLimiter(Rate{Events: c.InvitationsPerDay, Per: invitationsPeriod}, keys),
	}
}

// Client spends one request of the client address's budget for g. When
// it is spent, ok is false and retryAfter says how long until it is not.
func (l *Limits) Client(g Group, addr string, now time.Time) (ok bool, retryAfter time.Duration) {
	return l.perClient.take(string(g)+"\x00"+addr, 1, now)
}

// Subject spends one attempt of the subject's budget for g.
func (l *Limits) Subject(g Group, s Subject, now time.Time) (ok bool, retryAfter time.Duration) {
	return l.perSubject.take(string(g)+"\x00"+string(s), 1, now)
}

// TakeInvitations spends n of the organization's daily invitations, or
// none when fewer are left.
func (l *Limits) TakeInvitations(org domain.OrgID, n int, now time.Time) (ok bool, retryAfter time.Duration) {
	return l.invitations.take(string(org), n, now)
}

// InvitationCost is what inviting the addresses in inputs (free text, as
// domain.ParseEmailList reads it) takes from the daily budget up front:
// one per valid address, duplicates once. A list the parser refuses as a
// whole costs nothing; the command refuses it too.
func InvitationCost(inputs ...string) int {
	list, err := domain.ParseEmailList(inputs...)
	if err != nil {
		return 0
	}
	n := 0
	for _, entry := range list {
		if entry.Err == nil {
			n++
		}
	}
	return n
}

// GiveInvitations returns n invitations taken for addresses that were not
// invited after all (invalid, already invited or a member, a failed
// request).
func (l *Limits) GiveInvitations(org domain.OrgID, n int, now time.Time) {
	l.invitations.give(string(org), n, now)
}

// Subject is what a per-subject budget is kept for: an email address or a
// link token, hashed, so that the limiter's memory holds no token and a
// long input buys no memory.
type Subject string

// TokenSubject keys a link token.
func TokenSubject(token string) Subject { return "t:" + digest(token) }

// EmailSubject keys an address by its normalized form, so that case and
// spacing buy no new attempts.
func EmailSubject(raw string) Subject {
	key := strings.ToLower(strings.TrimSpace(raw))
	if email, err := domain.ParseEmail(raw); err == nil {
		key = email.Normalized()
	}
	return "e:" + digest(key)
}

func digest(s string) Subject {
	sum := sha256.Sum256([]byte(s))
	return Subject(hex.EncodeToString(sum[:16]))
}
