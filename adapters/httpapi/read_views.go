package httpapi

import (
	"time"

	"github.com/orgportal/onboarding/projections/readmodels"
)

// The query routes answer these views, not the stored documents: the
// stored field names belong to a collection version, the API's to its
// clients. Fields that are unknown (a userId before someone joined, the
// inviter of a bootstrap owner) are left out.

type refView struct {
	UserID string `json:"userId"`
	Email  string `json:"email"`
}

func refOf(r *readmodels.Ref) *refView {
	if r == nil {
		return nil
	}
	return &refView{UserID: string(r.UserID), Email: r.Email}
}

// userItem is one row of the Users page.
type userItem struct {
	UserID    string     `json:"userId,omitempty"`
	Email     string     `json:"email"`
	Name      string     `json:"name"`
	Status    string     `json:"status"`
	Role      string     `json:"role"`
	JoinedVia string     `json:"joinedVia,omitempty"`
	InvitedBy *refView   `json:"invitedBy,omitempty"`
	InvitedAt *time.Time `json:"invitedAt,omitempty"`
	JoinedAt  *time.Time `json:"joinedAt,omitempty"`
	// InvitationID lets the page resend or revoke an invited row.
	InvitationID string `json:"invitationId,omitempty"`
	// ExpiresAt is when the pending invitation or registration of an
	// invited or pending_verification row stops working.
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	// RemovedAt is when a removed row left.
	RemovedAt *time.Time `json:"removedAt,omitempty"`
}

func userItemOf(u readmodels.User) userItem {
	return userItem{
		UserID: string(u.UserID), Email: u.Email, Name: u.Name, Status: string(u.Status), Role: string(u.Role),
		JoinedVia: string(u.JoinedVia), InvitedBy: refOf(u.InvitedBy), InvitedAt: u.InvitedAt, JoinedAt: u.JoinedAt,
		InvitationID: string(u.InvitationID), ExpiresAt: u.ExpiresAt, RemovedAt: u.RemovedAt,
	}
}

func userItemsOf(rows []readmodels.User) []userItem {
	items := make([]userItem, len(rows))
	for i, u := range rows {
		items[i] = userItemOf(u)
	}
	return items
}

type usersResponse struct {
	Items      []userItem     `json:"items"`
	NextCursor string         `json:"nextCursor,omitempty"`
	Counts     map[string]int `json:"counts"`
	// AsOf is the moment of a membership computed from history.
	AsOf *time.Time `json:"asOf,omitempty"`
}

type deliveryView struct {
	State  string     `json:"state"`
	Reason string     `json:"reason,omitempty"`
	At     *time.Time `json:"at,omitempty"`
}

type invitationItem struct {
	InvitationID string       `json:"invitationId"`
	Email        string       `json:"email"`
	Role         string       `json:"role"`
	Status       string       `json:"status"`
	InvitedBy    refView      `json:"invitedBy"`
	InvitedAt    time.Time    `json:"invitedAt"`
	ExpiresAt    time.Time    `json:"expiresAt"`
	TimesSent    int          `json:"timesSent"`
	LastSentAt   *time.Time   `json:"lastSentAt,omitempty"`
	Delivery     deliveryView `json:"delivery"`
	AcceptedBy   string       `json:"acceptedBy,omitempty"`
}

func invitationItemOf(inv readmodels.Invitation, now time.Time) invitationItem {
	return invitationItem{
		InvitationID: string(inv.ID), Email: inv.Email, Role: string(inv.Role), Status: string(inv.StatusAt(now)),
		InvitedBy: refView{UserID: string(inv.InvitedBy.UserID), Email: inv.InvitedBy.Email},
		InvitedAt: inv.InvitedAt, ExpiresAt: inv.ExpiresAt, TimesSent: inv.TimesSent, LastSentAt: inv.LastSentAt,
		Delivery:   deliveryView{State: string(inv.Delivery.State), Reason: inv.Delivery.Reason, At: inv.Delivery.At},
		AcceptedBy: string(inv.AcceptedBy),
	}
}

type invitationsResponse struct {
	Items      []invitationItem `json:"items"`
	NextCursor string           `json:"nextCursor,omitempty"`
}

type auditItem struct {
	EventID       string         `json:"eventId"`
	At            time.Time      `json:"at"`
	Actor         string         `json:"actor"`
	ActorEmail    string         `json:"actorEmail,omitempty"`
	Action        string         `json:"action"`
	Subject       string         `json:"subject"`
	SubjectEmail  string         `json:"subjectEmail,omitempty"`
	CorrelationID string         `json:"correlationId,omitempty"`
	CausationID   string         `json:"causationId,omitempty"`
	Details       map[string]any `json:"details,omitempty"`
	Position      int64          `json:"position"`
}

func auditItemOf(e readmodels.AuditEntry) auditItem {
	return auditItem{
		EventID: e.ID, At: e.At, Actor: e.Actor, ActorEmail: e.ActorEmail, Action: e.Action,
		Subject: e.Subject, SubjectEmail: e.SubjectEmail, CorrelationID: e.CorrelationID, CausationID: e.CausationID,
		Details: e.Details, Position: e.Position,
	}
}

type auditResponse struct {
	Items      []auditItem `json:"items"`
	NextCursor string      `json:"nextCursor,omitempty"`
}
