// Package httpkit is the HTTP plumbing that the JSON API (httpapi) and the
// portal pages (web) share, so that both log, correlate and classify
// requests the same way: request ids, the access log, the backstop for
// panics, body limits, and the one mapping from domain error kinds to
// statuses. How a failure is shown (a problem document, an HTML page)
// stays with each of them.
package httpkit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// RequestIDHeader carries the correlation id in both directions.
const RequestIDHeader = "X-Request-ID"

// UnavailableRetryAfter is what a 503 asks the client to wait.
const UnavailableRetryAfter = 5 * time.Second

// StatusClientClosedRequest is logged for a request whose client went away
// before the answer (nginx's 499); nobody reads it.
const StatusClientClosedRequest = 499

// Keys of values kept on the Gin context.
const (
	requestIDKey = "httpkit.request_id"
	logCodeKey   = "httpkit.log_code"
)

// NewEngine returns a bare Gin engine in release mode that takes the
// client address from the connection, for serving one package on its own
// (tests and tools); the portal builds its engine in cmd/portal.
func NewEngine() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	_ = r.SetTrustedProxies(nil)
	return r
}

// wellFormedRequestID admits the ids proxies and clients commonly send
// (UUIDs, hex, base64url) and nothing that could forge a log line.
var wellFormedRequestID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)

// RequestID is middleware: it takes the client's X-Request-ID when it is
// well-formed, or makes one, and echoes it. It becomes the correlation id
// of every event the request writes.
func RequestID(c *gin.Context) {
	id := c.GetHeader(RequestIDHeader)
	if !wellFormedRequestID.MatchString(id) {
		id = uuid.NewString()
	}
	c.Set(requestIDKey, id)
	c.Header(RequestIDHeader, id)
}

// RequestIDOf is the id RequestID gave the request.
func RequestIDOf(c *gin.Context) string { return c.GetString(requestIDKey) }

// SetLogCode names the outcome (a problem code) in the access log line.
func SetLogCode(c *gin.Context, code string) { c.Set(logCodeKey, code) }

// AccessLog writes one line per request. It logs the route template, never
// the concrete path or the query string, which may hold tokens.
type AccessLog struct {
	Log *slog.Logger
	// UserID is the signed-in user the line names, "" for none.
	UserID func(*gin.Context) string
}

// Handle is the middleware: it logs once the rest of the chain has
// answered.
func (l AccessLog) Handle(c *gin.Context) {
	start := time.Now()
	c.Next()
	l.Write(c, start)
}

// Write logs the answer c has given to a request that began at start, for
// a handler that answers outside a chain that has Handle.
func (l AccessLog) Write(c *gin.Context, start time.Time) {
	status := c.Writer.Status()
	level := slog.LevelInfo
	switch {
	case status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests:
		level = slog.LevelWarn
	case status >= 500:
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("method", c.Request.Method),
		slog.String("route", Route(c)),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		slog.Int("bytes", max(c.Writer.Size(), 0)),
		slog.String("client", c.ClientIP()),
		slog.String("request_id", RequestIDOf(c)),
	}
	if code := c.GetString(logCodeKey); code != "" {
		attrs = append(attrs, slog.String("code", code))
	}
	if l.UserID != nil {
		if id := l.UserID(c); id != "" {
			attrs = append(attrs, slog.String("user_id", id))
		}
	}
	l.Log.LogAttrs(c.Request.Context(), level, "http request", attrs...)
}

// Route is the route template of the request, safe to log.
func Route(c *gin.Context) string {
	if r := c.FullPath(); r != "" {
		return r
	}
	return "(no route)"
}

// LogError logs err with the request's id and route (never its path, query
// or body).
func LogError(log *slog.Logger, c *gin.Context, level slog.Level, msg string, err error) {
	log.Log(c.Request.Context(), level, msg, "request_id", RequestIDOf(c), "route", Route(c), "err", err)
}

// Recover is the backstop for a handler that panics: fail answers it as
// an internal error (and logs it). http.ErrAbortHandler goes on up, as
// net/http expects.
func Recover(fail func(*gin.Context, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if rec := recover(); rec != nil {
				if rec == http.ErrAbortHandler {
					panic(rec)
				}
				fail(c, fmt.Errorf("panic: %v", rec))
			}
		}()
		c.Next()
	}
}

// LimitBody refuses a body over limit bytes: at once (through refuse) when
// the length is declared, while reading otherwise, as an
// *http.MaxBytesError from the body.
func LimitBody(limit int64, refuse func(*gin.Context)) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > limit {
			refuse(c)
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	}
}

// ClientGone reports whether err only says that the client went away; the
// request is then aborted with StatusClientClosedRequest, as there is
// nobody to answer.
func ClientGone(c *gin.Context, err error) bool {
	if c.Request.Context().Err() == nil || !errors.Is(err, context.Canceled) {
		return false
	}
	SetLogCode(c, "client_closed_request")
	c.AbortWithStatus(StatusClientClosedRequest)
	return true
}

// SetRetryAfter asks the client to wait d, in whole seconds rounded up.
func SetRetryAfter(c *gin.Context, d time.Duration) {
	c.Header("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
}

// statusOfKind is the one mapping from domain error kinds to statuses.
var statusOfKind = map[domain.Kind]int{
	domain.KindInvalid:         http.StatusBadRequest,
	domain.KindUnauthenticated: http.StatusUnauthorized,
	domain.KindForbidden:       http.StatusForbidden,
	domain.KindNotFound:        http.StatusNotFound,
	domain.KindConflict:        http.StatusConflict,
	domain.KindGone:            http.StatusGone,
}

// StatusOf is the status that answers a domain error of kind k; false for
// a kind without one (which is then an internal error).
func StatusOf(k domain.Kind) (int, bool) {
	status, ok := statusOfKind[k]
	return status, ok
}

// Unavailable reports whether err says that the event store could not be
// reached in time (503 with UnavailableRetryAfter). The step that failed
// wrote nothing or all of its events (an append whose answer was lost), and
// earlier steps of a command may have gone through; commands are written so
// that repeating the request resumes or answers what happened.
func Unavailable(err error) bool {
	return errors.Is(err, commands.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}
