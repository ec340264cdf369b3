package commands

import (
	"context"

	"github.com/orgportal/onboarding/domain"
)

// loadOrgAsAdmin loads an organization and checks that the actor is one of
// its owners or admins: nobody acts on an organization they do not
// administer. The domain checks again when it decides on the same state;
// this check also guards the use cases decided on other aggregates.
//
// When ctx carries an AdminGrant of these handlers for the same
// organization and actor (the HTTP layer authorized the request a moment
// ago), the state comes from the grant, or from the handlers' cache when
// that holds a newer revision (something this process wrote or loaded
// since), instead of being read again: the check is made on a state at
// least as new as the authorization's, and at the newest this process
// knows.
func (h *Handlers) loadOrgAsAdmin(ctx context.Context, org domain.OrgID, actor domain.Actor) (domain.OrganizationState, error) {
	if _, err := domain.ParseID[domain.OrgID](string(org)); err != nil {
		return domain.OrganizationState{}, err
	}
	if g, ok := ctx.Value(grantKey{}).(AdminGrant); ok && g.h == h && g.org == org && g.actor == actor {
		state := h.newestKnown(g)
		return state, state.RequireAdmin(domain.UserID(actor))
	}
	state, _, err := h.loadOrg(ctx, org)
	if err != nil {
		return state, err
	}
	return state, state.RequireAdmin(domain.UserID(actor))
}

func (h *Handlers) loadOrg(ctx context.Context, org domain.OrgID) (domain.OrganizationState, Revision, error) {
	return load(ctx, h.store, domain.OrganizationStream(org), domain.EvolveOrganization)
}

// newestKnown is the grant's organization state, or the cached one when
// the cache holds a newer revision of the stream.
func (h *Handlers) newestKnown(g AdminGrant) domain.OrganizationState {
	cs, ok := h.store.(*cachingStore)
	if !ok {
		return g.state
	}
	entry, ok := cs.states.get(domain.OrganizationStream(g.org))
	if !ok || entry.revision <= g.revision {
		return g.state
	}
	if state, ok := entry.state.(domain.OrganizationState); ok {
		return state
	}
	return g.state
}

// AdminGrant records that an actor administers an organization, as of the
// organization's state that was loaded to decide it (see AuthorizeAdmin).
// It lives as long as one request: hand it to that request's use case with
// WithAdminGrant, never keep it.
type AdminGrant struct {
	h        *Handlers
	org      domain.OrgID
	actor    domain.Actor
	state    domain.OrganizationState // shared: read only
	revision Revision
}

type grantKey struct{}

// WithAdminGrant returns a context that carries g. An administrative use
// case run with it for the same organization and actor checks the actor's
// role on the grant's state (or a newer one the handlers know), instead of
// reading the organization a second time in the same request. A zero
// grant, or one for another organization, actor or Handlers, is ignored.
func WithAdminGrant(ctx context.Context, g AdminGrant) context.Context {
	if g.h == nil {
		return ctx
	}
	return context.WithValue(ctx, grantKey{}, g)
}
