package commands

import (
	"context"

	"github.com/orgportal/onboarding/domain"
)

// AuthorizeAdmin checks that actor is an owner or admin of org, on the
// organization's own state in the event store, the same check every
// administrative command makes. The read side (the query API) calls it
// before it reads: the read models may lag behind a demotion or removal,
// the organization's stream does not.
//
// It answers nil, a domain Forbidden (CodeNotAnAdmin) for anyone else, a
// domain NotFound for an organization that does not exist, or an error
// wrapping ErrUnavailable when the event store cannot be reached.
func (h *Handlers) AuthorizeAdmin(ctx context.Context, org domain.OrgID, actor domain.Actor) error {
	_, err := h.GrantAdmin(ctx, org, actor)
	return err
}

// GrantAdmin is AuthorizeAdmin that also returns what it decided on, so
// that the request's use case (given the grant through WithAdminGrant)
// does not read the organization again. The error is AuthorizeAdmin's.
func (h *Handlers) GrantAdmin(ctx context.Context, org domain.OrgID, actor domain.Actor) (AdminGrant, error) {
	if _, err := domain.ParseID[domain.OrgID](string(org)); err != nil {
		return AdminGrant{}, err
	}
	state, revision, err := h.loadOrg(ctx, org)
	if err != nil {
		return AdminGrant{}, err
	}
	if err := state.RequireAdmin(domain.UserID(actor)); err != nil {
		return AdminGrant{}, err
	}
	return AdminGrant{h: h, org: org, actor: actor, state: state, revision: revision}, nil
}
