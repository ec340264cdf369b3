package httpapi

import (
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/domain"
)

// FuzzQueryParameters feeds raw query strings and consistency headers to
// the parameter checks of the query routes: whatever arrives, the answer
// is a value or a 400 naming the parameters at fault, never a panic.
func FuzzQueryParameters(f *testing.F) {
	for _, seed := range []struct{ query, header string }{
		{"q=ann&status=active&role=admin&sort=name&order=desc&limit=20&cursor=abc", ""},
		{"limit=0&limit=1&stauts=x", "12"},
		{"asOf=2025-01-01T00:00:00+02:00&from=2025-13-01&to=x", "-1"},
		{"%zz&q=%00", "+5"},
		{"consistency=18446744073709551616&actor=a%20b&subject=" + "s", "18446744073709551615"},
		{"q=%F0%9F%98%80%C3%28&action=UserInvited", ""},
	} {
		f.Add(seed.query, seed.header)
	}
	allowed := []string{"q", "status", "role", "sort", "order", "limit", "cursor", "asOf", "actor", "subject",
		"action", "from", "to", ConsistencyParam}
	f.Fuzz(func(t *testing.T, rawQuery, header string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.RawQuery = rawQuery
		r.Header.Set(ConsistencyHeader, header)
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = r

		p := parseQuery(c, allowed...)
		p.text("q", maxSearchLength)
		p.oneOf("status", userStatuses...)
		p.oneOf("sort", userSorts...)
		p.desc()
		limit := p.limit()
		p.cursor()
		p.time("asOf")
		p.time("from")
		p.id("actor")
		p.id("subject")
		p.oneOf("action", auditActions()...)
		p.consistencyToken(c)
		err := p.err()
		if limit < 1 || limit > 200 {
			t.Fatalf("limit %d", limit)
		}
		if err == nil {
			return
		}
		var de *domain.Error
		if !errors.As(err, &de) || de.Kind != domain.KindInvalid || de.Code != CodeInvalidQuery || len(de.Fields) == 0 {
			t.Fatalf("not a 400 naming parameters: %#v", err)
		}
		for name, msg := range de.Fields {
			if name == "" || msg == "" {
				t.Fatalf("empty field problem %q: %q", name, msg)
			}
		}
	})
}
