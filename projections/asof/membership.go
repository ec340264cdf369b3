// Package asof answers who was a member of an organization at a past
// moment, for access reviews. It folds the organization's own stream
// (OrganizationCreated, MemberJoined, MemberRoleChanged, MemberRemoved),
// not a read model: the read models show the present, and a rebuild or a
// lagging projection must not change what the past looked like.
//
// The moment is judged by each event's request time (its metadata), and
// the history's order is the stream's: the fold takes the stream's prefix
// up to the first event recorded after the moment. A request that arrived
// before the moment but committed after a later one is therefore left out,
// so the answer is always a state the organization really was in.
//
// The rows have the Users page's shape (readmodels.User) with status
// active; what the organization's stream does not hold stays empty: the
// invitation time (it lives in the invitation's stream) and the names of
// people after they joined. An inviter's email is known from their own
// MemberJoined in the same stream, even when they left before the moment.
package asof

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// Membership folds one organization's stream up to a moment. The zero
// value is not usable; build it with New. Not safe for concurrent use.
type Membership struct {
	org     domain.OrgID
	asOf    time.Time
	done    bool
	members map[domain.UserID]readmodels.User
	// emails remembers everyone who ever joined, so that an inviter who
	// has since left is still named.
	emails map[domain.UserID]string
}

// New starts the fold of org's stream as of the moment asOf.
func New(org domain.OrgID, asOf time.Time) *Membership {
	return &Membership{org: org, asOf: asOf,
		members: make(map[domain.UserID]readmodels.User), emails: make(map[domain.UserID]string)}
}

// Apply folds the next event of the stream, recorded at the request time
// at. It reports whether the caller should go on: false from the first
// event recorded after the moment, which (like every later one) it
// ignores. Events of other types and of other organizations are skipped.
func (m *Membership) Apply(event domain.Event, at time.Time) bool {
	if m.done || at.After(m.asOf) {
		m.done = true
		return false
	}
	switch e := event.(type) {
	case domain.MemberJoined:
		if e.OrgID != m.org {
			return true
		}
		joined := at.UTC()
		row := readmodels.User{
			ID: readmodels.UserDocID(m.org, e.NormalizedEmail), OrgID: m.org, UserID: e.UserID,
			Email: e.Email, NormalizedEmail: e.NormalizedEmail, Name: e.Name, NameFold: strings.ToLower(e.Name),
			Status: readmodels.StatusActive, Role: e.Role, JoinedVia: e.Via, JoinedAt: &joined,
			InvitationID: e.InvitationID, UpdatedAt: joined,
		}
		if e.InvitedBy != "" {
			row.InvitedBy = &readmodels.Ref{UserID: e.InvitedBy, Email: m.emails[e.InvitedBy]}
		}
		m.members[e.UserID] = row
		m.emails[e.UserID] = e.Email
	case domain.MemberRoleChanged:
		if row, ok := m.members[e.UserID]; ok && e.OrgID == m.org {
			row.Role = e.To
			row.UpdatedAt = at.UTC()
			m.members[e.UserID] = row
		}
	case domain.MemberRemoved:
		if e.OrgID == m.org {
			delete(m.members, e.UserID)
		}
	}
	return true
}

// Members returns the members at the moment, ordered by normalized email.
func (m *Membership) Members() []readmodels.User {
	rows := slices.Collect(maps.Values(m.members))
	slices.SortFunc(rows, func(a, b readmodels.User) int {
		return cmp.Or(cmp.Compare(a.NormalizedEmail, b.NormalizedEmail), cmp.Compare(a.UserID, b.UserID))
	})
	return rows
}
