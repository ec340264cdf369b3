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
	if g, ok := h.grantFor(ctx, org, actor); ok {
		if err := g.confirm(ctx); err != nil {
			return domain.OrganizationState{}, err
		}
		state := h.newestKnown(g)
		return state, state.RequireAdmin(domain.UserID(actor))
	}
	state, _, err := h.loadOrg(ctx, org)
	if err != nil {
		return state, err
	}
	return state, state.RequireAdmin(domain.UserID(actor))
}

// loadOrgAsAdminAhead is loadOrgAsAdmin for a use case that holds back
// what counts until confirm answers nil (InviteUsers): when ctx carries a
// grant issued ahead of its read (GrantAdminAhead), the state is the one
// the grant was issued on and confirm waits for the read. confirm is
// cheap to call again. Otherwise it is loadOrgAsAdmin, and confirm
// answers nil at once.
func (h *Handlers) loadOrgAsAdminAhead(ctx context.Context, org domain.OrgID, actor domain.Actor) (domain.OrganizationState, func(context.Context) error, error) {
	if g, ok := h.grantFor(ctx, org, actor); ok && g.check != nil {
		state := h.newestKnown(g)
		if err := state.RequireAdmin(domain.UserID(actor)); err != nil {
			return state, nil, err
		}
		return state, g.confirm, nil
	}
	state, err := h.loadOrgAsAdmin(ctx, org, actor)
	return state, func(context.Context) error { return nil }, err
}

// grantFor is the grant ctx carries for these handlers, org and actor.
func (h *Handlers) grantFor(ctx context.Context, org domain.OrgID, actor domain.Actor) (AdminGrant, bool) {
	g, ok := ctx.Value(grantKey{}).(AdminGrant)
	return g, ok && g.h == h && g.org == org && g.actor == actor
}

func (h *Handlers) loadOrg(ctx context.Context, org domain.OrgID) (domain.OrganizationState, Revision, error) {
	return load(ctx, h.store, domain.OrganizationStream(org), domain.EvolveOrganization)
}

// newestKnown is the grant's organization state, or the cached one when
// the cache holds a newer revision of the stream.
func (h *Handlers) newestKnown(g AdminGrant) domain.OrganizationState {
	if state, revision, ok := h.cachedOrg(g.org); ok && revision > g.revision {
		return state
	}
	return g.state
}

// cachedOrg is the newest state of the organization these handlers have
// loaded or written, if they still cache it.
func (h *Handlers) cachedOrg(org domain.OrgID) (domain.OrganizationState, Revision, bool) {
	cs, ok := h.store.(*cachingStore)
	if !ok {
		return domain.OrganizationState{}, NoStream, false
	}
	entry, ok := cs.states.get(domain.OrganizationStream(org))
	if !ok {
		return domain.OrganizationState{}, NoStream, false
	}
	state, ok := entry.state.(domain.OrganizationState)
	return state, entry.revision, ok
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
	// check is the read that confirms a grant issued ahead of it
	// (GrantAdminAhead); nil when the grant was decided on a read.
	check *grantCheck
}

// grantCheck is a read of the organization in flight: err is set before
// done closes.
type grantCheck struct {
	done chan struct{}
	err  error
}

// confirm waits for the read that confirms g, if it was issued ahead of
// one, and answers what that read decided: nil, or GrantAdmin's error.
func (g AdminGrant) confirm(ctx context.Context) error {
	if g.check == nil {
		return nil
	}
	select {
	case <-g.check.done: // decided: answer it even when ctx has ended since
		return g.check.err
	default:
	}
	select {
	case <-g.check.done:
		return g.check.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ConfirmGrant waits for the confirmation of the admin grant ctx carries,
// if it was issued ahead of its read (GrantAdminAhead), and answers its
// error: an answer to a request authorized ahead, error answers included,
// is given only once it is nil. Without such a grant it answers nil at
// once.
func ConfirmGrant(ctx context.Context) error {
	g, _ := ctx.Value(grantKey{}).(AdminGrant)
	return g.confirm(ctx)
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
