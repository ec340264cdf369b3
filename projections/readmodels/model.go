// Package readmodels holds the portal's read models: the documents the
// Users page, the invitations list and the audit trail are served from, the
// projections that keep them up to date from the event stream, and the
// queries over them.
//
// This file is the contract between the projections (writers) and the
// query API (readers): document shapes, stored field names and the query
// and answer types. Field names are part of the stored format of a version
// of a collection; change them by bumping the version and rebuilding.
package readmodels

import (
	"context"
	"errors"
	"time"

	"github.com/orgportal/onboarding/domain"
)

// Collection base names; each is stored as versions "<base>_v<N>"
// (mongodb.CollectionName), switched by mongodb.Versions after a rebuild.
const (
	UsersBase       = "users"
	InvitationsBase = "invitations"
	AuditBase       = "audit"
)

// UserStatus is a row's status on the Users page.
type UserStatus string

const (
	StatusInvited             UserStatus = "invited"
	StatusPendingVerification UserStatus = "pending_verification"
	StatusActive              UserStatus = "active"
	StatusRemoved             UserStatus = "removed"
)

// UserStatuses lists every status, in the order the page shows them.
var UserStatuses = []UserStatus{StatusInvited, StatusPendingVerification, StatusActive, StatusRemoved}

// Ref names a person by user id and email (an inviter, an actor).
type Ref struct {
	UserID domain.UserID `bson:"userId" json:"userId"`
	Email  string        `bson:"email" json:"email"`
}

// User is one row of the Users page: one person per organization and
// normalized email, from the first invitation or registration to removal.
// ID is UserDocID(org, normalizedEmail).
type User struct {
	ID              string           `bson:"_id" json:"-"`
	OrgID           domain.OrgID     `bson:"orgId" json:"-"`
	UserID          domain.UserID    `bson:"userId,omitempty" json:"userId,omitempty"` // empty until they join
	Email           string           `bson:"email" json:"email"`
	NormalizedEmail string           `bson:"normalizedEmail" json:"-"`
	Name            string           `bson:"name" json:"name"`
	NameFold        string           `bson:"nameFold" json:"-"` // lower-cased name, for search and sort
	Status          UserStatus       `bson:"status" json:"status"`
	Role            domain.Role      `bson:"role" json:"role"`
	JoinedVia       domain.JoinedVia `bson:"joinedVia,omitempty" json:"joinedVia,omitempty"`
	InvitedBy       *Ref             `bson:"invitedBy,omitempty" json:"invitedBy,omitempty"`
	InvitedAt       *time.Time       `bson:"invitedAt,omitempty" json:"invitedAt,omitempty"`
	JoinedAt        *time.Time       `bson:"joinedAt,omitempty" json:"joinedAt,omitempty"`
	// InvitationID is the pending (or accepted) invitation of an invited row.
	InvitationID domain.InvitationID `bson:"invitationId,omitempty" json:"invitationId,omitempty"`
	// RegistrationID is the self-service registration waiting for the
	// address to be verified (pending_verification rows).
	RegistrationID domain.RegistrationID `bson:"registrationId,omitempty" json:"-"`
	// ExpiresAt is when the pending invitation or registration of an
	// invited or pending_verification row stops working.
	ExpiresAt *time.Time `bson:"expiresAt,omitempty" json:"expiresAt,omitempty"`
	// RemovedAt is when a member was last removed. A former member who is
	// invited again keeps it, and their last membership's UserID and
	// JoinedAt, until they join again.
	RemovedAt *time.Time `bson:"removedAt,omitempty" json:"removedAt,omitempty"`
	UpdatedAt time.Time  `bson:"updatedAt" json:"updatedAt"`
	// Position is the commit position of the last event applied to this
	// document; an event at or below it is a redelivery and is skipped.
	Position int64 `bson:"position" json:"-"`
}

// UserDocID is the _id of the Users row of normalizedEmail in org.
func UserDocID(org domain.OrgID, normalizedEmail string) string {
	return string(org) + "/" + normalizedEmail
}

// InvitationStatus is an invitation's status; expiry is computed against
// the clock at read time (Invitation.StatusAt), never stored.
type InvitationStatus string

const (
	InvitationPending  InvitationStatus = "pending"
	InvitationAccepted InvitationStatus = "accepted"
	InvitationRevoked  InvitationStatus = "revoked"
	InvitationExpired  InvitationStatus = "expired"
)

// DeliveryState is what the mail reactor last recorded for the current
// token generation of an invitation.
type DeliveryState string

const (
	DeliveryPending DeliveryState = "pending" // issued or resent, no outcome recorded yet
	DeliverySent    DeliveryState = "sent"
	DeliveryFailed  DeliveryState = "failed" // permanent failure; Reason says why
)

// Delivery is the mail state of an invitation's current generation.
type Delivery struct {
	State  DeliveryState `bson:"state" json:"state"`
	Reason string        `bson:"reason,omitempty" json:"reason,omitempty"`
	At     *time.Time    `bson:"at,omitempty" json:"at,omitempty"`
}

// Invitation is one invitation. Status holds pending, accepted or revoked;
// read it through StatusAt, which also knows expiry.
type Invitation struct {
	ID         domain.InvitationID `bson:"_id" json:"invitationId"`
	OrgID      domain.OrgID        `bson:"orgId" json:"-"`
	Email      string              `bson:"email" json:"email"`
	Name       string              `bson:"name,omitempty" json:"name,omitempty"` // as the inviter gave it
	Role       domain.Role         `bson:"role" json:"role"`
	InvitedBy  Ref                 `bson:"invitedBy" json:"invitedBy"`
	InvitedAt  time.Time           `bson:"invitedAt" json:"invitedAt"`
	ExpiresAt  time.Time           `bson:"expiresAt" json:"expiresAt"`
	Status     InvitationStatus    `bson:"status" json:"status"`
	Generation int                 `bson:"generation" json:"-"`
	// TimesSent counts the mails the reactor recorded as sent (all
	// generations); LastSentAt is the latest of them.
	TimesSent  int           `bson:"timesSent" json:"timesSent"`
	LastSentAt *time.Time    `bson:"lastSentAt,omitempty" json:"lastSentAt,omitempty"`
	Delivery   Delivery      `bson:"delivery" json:"delivery"`
	AcceptedBy domain.UserID `bson:"acceptedBy,omitempty" json:"acceptedBy,omitempty"`
	UpdatedAt  time.Time     `bson:"updatedAt" json:"updatedAt"`
	Position   int64         `bson:"position" json:"-"`
}

// StatusAt is the invitation's status at now: a pending invitation past
// its expiry is expired.
func (i Invitation) StatusAt(now time.Time) InvitationStatus {
	if i.Status == InvitationPending && !now.Before(i.ExpiresAt) {
		return InvitationExpired
	}
	return i.Status
}

// AuditEntry is one event of an organization, as auditors read it. ID is
// the event id; Details never hold a secret (no password hash, no token).
type AuditEntry struct {
	ID            string         `bson:"_id" json:"eventId"`
	OrgID         domain.OrgID   `bson:"orgId" json:"-"`
	At            time.Time      `bson:"at" json:"at"` // the request time of the command
	Actor         string         `bson:"actor" json:"actor"`
	ActorEmail    string         `bson:"actorEmail,omitempty" json:"actorEmail,omitempty"`
	Action        string         `bson:"action" json:"action"`   // the event type
	Subject       string         `bson:"subject" json:"subject"` // the user, invitation or registration id it is about
	SubjectEmail  string         `bson:"subjectEmail,omitempty" json:"subjectEmail,omitempty"`
	CorrelationID string         `bson:"correlationId,omitempty" json:"correlationId,omitempty"`
	CausationID   string         `bson:"causationId,omitempty" json:"causationId,omitempty"`
	Details       map[string]any `bson:"details,omitempty" json:"details,omitempty"`
	Position      int64          `bson:"position" json:"position"`
}

// Sort keys of UsersQuery.Sort.
const (
	SortEmail     = "email"
	SortName      = "name"
	SortInvitedAt = "invitedAt"
	SortJoinedAt  = "joinedAt"
)

// MaxLimit bounds a page; DefaultLimit is used when a query gives none.
const (
	MaxLimit     = 200
	DefaultLimit = 50
)

// UsersQuery selects rows of one organization's Users page.
type UsersQuery struct {
	OrgID  domain.OrgID
	Q      string      // case-insensitive prefix of the email or the name; "" matches all
	Status UserStatus  // "" for any
	Role   domain.Role // "" for any
	Sort   string      // SortEmail (default), SortName, SortInvitedAt, SortJoinedAt
	Desc   bool
	Limit  int    // 1..MaxLimit; DefaultLimit when 0
	Cursor string // NextCursor of the previous page; opaque
}

// UsersPage is one page of rows. Counts are per status over the query's
// filters other than Status (the page's tabs).
type UsersPage struct {
	Items      []User             `json:"items"`
	NextCursor string             `json:"nextCursor,omitempty"`
	Counts     map[UserStatus]int `json:"counts"`
}

// InvitationsQuery selects one organization's invitations, newest first.
type InvitationsQuery struct {
	OrgID  domain.OrgID
	Status InvitationStatus // "" for any; expired is judged at Now
	Now    time.Time
	Limit  int
	Cursor string
}

// InvitationsPage is one page of invitations; their Status field holds
// StatusAt(query.Now).
type InvitationsPage struct {
	Items      []Invitation `json:"items"`
	NextCursor string       `json:"nextCursor,omitempty"`
}

// AuditQuery selects one organization's audit entries, oldest first.
type AuditQuery struct {
	OrgID   domain.OrgID
	Actor   string // user id (or system / self-service-link); "" for any
	Subject string // user, invitation or registration id; "" for any
	Action  string // event type; "" for any
	From    time.Time
	To      time.Time // exclusive; zero for no bound
	Limit   int
	Cursor  string
}

// AuditPage is one page of audit entries.
type AuditPage struct {
	Items      []AuditEntry `json:"items"`
	NextCursor string       `json:"nextCursor,omitempty"`
}

// Errors of Reader methods, matched with errors.Is: the query API answers
// ErrUnavailable with 503 and Retry-After, ErrBadCursor with 400.
var (
	ErrUnavailable = errors.New("readmodels: read-model database unavailable")
	ErrBadCursor   = errors.New("readmodels: invalid or foreign cursor; start again without it")
)

// Reader is what the query API reads. Every method reads the active
// version of its collection.
type Reader interface {
	Users(ctx context.Context, q UsersQuery) (UsersPage, error)
	// User returns the row of a member (by user id) of org.
	User(ctx context.Context, org domain.OrgID, user domain.UserID) (User, bool, error)
	// InvitedBy returns the rows whose InvitedBy is user, by email.
	InvitedBy(ctx context.Context, org domain.OrgID, user domain.UserID) ([]User, error)
	Invitations(ctx context.Context, q InvitationsQuery) (InvitationsPage, error)
	Audit(ctx context.Context, q AuditQuery) (AuditPage, error)
	// Position is the commit position the read models named by models
	// (UsersBase, InvitationsBase, AuditBase; all of them when none) have
	// passed: the lowest of their checkpoints (0 before any). A read given
	// a consistency token waits until the Position of the read models it
	// uses is >= token.
	Position(ctx context.Context, models ...string) (uint64, error)
	// AwaitPosition returns when Position(models...) has reached token,
	// with the position; when ctx ends first, with the last position seen
	// and ctx's error; and with the error of a failed position read.
	AwaitPosition(ctx context.Context, token uint64, models ...string) (uint64, error)
	// AwaitUsers returns when the Users rows of org show every event up
	// to token: at AwaitPosition(ctx, token, UsersBase) at the latest,
	// sooner where the organization's own rows say so. It returns as
	// AwaitPosition does.
	AwaitUsers(ctx context.Context, org domain.OrgID, token uint64) (uint64, error)
}

func (i Invitation) atPosition() int64 { return i.Position }
