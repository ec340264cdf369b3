package commands

import (
	"context"

	"github.com/orgportal/onboarding/domain"
)

// LoadOrganization loads an organization the way the handlers do (through
// their folded-state cache when they have one), for tests.
func LoadOrganization(ctx context.Context, h *Handlers, org domain.OrgID) (domain.OrganizationState, Revision, error) {
	return load(ctx, h.store, domain.OrganizationStream(org), domain.EvolveOrganization)
}

// GrantIsAhead tells whether g was issued ahead of the read that confirms
// it (GrantAdminAhead).
func GrantIsAhead(g AdminGrant) bool { return g.check != nil }
