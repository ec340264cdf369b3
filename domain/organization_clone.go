package domain

import "maps"

// Clone returns a copy of the state that shares nothing Evolve changes in
// place, so that a state kept as a snapshot (the commands layer caches
// folded organizations) can be folded further without touching the
// snapshot. The link's allowlist and expiry are replaced, never modified,
// by Evolve, so they may stay shared.
func (s OrganizationState) Clone() OrganizationState {
	s.members = maps.Clone(s.members)
	s.byEmail = maps.Clone(s.byEmail)
	return s
}
