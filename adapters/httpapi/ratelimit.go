package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/ratelimit"
)

// Rate and ParseRate stay here for cmd/portal/config, which reads the
// PORTAL_RATE_LIMIT_* settings with them; the limits themselves live in
// package ratelimit, shared with the portal pages.
type Rate = ratelimit.Rate

// ParseRate reads "N/DURATION" (e.g. "30/1m"), or "off" for no limit.
func ParseRate(s string) (Rate, error) { return ratelimit.ParseRate(s) }

func rateLimited(retryAfter time.Duration, what string) error {
	return &apiError{Status: http.StatusTooManyRequests, Code: CodeRateLimited, RetryAfter: max(retryAfter, time.Second),
		Detail: "too many " + what + "; wait for the time in the Retry-After header, then try again"}
}

// limitClient is middleware: the route group's budget per client address.
func (a *API) limitClient(group ratelimit.Group) gin.HandlerFunc {
	return func(c *gin.Context) {
		if ok, wait := a.limits.Client(group, c.ClientIP(), a.clock()); !ok {
			a.fail(c, rateLimited(wait, "requests from your address"))
		}
	}
}

// limitSubject spends one request of the group's budget for an email
// address or a token.
func (a *API) limitSubject(group ratelimit.Group, subject ratelimit.Subject) error {
	if ok, wait := a.limits.Subject(group, subject, a.clock()); !ok {
		return rateLimited(wait, "attempts for this address or link")
	}
	return nil
}
