package domain

import (
	"cmp"
	"maps"
	"slices"
)

// Member is one entry of an organization's roster.
type Member struct {
	UserID          UserID
	Email           string
	NormalizedEmail string
	Name            string
	Role            Role
	Via             JoinedVia
}

// OrganizationState is the organization aggregate folded from its stream:
// its name, its self-service link, and the roster of members with their
// roles. The roster lives here because two invariants need it in one
// consistent place: only admins act on the organization, and the last
// owner can be neither removed nor demoted. Both are decided against this
// state and appended with its expected revision, so two concurrent
// demotions cannot both pass.
//
// The zero value is an organization that does not exist yet.
type OrganizationState struct {
	ID   OrgID
	Name string
	Link SelfServiceLink

	members map[UserID]Member
	byEmail map[string]UserID
}

// Exists reports whether the organization has been created.
func (s OrganizationState) Exists() bool { return s.ID != "" }

// Member returns a member by user id.
func (s OrganizationState) Member(id UserID) (Member, bool) {
	m, ok := s.members[id]
	return m, ok
}

// MemberByEmail returns the member holding an address.
func (s OrganizationState) MemberByEmail(e Email) (Member, bool) {
	id, ok := s.byEmail[e.Normalized()]
	if !ok {
		return Member{}, false
	}
	return s.members[id], true
}

// Members returns the roster ordered by normalized email.
func (s OrganizationState) Members() []Member {
	list := slices.Collect(maps.Values(s.members))
	slices.SortFunc(list, func(a, b Member) int { return cmp.Compare(a.NormalizedEmail, b.NormalizedEmail) })
	return list
}

// RequireAdmin is the authorization check for every administrative action,
// including the ones decided on other aggregates (inviting, resending and
// revoking invitations): the actor must be an owner or admin here.
func (s OrganizationState) RequireAdmin(actor UserID) error {
	if !s.Exists() {
		return organizationNotFound()
	}
	if m, ok := s.members[actor]; ok && m.Role.CanAdminister() {
		return nil
	}
	return Forbidden(CodeNotAnAdmin, "only owners and admins of this organization can do this; ask one of them")
}

func (s OrganizationState) countRole(role Role) int {
	n := 0
	for _, m := range s.members {
		if m.Role == role {
			n++
		}
	}
	return n
}

func organizationNotFound() error {
	return NotFound(CodeOrganizationNotFound, "this organization does not exist; check the organization id")
}

// EvolveOrganization applies one event. Like every Evolve here it is meant
// for folding: it may update the roster maps of the state it is given in
// place (copying them per event would make loading quadratic), so treat a
// state passed to Evolve as consumed. Decide never modifies a state.
// Unknown events are ignored, so adding an event type never breaks loading.
func EvolveOrganization(s OrganizationState, e Event) OrganizationState {
	switch e := e.(type) {
	case OrganizationCreated:
		s.ID = e.OrgID
		s.Name = e.Name
		s.Link = SelfServiceLink{Enabled: true, DefaultRole: RoleMember, Generation: e.LinkGeneration}
		s.members = make(map[UserID]Member)
		s.byEmail = make(map[string]UserID)
	case MemberJoined:
		if s.members == nil {
			s.members, s.byEmail = make(map[UserID]Member), make(map[string]UserID)
		}
		s.members[e.UserID] = Member{
			UserID: e.UserID, Email: e.Email, NormalizedEmail: e.NormalizedEmail,
			Name: e.Name, Role: e.Role, Via: e.Via,
		}
		s.byEmail[e.NormalizedEmail] = e.UserID
		if e.Via == JoinedViaSelfServiceLink && e.LinkGeneration == s.Link.Generation {
			s.Link.Uses++
		}
	case MemberRoleChanged:
		if m, ok := s.members[e.UserID]; ok {
			m.Role = e.To
			s.members[e.UserID] = m
		}
	case MemberRemoved:
		if m, ok := s.members[e.UserID]; ok {
			delete(s.byEmail, m.NormalizedEmail)
			delete(s.members, e.UserID)
		}
	case SelfServiceLinkConfigured:
		s.Link.Enabled = e.Enabled
		s.Link.AllowedDomains = allowlistFromStored(e.AllowedDomains)
		s.Link.DefaultRole = e.DefaultRole
		s.Link.ExpiresAt = e.ExpiresAt
		s.Link.MaxUses = e.MaxUses
	case SelfServiceLinkRotated:
		s.Link.Generation = e.Generation
		s.Link.Uses = 0
	}
	return s
}
