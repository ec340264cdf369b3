package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

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

// unavailableRetryAfter is what a 503 asks the client to wait.
const unavailableRetryAfter = 5 * time.Second

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

// statusOfKind is the one mapping from domain error kinds to statuses.
var statusOfKind = map[domain.Kind]int{
	domain.KindInvalid:         http.StatusBadRequest,
	domain.KindUnauthenticated: http.StatusUnauthorized,
	domain.KindForbidden:       http.StatusForbidden,
	domain.KindNotFound:        http.StatusNotFound,
	domain.KindConflict:        http.StatusConflict,
	domain.KindGone:            http.StatusGone,
}

// fail answers err as a problem document and aborts the handler chain.
// Everything that is not a domain error, an apiError or an unavailable
// event store is a 500 with a generic message; its error is logged with
// the request id (errors never contain tokens or passwords: the commands
// and token adapters keep them out).
func (a *API) fail(c *gin.Context, err error) {
	if c.Request.Context().Err() != nil && errors.Is(err, context.Canceled) {
		// The client went away; nobody reads the answer.
		c.Set(logCodeKey, "client_closed_request")
		c.AbortWithStatus(499)
		return
	}
	p, retryAfter := a.problemFor(c, err)
	if retryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(retryAfter.Seconds()))))
	}
	if p.Status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Bearer realm="portal"`)
	}
	c.Set(logCodeKey, p.Code)
	c.Header("Content-Type", "application/problem+json")
	c.AbortWithStatusJSON(p.Status, p)
}

func (a *API) problemFor(c *gin.Context, err error) (Problem, time.Duration) {
	var de *domain.Error
	var ae *apiError
	switch {
	case errors.As(err, &de):
		if status, ok := statusOfKind[de.Kind]; ok {
			return newProblem(status, de.Code, de.Message, de.Fields), 0
		}
	case errors.As(err, &ae):
		return newProblem(ae.Status, ae.Code, ae.Detail, nil), ae.RetryAfter
	case errors.Is(err, commands.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		a.logAt(c, slog.LevelWarn, "event store unavailable", err)
		return newProblem(http.StatusServiceUnavailable, CodeUnavailable,
			"the service is temporarily unavailable; nothing was changed, try again shortly", nil), unavailableRetryAfter
	}
	a.logAt(c, slog.LevelError, "request failed", err)
	return newProblem(http.StatusInternalServerError, CodeInternal,
		"something went wrong on our side; try again, and quote the X-Request-ID header if it keeps failing", nil), 0
}

func (a *API) logAt(c *gin.Context, level slog.Level, msg string, err error) {
	a.log.Log(c.Request.Context(), level, msg,
		"request_id", c.GetString(requestIDKey), "route", routeOf(c), "err", err)
}

func newProblem(status int, code, detail string, fields map[string]string) Problem {
	return Problem{
		Type: problemTypePrefix + code, Title: http.StatusText(status), Status: status,
		Detail: detail, Code: code, Errors: fields,
	}
}
