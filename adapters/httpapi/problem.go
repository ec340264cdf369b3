package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/httpkit"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// Codes of the problems the HTTP layer reports itself; the domain's codes
// (domain/codes.go) cover everything else. Stable: clients branch on them.
const (
	CodeMalformedJSON        = "malformed_json"
	CodeBodyTooLarge         = "body_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeRateLimited          = "rate_limited"
	CodeUnavailable          = "service_unavailable"
	CodeInternal             = "internal_error"
	CodeRouteNotFound        = "route_not_found"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeAuthRequired         = "authentication_required"
)

// problemTypePrefix makes a problem's type URI from its code.
const problemTypePrefix = "urn:orgportal:problem:"

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	// Code is the stable, machine-readable reason (the last segment of Type).
	Code string `json:"code"`
	// Errors lists validation problems per request field.
	Errors map[string]string `json:"errors,omitempty"`
}

// apiError is a failure the HTTP layer detects itself (body too large,
// rate limited, ...), as opposed to the domain's.
type apiError struct {
	Status     int
	Code       string
	Detail     string
	RetryAfter time.Duration
}

func (e *apiError) Error() string { return e.Code + ": " + e.Detail }

// fail answers err as a problem document and aborts the handler chain.
// Everything that is not a domain error, an apiError or an unavailable
// event store is a 500 with a generic message; its error is logged with
// the request id (errors never contain tokens or passwords: the commands
// and token adapters keep them out).
func (a *API) fail(c *gin.Context, err error) {
	if denied := commands.ConfirmGrant(c.Request.Context()); denied != nil {
		err = denied // a request authorized ahead, and refused: nothing else is told
	}
	if httpkit.ClientGone(c, err) {
		return
	}
	p, retryAfter := a.problemFor(c, err)
	if retryAfter > 0 {
		httpkit.SetRetryAfter(c, retryAfter)
	}
	if p.Status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Bearer realm="portal"`)
	}
	httpkit.SetLogCode(c, p.Code)
	c.Header("Content-Type", "application/problem+json")
	c.AbortWithStatusJSON(p.Status, p)
}

func (a *API) problemFor(c *gin.Context, err error) (Problem, time.Duration) {
	var de *domain.Error
	var ae *apiError
	switch {
	case errors.As(err, &de):
		if status, ok := httpkit.StatusOf(de.Kind); ok {
			return newProblem(status, de.Code, de.Message, de.Fields), 0
		}
	case errors.As(err, &ae):
		return newProblem(ae.Status, ae.Code, ae.Detail, nil), ae.RetryAfter
	case httpkit.Unavailable(err):
		httpkit.LogError(a.log, c, slog.LevelWarn, "event store unavailable", err)
		return newProblem(http.StatusServiceUnavailable, CodeUnavailable,
			"the event store cannot be reached right now; repeat the request shortly (repeating is safe: if an earlier attempt went through, the answer says so)", nil), httpkit.UnavailableRetryAfter
	}
	httpkit.LogError(a.log, c, slog.LevelError, "request failed", err)
	return newProblem(http.StatusInternalServerError, CodeInternal,
		"something went wrong on our side; try again, and quote the X-Request-ID header if it keeps failing", nil), 0
}

func newProblem(status int, code, detail string, fields map[string]string) Problem {
	return Problem{
		Type: problemTypePrefix + code, Title: http.StatusText(status), Status: status,
		Detail: detail, Code: code, Errors: fields,
	}
}
