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
	_, err := h.loadOrgAsAdmin(ctx, org, actor)
	return err
}
