package httpapi_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/httpapi"
)

// asOfRows renders an asOf answer as "local role via by-local joined-minute".
func asOfRows(e *env, res reply, t0 time.Time) string {
	var out []string
	for _, it := range items(res) {
		by := "-"
		if m, ok := it["invitedBy"].(map[string]any); ok {
			by = strings.TrimSuffix(field(m, "email"), "@"+e.domain)
			if field(m, "userId") == "" {
				by += "(no id)"
			}
		}
		joined, err := time.Parse(time.RFC3339, field(it, "joinedAt"))
		if err != nil || field(it, "status") != "active" || field(it, "userId") == "" || it["invitedAt"] != nil {
			e.t.Errorf("asOf item %v", it)
		}
		out = append(out, fmt.Sprintf("%s %s %s %s %d", strings.TrimSuffix(field(it, "email"), "@"+e.domain),
			field(it, "role"), field(it, "joinedVia"), by, int(joined.Sub(t0).Minutes())))
	}
	return strings.Join(out, "; ")
}

func asOfParam(t time.Time) string { return "asOf=" + url.QueryEscape(t.Format(time.RFC3339Nano)) }

// The membership at each moment of an organization's life, computed from
// the events the commands wrote, with the read models out of the picture.
func TestUsersAsOfFromTheEventStore(t *testing.T) {
	t.Parallel()
	e, r := queryEnv(t) // the read model stays empty: asOf must not use it
	t0 := e.clock.Now()
	owner := e.ownerToken()

	e.clock.Advance(time.Minute)
	annID := e.member(owner, "ann", "admin")
	ann := e.signIn(e.addr("ann"), goodPassword)

	e.clock.Advance(time.Minute)
	bob := e.wantWrite(e.do(req{Method: "POST", Path: "/orgs/" + e.org + "/users", Token: ann,
		Body: map[string]string{"email": e.addr("bob"), "name": "Bob", "role": "member"}}), 201)
	bobID := bob.str("userId")

	e.clock.Advance(time.Minute)
	e.wantWrite(e.do(req{Method: "PUT", Path: "/orgs/" + e.org + "/users/" + bobID + "/role", Token: owner,
		Body: map[string]string{"role": "admin"}}), 200)

	e.clock.Advance(time.Minute)
	removal := e.wantWrite(e.do(req{Method: "DELETE", Path: "/orgs/" + e.org + "/users/" + annID, Token: owner}), 200)

	e.clock.Advance(time.Minute)
	minute := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{t0.Add(-time.Second), ""},
		{t0, "owner owner bootstrap - 0"},
		{minute(1).Add(-time.Nanosecond), "owner owner bootstrap - 0"},
		{minute(1), "ann admin invitation owner 1; owner owner bootstrap - 0"},
		{minute(2), "ann admin invitation owner 1; bob member manual ann 2; owner owner bootstrap - 0"},
		{minute(3).Add(30 * time.Second), "ann admin invitation owner 1; bob admin manual ann 2; owner owner bootstrap - 0"},
		// Ann left; Bob's inviter is still named, from her join in the same stream.
		{minute(4), "bob admin manual ann 2; owner owner bootstrap - 0"},
		{minute(5), "bob admin manual ann 2; owner owner bootstrap - 0"},
	} {
		res := e.want(e.get(owner, "/users?"+asOfParam(tc.at)), 200, "")
		if got := asOfRows(e, res, t0); got != tc.want {
			t.Errorf("as of %s:\n got %s\nwant %s", tc.at.Format(time.RFC3339Nano), got, tc.want)
		}
		counts, _ := res.Body["counts"].(map[string]any)
		if len(counts) != 1 || counts["active"] != float64(len(items(res))) {
			t.Errorf("as of %s: counts %v", tc.at, counts)
		}
		if at, err := time.Parse(time.RFC3339Nano, res.str("asOf")); err != nil || !at.Equal(tc.at) {
			t.Errorf("asOf echoed as %q, want %s", res.str("asOf"), tc.at)
		}
	}

	// Filters, order and pages work on the past membership too.
	at3 := asOfParam(minute(3))
	res := e.want(e.get(owner, "/users?"+at3+"&q=BO"), 200, "")
	if got := asOfRows(e, res, t0); got != "bob admin manual ann 2" {
		t.Errorf("q: %s", got)
	}
	res = e.want(e.get(owner, "/users?"+at3+"&role=admin&status=active"), 200, "")
	if got := asOfRows(e, res, t0); got != "ann admin invitation owner 1; bob admin manual ann 2" {
		t.Errorf("role: %s", got)
	}
	var pages []string
	next := "/users?" + at3 + "&sort=joinedAt&order=desc&limit=1"
	for next != "" && len(pages) < 5 {
		res = e.want(e.get(owner, next), 200, "")
		pages = append(pages, asOfRows(e, res, t0))
		next = ""
		if c := res.str("nextCursor"); c != "" {
			next = "/users?" + at3 + "&sort=joinedAt&order=desc&limit=1&cursor=" + url.QueryEscape(c)
		}
	}
	if got := strings.Join(pages, " | "); got != "bob admin manual ann 2 | ann admin invitation owner 1 | owner owner bootstrap - 0" {
		t.Errorf("pages: %s", got)
	}
	first := e.want(e.get(owner, "/users?"+at3+"&limit=1"), 200, "")
	e.want(e.get(owner, "/users?"+asOfParam(minute(4))+"&limit=1&cursor="+url.QueryEscape(first.str("nextCursor"))), 400, httpapi.CodeInvalidCursor)

	// The event store has every write it answered: a token needs no wait.
	res = e.want(e.get(owner, "/users?"+asOfParam(minute(5)), httpapi.ConsistencyHeader, removal.Header.Get(httpapi.ConsistencyHeader)), 200, "")
	if got := res.Header.Get(httpapi.ConsistencyStateHeader); got != "fresh" {
		t.Errorf("asOf with a token: %s = %q", httpapi.ConsistencyStateHeader, got)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.usersQueries) != 0 || r.positionCalls != 0 {
		t.Errorf("asOf asked the read model (%d queries, %d position reads)", len(r.usersQueries), r.positionCalls)
	}
}
