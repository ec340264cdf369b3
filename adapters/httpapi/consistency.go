package httpapi

import (
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

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

// The wait polls the readers' position: often at first, as a projection
// usually applies a write within milliseconds, then at maxPoll. What a
// poll finds adds up to maxPoll to the read, on top of how old the
// reader's answer may be (readmodels.DefaultPositionTTL), against a budget
// of 250 ms from command to Users page; so maxPoll stays at the reader's
// TTL rather than backing off further. That does not hammer the database:
// the reader shares one position read per TTL among all the requests that
// wait, and a poll within it costs a lock and a clock read.
const (
	firstPoll = 5 * time.Millisecond
	maxPoll   = 10 * time.Millisecond
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

// awaitPosition waits until the read models have passed token, for at
// most Config.ConsistencyWait, and says in ConsistencyStateHeader whether
// they had. It stops when the client goes away. Without a token it does
// nothing: there is no write to wait for.
func (a *API) awaitPosition(c *gin.Context, r readmodels.Reader, token uint64, given bool) error {
	if !given {
		return nil
	}
	ctx := c.Request.Context()
	deadline := time.NewTimer(a.cfg.ConsistencyWait)
	defer deadline.Stop()
	poll := time.NewTimer(time.Hour) // armed below, once a poll is due
	defer poll.Stop()
	pause := firstPoll
	for {
		pos, err := r.Position(ctx)
		if err != nil {
			return a.readFailed(c, err)
		}
		if pos >= token {
			c.Header(ConsistencyStateHeader, consistencyFresh)
			return nil
		}
		poll.Reset(pause)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			// One last look: the position may have moved since the poll.
			if pos, err := r.Position(ctx); err == nil && pos >= token {
				c.Header(ConsistencyStateHeader, consistencyFresh)
				return nil
			}
			c.Header(ConsistencyStateHeader, consistencyStale)
			return nil
		case <-poll.C:
		}
		pause = min(2*pause, maxPoll)
	}
}
