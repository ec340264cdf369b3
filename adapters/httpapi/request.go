package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/httpkit"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// Keys of values kept on the Gin context.
const (
	principalKey = "httpapi.principal"
	tokenKey     = "httpapi.session_token"
)

// RequestIDHeader carries the correlation id in both directions.
const RequestIDHeader = httpkit.RequestIDHeader

// ConsistencyHeader carries the commit position of a write.
const ConsistencyHeader = "X-Consistency-Token"

// principalID names the signed-in user in the access log.
func principalID(c *gin.Context) string {
	if p, ok := c.Get(principalKey); ok {
		return string(p.(commands.Principal).UserID)
	}
	return ""
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
	req := commands.Request{CorrelationID: httpkit.RequestIDOf(c), Time: a.clock()}
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
