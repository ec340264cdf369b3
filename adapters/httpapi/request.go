package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// Keys of values kept on the Gin context.
const (
	requestIDKey = "httpapi.request_id"
	logCodeKey   = "httpapi.problem_code"
	principalKey = "httpapi.principal"
	tokenKey     = "httpapi.session_token"
)

// RequestIDHeader carries the correlation id in both directions.
const RequestIDHeader = "X-Request-ID"

// ConsistencyHeader carries the commit position of a write.
const ConsistencyHeader = "X-Consistency-Token"

// wellFormedRequestID admits the ids proxies and clients commonly send
// (UUIDs, hex, base64url) and nothing that could forge a log line.
var wellFormedRequestID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)

// requestID takes the client's X-Request-ID when it is well-formed, or
// makes one, and echoes it. It becomes the correlation id of every event
// the request writes.
func (a *API) requestID(c *gin.Context) {
	id := c.GetHeader(RequestIDHeader)
	if !wellFormedRequestID.MatchString(id) {
		id = uuid.NewString()
	}
	c.Set(requestIDKey, id)
	c.Header(RequestIDHeader, id)
}

// accessLog writes one line per request. It logs the route template, never
// the concrete path or the query string, which may hold tokens.
func (a *API) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	status := c.Writer.Status()
	level := slog.LevelInfo
	if status >= 500 && status != http.StatusServiceUnavailable {
		level = slog.LevelError
	} else if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("method", c.Request.Method),
		slog.String("route", routeOf(c)),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		slog.Int("bytes", max(c.Writer.Size(), 0)),
		slog.String("client", c.ClientIP()),
		slog.String("request_id", c.GetString(requestIDKey)),
	}
	if code := c.GetString(logCodeKey); code != "" {
		attrs = append(attrs, slog.String("code", code))
	}
	if p, ok := c.Get(principalKey); ok {
		attrs = append(attrs, slog.String("user_id", string(p.(commands.Principal).UserID)))
	}
	a.log.LogAttrs(c.Request.Context(), level, "http request", attrs...)
}

// routeOf is the route template of the request, safe to log.
func routeOf(c *gin.Context) string {
	if r := c.FullPath(); r != "" {
		return r
	}
	return "(no route)"
}

// recover is the backstop for a handler that panics: a 500 problem and a
// log line (without the request's path or body).
func (a *API) recover(c *gin.Context) {
	defer func() {
		if rec := recover(); rec != nil {
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
			a.fail(c, fmt.Errorf("panic: %v", rec))
		}
	}()
	c.Next()
}

// limitBody refuses bodies over MaxBodyBytes: at once when the length is
// declared, while reading otherwise.
func (a *API) limitBody(c *gin.Context) {
	if c.Request.ContentLength > MaxBodyBytes {
		a.fail(c, bodyTooLarge())
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, MaxBodyBytes)
}

func bodyTooLarge() error {
	return &apiError{Status: http.StatusRequestEntityTooLarge, Code: CodeBodyTooLarge,
		Detail: fmt.Sprintf("the request body is larger than %d bytes", MaxBodyBytes)}
}

func malformed(format string, args ...any) *domain.Error {
	return domain.Invalid(CodeMalformedJSON, format, args...)
}

// bindJSON decodes the body into dst: one JSON object, no unknown fields
// (a misspelt field is an error, not silently ignored), nothing after it.
func bindJSON(c *gin.Context, dst any) error {
	if ct := c.ContentType(); ct != "application/json" && !strings.HasSuffix(ct, "+json") {
		return &apiError{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMediaType,
			Detail: "send the body as JSON with Content-Type: application/json"}
	}
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return decodeError(err)
		}
		return malformed("the request body must hold exactly one JSON object; found more after it")
	}
	return nil
}

func decodeError(err error) error {
	if fe := (*fieldDecodeError)(nil); errors.As(err, &fe) {
		return malformed("a field has the wrong type").WithField(fe.field, fe.msg)
	}
	var tooLarge *http.MaxBytesError
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooLarge):
		return bodyTooLarge()
	case errors.Is(err, io.EOF):
		return malformed("the request body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return malformed("the request body ends in the middle of the JSON document")
	case errors.As(err, &syntax):
		return malformed("the request body is not valid JSON (at byte %d): %s", syntax.Offset, syntax.Error())
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return malformed("the request body must be a JSON object")
		}
		return malformed("a field has the wrong type").WithField(typeErr.Field, "must be "+jsonTypeName(typeErr.Type.Kind().String()))
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		field, _ = strconv.Unquote(field)
		if len(field) > 100 {
			field = field[:100]
		}
		return malformed("the request has a field this endpoint does not know").WithField(field, "unknown field")
	}
	return malformed("the request body could not be read as JSON")
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "a list"
	case "struct", "map":
		return "an object"
	case "ptr":
		return "a value of another type"
	}
	return "a number"
}

// fieldDecodeError is returned by custom UnmarshalJSON methods.
type fieldDecodeError struct{ field, msg string }

func (e *fieldDecodeError) Error() string { return e.field + ": " + e.msg }

// commandRequest is what the commands need to know about this request.
func (a *API) commandRequest(c *gin.Context) commands.Request {
	req := commands.Request{CorrelationID: c.GetString(requestIDKey), Time: a.clock()}
	if p, ok := c.Get(principalKey); ok {
		req.Actor = domain.UserActor(p.(commands.Principal).UserID)
	}
	return req
}

// written answers a successful write: the commit position in the body
// (field position of body, which must have one) and in the header.
func written(c *gin.Context, status int, pos commands.Position, body any) {
	c.Header(ConsistencyHeader, strconv.FormatUint(uint64(pos), 10))
	c.JSON(status, body)
}
