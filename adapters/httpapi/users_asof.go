package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/asof"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// History reads a stream from the event store with each event's metadata
// and commit position, in stream order; an error of visit stops the read
// and is returned as is. eventstoredb's *Store implements it.
type History interface {
	History(ctx context.Context, stream domain.StreamName,
		visit func(event domain.Event, meta commands.Metadata, position commands.Position) error) error
}

// errSeenEnough stops a history read once the fold has passed its moment.
var errSeenEnough = errors.New("httpapi: history read past the moment")

// usersAsOf answers GET /orgs/{orgId}/users?asOf=<RFC 3339>: the members
// as they were at that moment, folded from the organization's stream
// (projections/asof), never from the read model, for access reviews.
//
// With asOf, q, role, sort (email, name, joinedAt), order, limit and
// cursor work as without it; status may only be active (everyone at a past
// moment is a member; invitations in flight are not part of the answer),
// and counts hold only active. The cursor is asOf's own: it is bound to
// the moment and the filters. A consistency token is accepted and needs
// no wait: the event store has every write it handed out.
func (a *API) usersAsOf(c *gin.Context, p *queryParams, q readmodels.UsersQuery, tokenGiven bool) error {
	at := p.time("asOf")
	now := a.clock()
	if !at.IsZero() && at.After(now) {
		p.fail("asOf", "must not be in the future; the server's time is "+now.UTC().Format(time.RFC3339))
	}
	if q.Status != "" && q.Status != readmodels.StatusActive {
		p.fail("status", "with asOf, status can only be active: the past membership lists members")
	}
	if q.Sort == readmodels.SortInvitedAt {
		p.fail("sort", "with asOf, sort must be one of email, name, joinedAt: the invitation time is not part of the membership's history")
	}
	if err := p.err(); err != nil {
		return err
	}
	if a.past == nil {
		return &apiError{Status: http.StatusServiceUnavailable, Code: CodeHistoryNotConfigured,
			Detail: "this server cannot read the event store's history, so it cannot answer asOf queries"}
	}
	fold := asof.New(q.OrgID, at)
	err := a.past.History(c.Request.Context(), domain.OrganizationStream(q.OrgID),
		func(event domain.Event, meta commands.Metadata, _ commands.Position) error {
			if !fold.Apply(event, meta.RequestTime) {
				return errSeenEnough
			}
			return nil
		})
	if err != nil && !errors.Is(err, errSeenEnough) {
		return err
	}
	page, err := asof.Query(fold.Members(), q, at)
	if err != nil {
		return a.readFailed(c, err)
	}
	if tokenGiven {
		c.Header(ConsistencyStateHeader, consistencyFresh)
	}
	counts := map[string]int{string(readmodels.StatusActive): page.Counts[readmodels.StatusActive]}
	moment := at.UTC()
	c.JSON(http.StatusOK, usersResponse{Items: userItemsOf(page.Items), NextCursor: page.NextCursor, Counts: counts, AsOf: &moment})
	return nil
}
