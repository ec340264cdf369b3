package httpapi

import (
	"context"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// ConsistencyStateHeader tells a read given a consistency token whether
// the read models had passed it (fresh) or the wait ran out first (stale).
const ConsistencyStateHeader = "X-Consistency"

// ConsistencyParam is the query-parameter form of ConsistencyHeader, for
// links and redirects that cannot set a header.
const ConsistencyParam = "consistency"

const (
	consistencyFresh = "fresh"
	consistencyStale = "stale"
)

// consistencyToken reads the token from the header and the query
// parameter; with both, the larger counts (a redirect may carry an older
// one than the client knows). Malformed tokens are reported on p.
func (p *queryParams) consistencyToken(c *gin.Context) (uint64, bool) {
	var token uint64
	given := false
	for _, src := range []struct{ name, value string }{
		{ConsistencyHeader, c.GetHeader(ConsistencyHeader)},
		{ConsistencyParam, p.get(ConsistencyParam)},
	} {
		if src.value == "" {
			continue
		}
		n, err := strconv.ParseUint(src.value, 10, 64)
		if err != nil || src.value[0] == '+' {
			p.fail(src.name, "must be the "+ConsistencyHeader+" of a write answer: a whole number; got "+strconv.Quote(clip(src.value)))
			continue
		}
		token, given = max(token, n), true
	}
	return token, given
}

// awaitPosition waits until read model model has passed token, for at
// most Config.ConsistencyWait, and says in ConsistencyStateHeader whether
// it had. It stops when the client goes away. Without a token it does
// nothing: there is no write to wait for. Only the read model the query
// reads is waited for: a write shows in the others at their own pace. A
// Users query waits for the rows of its organization (the route's
// orgId) only (Reader.AwaitUsers).
func (a *API) awaitPosition(c *gin.Context, r readmodels.Reader, model string, token uint64, given bool) error {
	if !given {
		return nil
	}
	ctx := c.Request.Context()
	wait, cancel := context.WithTimeout(ctx, a.cfg.ConsistencyWait)
	defer cancel()
	var err error
	if org := domain.OrgID(c.Param("orgId")); model == readmodels.UsersBase && org != "" {
		_, err = r.AwaitUsers(wait, org, token)
	} else {
		_, err = r.AwaitPosition(wait, token, model)
	}
	switch {
	case err == nil:
		c.Header(ConsistencyStateHeader, consistencyFresh)
		return nil
	case ctx.Err() != nil:
		return ctx.Err() // the client went away
	case wait.Err() != nil:
		// One last look: the position may have moved since the last poll.
		if pos, err := r.Position(ctx, model); err == nil && pos >= token {
			c.Header(ConsistencyStateHeader, consistencyFresh)
			return nil
		}
		c.Header(ConsistencyStateHeader, consistencyStale)
		return nil
	default:
		return a.readFailed(c, err)
	}
}
