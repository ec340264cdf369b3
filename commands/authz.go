package commands

import (
	"context"

	"github.com/orgportal/onboarding/domain"
)

// loadOrgAsAdmin loads an organization and checks that the actor is one of
// its owners or admins: nobody acts on an organization they do not
// administer. The domain checks again when it decides on the same state;
// this check also guards the use cases decided on other aggregates.
func (h *Handlers) loadOrgAsAdmin(ctx context.Context, org domain.OrgID, actor domain.Actor) (domain.OrganizationState, error) {
	if _, err := domain.ParseID[domain.OrgID](string(org)); err != nil {
		return domain.OrganizationState{}, err
	}
	state, _, err := load(ctx, h.store, domain.OrganizationStream(org), domain.EvolveOrganization)
	if err != nil {
		return state, err
	}
	return state, state.RequireAdmin(domain.UserID(actor))
}
