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

// GrantAdminAhead is GrantAdmin for a request whose use case can start
// before the role is confirmed and holds back everything that counts
// until it is (InviteUsers: it may hold addresses, which it releases if
// the grant is refused, but writes no invitation and answers nothing).
//
// When these handlers' newest known state of the organization (one they
// loaded or wrote a moment ago) says the actor administers it, the grant
// is issued on that state at once, and the read GrantAdmin would make
// runs alongside the use case; ConfirmGrant, and the use case, wait for
// it. So the role is still checked on the organization's stream as of the
// start of the request, but that read no longer delays the request. For
// anyone else, and for an organization these handlers do not know, it is
// GrantAdmin: refused before anything else happens.
func (h *Handlers) GrantAdminAhead(ctx context.Context, org domain.OrgID, actor domain.Actor) (AdminGrant, error) {
	// Only organizations with a valid id are ever cached: GrantAdmin
	// refuses any other.
	state, revision, ok := h.cachedOrg(org)
	if !ok || state.RequireAdmin(domain.UserID(actor)) != nil {
		return h.GrantAdmin(ctx, org, actor)
	}
	check := &grantCheck{done: make(chan struct{})}
	go func() {
		defer close(check.done)
		_, check.err = h.GrantAdmin(ctx, org, actor)
	}()
	return AdminGrant{h: h, org: org, actor: actor, state: state, revision: revision, check: check}, nil
}
