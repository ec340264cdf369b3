package web

import (
	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/ratelimit"
)

// limitClient is middleware: the route group's budget per client address.
func (p *Pages) limitClient(group ratelimit.Group) gin.HandlerFunc {
	return func(c *gin.Context) {
		if ok, wait := p.limits.Client(group, c.ClientIP(), p.clock()); !ok {
			p.fail(c, rateLimited(wait))
		}
	}
}

// limitSubject spends one attempt of the group's budget for an address or
// a token.
func (p *Pages) limitSubject(group ratelimit.Group, subject ratelimit.Subject) error {
	if ok, wait := p.limits.Subject(group, subject, p.clock()); !ok {
		return rateLimited(wait)
	}
	return nil
}
