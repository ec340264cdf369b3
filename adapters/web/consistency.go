package web

import (
	"context"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// consistencyParam carries the commit position of the write that led to
// a page (the API's consistency token) through the redirect after a form.
const consistencyParam = "consistency"

// withConsistency appends the position of a write to a redirect target.
// A write that changed nothing (position 0) needs no wait.
func withConsistency(target string, pos commands.Position) string {
	if pos == 0 {
		return target
	}
	sep := "?"
	for i := range len(target) {
		if target[i] == '?' {
			sep = "&"
			break
		}
	}
	return target + sep + consistencyParam + "=" + strconv.FormatUint(uint64(pos), 10)
}

// awaitReadModels waits, at most Config.ConsistencyWait, until read model
// model (the one the page shows) has passed the position the request
// names, so that a person sees their own change. It reports whether it is
// still behind; the page then says so. A missing or malformed position
// means no wait.
func (p *Pages) awaitReadModels(c *gin.Context, model string) (behind bool) {
	want, err := strconv.ParseUint(c.Query(consistencyParam), 10, 64)
	if err != nil || want == 0 || p.reader == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), p.cfg.ConsistencyWait)
	defer cancel()
	if u, ok := signedIn(c); ok && model == readmodels.UsersBase {
		// The page shows the signed-in person's organization only.
		_, err = p.reader.AwaitUsers(ctx, u.OrgID, want)
	} else {
		_, err = p.reader.AwaitPosition(ctx, want, model)
	}
	return err != nil
}
