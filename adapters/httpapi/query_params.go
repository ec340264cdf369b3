package httpapi

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// queryParams reads and validates a query route's parameters, collecting
// every problem so that one 400 names them all. Unknown parameters are
// refused, like unknown fields of a JSON body: a misspelt filter
// (?stauts=active) silently ignored would answer a different question
// than the one asked. An empty value counts as not given.
type queryParams struct {
	values url.Values
	errs   map[string]string
	failed []string // parameters in the order their problems were found
}

// parseQuery parses the query string, accepting only the parameters named
// in allowed, each at most once.
func parseQuery(c *gin.Context, allowed ...string) *queryParams {
	p := &queryParams{errs: map[string]string{}}
	values, err := url.ParseQuery(c.Request.URL.RawQuery)
	if err != nil {
		p.fail("query", "the query string is not valid URL encoding (escape %, & and + in values)")
		return p
	}
	p.values = values
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		switch {
		case !slices.Contains(allowed, name):
			p.fail(clip(name), "unknown query parameter; this endpoint accepts "+strings.Join(allowed, ", "))
		case len(values[name]) > 1:
			p.fail(name, "given more than once; give it once")
		}
	}
	return p
}

func (p *queryParams) fail(name, msg string) {
	if _, seen := p.errs[name]; !seen {
		p.failed = append(p.failed, name)
	}
	p.errs[name] = msg
}

// err is the 400 for every problem found, nil when there is none.
func (p *queryParams) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	parts := make([]string, len(p.failed))
	for i, name := range p.failed {
		parts[i] = name + ": " + p.errs[name]
	}
	e := domain.Invalid(CodeInvalidQuery, "invalid query parameter %s", strings.Join(parts, "; "))
	for _, name := range p.failed {
		e = e.WithField(name, p.errs[name])
	}
	return e
}

func (p *queryParams) get(name string) string {
	if p.values == nil {
		return ""
	}
	return p.values.Get(name)
}

// text is a free-text parameter of at most maxLen characters, with no
// control characters.
func (p *queryParams) text(name string, maxLen int) string {
	v := p.get(name)
	switch {
	case len([]rune(v)) > maxLen:
		p.fail(name, fmt.Sprintf("at most %d characters", maxLen))
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		p.fail(name, "must not contain control characters")
	default:
		return v
	}
	return ""
}

// oneOf is a parameter that takes one of the allowed values, or "".
func (p *queryParams) oneOf(name string, allowed ...string) string {
	v := p.get(name)
	if v == "" || slices.Contains(allowed, v) {
		return v
	}
	p.fail(name, fmt.Sprintf("must be one of %s; got %q", strings.Join(allowed, ", "), clip(v)))
	return ""
}

// id is an id parameter (a user, invitation or registration id, or an
// actor name such as system).
func (p *queryParams) id(name string) string {
	v := p.get(name)
	if v == "" {
		return ""
	}
	if _, err := domain.ParseID[string](v); err != nil {
		p.fail(name, "must be an id: 1 to 64 letters, digits, '-' or '_'")
		return ""
	}
	return v
}

// limit is the page size: 1..readmodels.MaxLimit, DefaultLimit when absent.
func (p *queryParams) limit() int {
	v := p.get("limit")
	if v == "" {
		return readmodels.DefaultLimit
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > readmodels.MaxLimit {
		p.fail("limit", fmt.Sprintf("must be a whole number from 1 to %d; got %q", readmodels.MaxLimit, clip(v)))
		return readmodels.DefaultLimit
	}
	return n
}

// maxCursorLength bounds an opaque cursor; the readers' own are far
// shorter.
const maxCursorLength = 1024

// cursor is an opaque page cursor, checked by the reader.
func (p *queryParams) cursor() string {
	v := p.get("cursor")
	if len(v) > maxCursorLength {
		p.fail("cursor", "not a cursor of this endpoint; use nextCursor of the previous page, or start again without it")
		return ""
	}
	return v
}

// desc reads order: asc (the default) or desc.
func (p *queryParams) desc() bool { return p.oneOf("order", "asc", "desc") == "desc" }

// time is an RFC 3339 time; the zero time when absent.
func (p *queryParams) time(name string) time.Time {
	v := p.get(name)
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		msg := fmt.Sprintf("must be an RFC 3339 time such as 2025-06-01T09:30:00Z; got %q", clip(v))
		if strings.Contains(v, " ") {
			msg += " (a + in the offset must be sent as %2B)"
		}
		p.fail(name, msg)
		return time.Time{}
	}
	return t
}

// clip keeps echoed input short.
func clip(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

func statusNames[T ~string](values []T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}
