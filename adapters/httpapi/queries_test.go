package httpapi_test

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/httpapi"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// queryEnv is an env whose API reads from a memReader.
func queryEnv(t *testing.T, opts ...option) (*env, *memReader) {
	t.Helper()
	r := &memReader{}
	e := newEnv(t, append([]option{withReadModels(r)}, opts...)...)
	return e, r
}

func (e *env) get(token, pathAndQuery string, header ...string) reply {
	e.t.Helper()
	h := map[string]string{}
	for i := 0; i+1 < len(header); i += 2 {
		h[header[i]] = header[i+1]
	}
	return e.do(req{Method: "GET", Path: "/orgs/" + e.org + pathAndQuery, Token: token, Header: h})
}

func ref(id, email string) *readmodels.Ref {
	return &readmodels.Ref{UserID: domain.UserID(id), Email: email}
}

func userRow(org, id, email string, status readmodels.UserStatus, role domain.Role, by *readmodels.Ref) readmodels.User {
	name := strings.ToUpper(email[:1]) + strings.Split(email, "@")[0][1:]
	joined := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	u := readmodels.User{ID: readmodels.UserDocID(domain.OrgID(org), email), OrgID: domain.OrgID(org), UserID: domain.UserID(id),
		Email: email, NormalizedEmail: email, Name: name, NameFold: strings.ToLower(name), Status: status, Role: role,
		JoinedVia: domain.JoinedViaInvitation, InvitedBy: by, InvitedAt: &joined}
	switch status {
	case readmodels.StatusActive, readmodels.StatusRemoved:
		u.JoinedAt = &joined
	default: // not joined yet
		u.UserID, u.JoinedVia, u.InvitationID = "", "", "inv-"+domain.InvitationID(strings.Split(email, "@")[0])
	}
	return u
}

func items(r reply) []map[string]any {
	var out []map[string]any
	list, _ := r.Body["items"].([]any)
	for _, x := range list {
		out = append(out, x.(map[string]any))
	}
	return out
}

func field(m map[string]any, key string) string { s, _ := m[key].(string); return s }

func (r reply) fieldErrors() map[string]any { m, _ := r.Body["errors"].(map[string]any); return m }

func TestUsersQueryPassesFiltersAndPagesThrough(t *testing.T) {
	t.Parallel()
	e, r := queryEnv(t)
	owner := e.ownerToken()
	ownerRef := ref(e.owner, e.addr("owner"))
	r.set(func(m *memReader) {
		m.users = []readmodels.User{
			userRow(e.org, e.owner, e.addr("owner"), readmodels.StatusActive, domain.RoleOwner, nil),
			userRow(e.org, "u-ann", e.addr("ann"), readmodels.StatusActive, domain.RoleAdmin, ownerRef),
			userRow(e.org, "u-amy", e.addr("amy"), readmodels.StatusActive, domain.RoleMember, ownerRef),
			userRow(e.org, "", e.addr("abe"), readmodels.StatusInvited, domain.RoleMember, ownerRef),
			userRow(e.org, "u-al", e.addr("al"), readmodels.StatusRemoved, domain.RoleMember, ownerRef),
			// another organization's row never shows
			userRow("org-other", "u-ava", "ava@other.test", readmodels.StatusActive, domain.RoleMember, nil),
		}
	})

	res := e.want(e.get(owner, "/users?q=A&status=active&sort=name&order=desc&limit=1"), 200, "")
	q := r.lastUsersQuery()
	if q.OrgID != domain.OrgID(e.org) || q.Q != "A" || q.Status != readmodels.StatusActive || q.Sort != readmodels.SortName ||
		!q.Desc || q.Limit != 1 || q.Cursor != "" || q.Role != "" {
		t.Fatalf("reader asked %+v", q)
	}
	got := items(res)
	if len(got) != 1 || field(got[0], "email") != e.addr("ann") || res.str("nextCursor") == "" {
		t.Fatalf("first page: %s", res.Raw)
	}
	ann := got[0]
	by, _ := ann["invitedBy"].(map[string]any)
	if field(ann, "userId") != "u-ann" || field(ann, "name") != "Ann" || field(ann, "status") != "active" || field(ann, "role") != "admin" ||
		field(ann, "joinedVia") != "invitation" || field(by, "userId") != e.owner || field(by, "email") != e.addr("owner") ||
		field(ann, "invitedAt") != "2025-05-01T12:00:00Z" || field(ann, "joinedAt") != "2025-05-01T12:00:00Z" {
		t.Errorf("item: %v", ann)
	}
	for _, hidden := range []string{"orgId", "normalizedEmail", "nameFold", "position", "_id", "id", "updatedAt"} {
		if _, ok := ann[hidden]; ok {
			t.Errorf("item shows stored field %s: %v", hidden, ann)
		}
	}
	counts, _ := res.Body["counts"].(map[string]any)
	if fmt.Sprint(counts) != "map[active:2 invited:1 pending_verification:0 removed:1]" {
		t.Errorf("counts %v, want every status, zeros included", counts)
	}
	if res.Header.Get(httpapi.ConsistencyStateHeader) != "" {
		t.Errorf("a read without a token says %s: %q", httpapi.ConsistencyStateHeader, res.Header.Get(httpapi.ConsistencyStateHeader))
	}

	next := e.want(e.get(owner, "/users?q=A&status=active&sort=name&order=desc&limit=1&cursor="+url.QueryEscape(res.str("nextCursor"))), 200, "")
	if q := r.lastUsersQuery(); q.Cursor != res.str("nextCursor") {
		t.Errorf("cursor passed as %q, want %q", q.Cursor, res.str("nextCursor"))
	}
	if got := items(next); len(got) != 1 || field(got[0], "email") != e.addr("amy") {
		t.Errorf("second page: %s", next.Raw)
	}

	// Defaults; an invited row has no userId but its invitation id.
	res = e.want(e.get(owner, "/users?status=invited&q="), 200, "")
	if q := r.lastUsersQuery(); q.Limit != readmodels.DefaultLimit || q.Sort != "" || q.Desc || q.Q != "" {
		t.Errorf("defaults: %+v", q)
	}
	if got := items(res); len(got) != 1 || got[0]["userId"] != nil || field(got[0], "invitationId") != "inv-abe" || got[0]["joinedAt"] != nil {
		t.Errorf("invited row: %s", res.Raw)
	}
	if _, ok := res.Body["nextCursor"]; ok {
		t.Errorf("last page with a nextCursor: %s", res.Raw)
	}
}

func TestInvitationsAndAuditQueries(t *testing.T) {
	t.Parallel()
	e, r := queryEnv(t)
	owner := e.ownerToken()
	now := e.clock.Now()
	sent := now.Add(-time.Hour)
	r.set(func(m *memReader) {
		m.invitations = []readmodels.Invitation{
			{ID: "inv-live", OrgID: domain.OrgID(e.org), Email: e.addr("ann"), Role: domain.RoleMember,
				InvitedBy: readmodels.Ref{UserID: domain.UserID(e.owner), Email: e.addr("owner")},
				InvitedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(time.Hour), Status: readmodels.InvitationPending,
				TimesSent: 2, LastSentAt: &sent, Delivery: readmodels.Delivery{State: readmodels.DeliverySent, At: &sent}},
			{ID: "inv-old", OrgID: domain.OrgID(e.org), Email: e.addr("bob"), Role: domain.RoleAdmin,
				InvitedAt: now.Add(-9 * 24 * time.Hour), ExpiresAt: now.Add(-time.Minute), Status: readmodels.InvitationPending,
				Delivery: readmodels.Delivery{State: readmodels.DeliveryFailed, Reason: "mailbox unknown"}},
		}
		m.audit = []readmodels.AuditEntry{
			{ID: "ev-1", OrgID: domain.OrgID(e.org), At: now, Actor: e.owner, Action: domain.TypeUserInvited, Subject: "inv-live",
				Details: map[string]any{"role": "member"}, Position: 42},
			{ID: "ev-2", OrgID: domain.OrgID(e.org), At: now, Actor: "system", Action: domain.TypeMemberJoined, Subject: "u-1", Position: 43},
		}
	})

	// Expiry is judged at the request's clock, which the test moves.
	res := e.want(e.get(owner, "/invitations?status=expired"), 200, "")
	if got := items(res); len(got) != 1 || field(got[0], "invitationId") != "inv-old" || field(got[0], "status") != "expired" ||
		field(got[0]["delivery"].(map[string]any), "reason") != "mailbox unknown" {
		t.Fatalf("expired: %s", res.Raw)
	}
	e.clock.Advance(2 * time.Hour)
	res = e.want(e.get(owner, "/invitations?status=expired&limit=200"), 200, "")
	if got := items(res); len(got) != 2 {
		t.Fatalf("after two hours both are expired: %s", res.Raw)
	}
	r.mu.Lock()
	q := r.invitationQueries[len(r.invitationQueries)-1]
	r.mu.Unlock()
	if !q.Now.Equal(e.clock.Now()) || q.Limit != 200 || q.Status != readmodels.InvitationExpired || q.OrgID != domain.OrgID(e.org) {
		t.Errorf("invitations query %+v", q)
	}

	from, to := "2025-01-01T00:00:00Z", "2025-01-02T00:00:00+02:00"
	res = e.want(e.get(owner, "/audit?actor="+e.owner+"&action=UserInvited&subject=inv-live&from="+from+"&to="+url.QueryEscape(to)+"&limit=5&cursor=mem:0"), 200, "")
	r.mu.Lock()
	aq := r.auditQueries[len(r.auditQueries)-1]
	r.mu.Unlock()
	wantTo, _ := time.Parse(time.RFC3339, to)
	if aq.Actor != e.owner || aq.Action != domain.TypeUserInvited || aq.Subject != "inv-live" || aq.Limit != 5 || aq.Cursor != "mem:0" ||
		!aq.From.Equal(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) || !aq.To.Equal(wantTo) {
		t.Errorf("audit query %+v", aq)
	}
	if got := items(res); len(got) != 1 || field(got[0], "eventId") != "ev-1" || got[0]["position"] != float64(42) ||
		field(got[0]["details"].(map[string]any), "role") != "member" {
		t.Errorf("audit: %s", res.Raw)
	}
}

// Every parameter is checked, and the problem names it with the values it
// takes; several problems come in one answer.
func TestQueryParametersAreValidated(t *testing.T) {
	t.Parallel()
	e, r := queryEnv(t)
	owner := e.ownerToken()
	future := url.QueryEscape(e.clock.Now().Add(time.Hour).Format(time.RFC3339))
	for _, tc := range []struct {
		query string
		param string
		want  string // in the parameter's message
	}{
		{"/users?limit=0", "limit", "from 1 to 200"},
		{"/users?limit=201", "limit", "from 1 to 200"},
		{"/users?limit=ten", "limit", "from 1 to 200"},
		{"/users?status=gone", "status", "invited, pending_verification, active, removed"},
		{"/users?role=king", "role", "owner, admin, member"},
		{"/users?sort=age", "sort", "email, name, invitedAt, joinedAt"},
		{"/users?order=up", "order", "asc, desc"},
		{"/users?q=" + strings.Repeat("a", 255), "q", "at most 254"},
		{"/users?q=a%00b", "q", "control characters"},
		{"/users?cursor=" + strings.Repeat("c", 1025), "cursor", "nextCursor"},
		{"/users?stauts=active", "stauts", "accepts q, status, role, sort, order, limit, cursor, asOf, consistency"},
		{"/users?role=admin&role=member", "role", "more than once"},
		{"/users?asOf=yesterday", "asOf", "RFC 3339"},
		{"/users?asOf=2025-01-01T00:00:00+02:00", "asOf", "%2B"},
		{"/users?asOf=" + future, "asOf", "future"},
		{"/users?asOf=2025-01-01T00:00:00Z&status=invited", "status", "only be active"},
		{"/users?asOf=2025-01-01T00:00:00Z&sort=invitedAt", "sort", "email, name, joinedAt"},
		{"/users?consistency=-1", "consistency", "whole number"},
		{"/users?consistency=%2B5", "consistency", "whole number"},
		{"/users?consistency=18446744073709551616", "consistency", "whole number"},
		{"/users?%zz", "query", "URL encoding"},
		{"/invitations?status=open", "status", "pending, accepted, revoked, expired"},
		{"/invitations?q=ann", "q", "accepts status, limit, cursor, consistency"},
		{"/audit?from=2025-13-01T00:00:00Z", "from", "RFC 3339"},
		{"/audit?from=2025-01-02T00:00:00Z&to=2025-01-01T00:00:00Z", "to", "after from"},
		{"/audit?from=2025-01-02T00:00:00Z&to=2025-01-02T00:00:00Z", "to", "after from"},
		{"/audit?actor=a%20b", "actor", "an id"},
		{"/audit?subject=" + strings.Repeat("s", 65), "subject", "an id"},
		{"/audit?action=Hacked", "action", "UserInvited"},
		{"/audit?limit=500", "limit", "from 1 to 200"},
		{"/users/" + e.owner + "/lineage?depth=3", "depth", "accepts consistency"},
	} {
		res := e.want(e.get(owner, tc.query), 400, httpapi.CodeInvalidQuery)
		msg, _ := res.fieldErrors()[tc.param].(string)
		if !strings.Contains(msg, tc.want) || !strings.Contains(res.str("detail"), tc.param) {
			t.Errorf("%s: errors[%s] = %q, want it to contain %q: %s", tc.query, tc.param, msg, tc.want, res.Raw)
		}
	}

	res := e.want(e.get(owner, "/users?limit=0&status=x&bogus=1"), 400, httpapi.CodeInvalidQuery)
	if errs := res.fieldErrors(); len(errs) != 3 || errs["limit"] == nil || errs["status"] == nil || errs["bogus"] == nil {
		t.Errorf("all problems at once: %s", res.Raw)
	}
	res = e.want(e.get(owner, "/users", httpapi.ConsistencyHeader, "abc"), 400, httpapi.CodeInvalidQuery)
	if res.fieldErrors()[httpapi.ConsistencyHeader] == nil {
		t.Errorf("malformed header token: %s", res.Raw)
	}
	e.want(e.get(owner, "/users/not%20an%20id/lineage"), 400, domain.CodeInvalidID)

	r.mu.Lock()
	asked := len(r.usersQueries) + len(r.invitationQueries) + len(r.auditQueries) + r.positionCalls
	r.mu.Unlock()
	if asked != 0 {
		t.Errorf("the reader was asked %d times for invalid queries", asked)
	}
}

// Only owners and admins of the organization read it; the check is the
// organization's stream, so a demotion counts at once.
func TestQueriesAreForAdminsOnly(t *testing.T) {
	t.Parallel()
	e, r := queryEnv(t)
	owner := e.ownerToken()
	r.set(func(m *memReader) {
		m.users = []readmodels.User{userRow(e.org, e.owner, e.addr("owner"), readmodels.StatusActive, domain.RoleOwner, nil)}
	})
	e.member(owner, "paul", "member")
	e.member(owner, "ada", "admin")
	member := e.signIn(e.addr("paul"), goodPassword)
	admin := e.signIn(e.addr("ada"), goodPassword)
	other := e.otherTenant()

	paths := []string{"/users", "/users?asOf=" + url.QueryEscape(e.clock.Now().Format(time.RFC3339)),
		"/users/" + e.owner + "/lineage", "/invitations", "/audit"}
	for _, p := range paths {
		e.want(e.get("", p), 401, httpapi.CodeAuthRequired)
		e.want(e.get(member, p), 403, domain.CodeNotAnAdmin)
		e.want(e.get(other.ownerToken, p), 403, domain.CodeNotAnAdmin)
		// A member's bad parameters still get 403: nothing about the query is judged first.
		e.want(e.get(member, withParam(p, "limit=0")), 403, domain.CodeNotAnAdmin)
		e.want(e.get(admin, p), 200, "")
		e.want(e.get(owner, p), 200, "")
	}

	// Demoted: the next read is refused, whatever the read model says.
	adaID := e.userIDOf("ada")
	e.wantWrite(e.do(req{Method: "PUT", Path: "/orgs/" + e.org + "/users/" + adaID + "/role", Token: owner, Body: map[string]string{"role": "member"}}), 200)
	e.want(e.get(admin, "/users"), 403, domain.CodeNotAnAdmin)
}

func withParam(path, param string) string {
	if strings.Contains(path, "?") {
		return path + "&" + param
	}
	return path + "?" + param
}

// userIDOf finds a member's user id in the organization's stream.
func (e *env) userIDOf(local string) string {
	e.t.Helper()
	for _, ev := range e.events(domain.OrganizationStream(domain.OrgID(e.org))) {
		if j, ok := ev.(domain.MemberJoined); ok && j.NormalizedEmail == e.addr(local) {
			return string(j.UserID)
		}
	}
	e.t.Fatalf("no member %s", local)
	return ""
}

func TestReaderErrorsAreMapped(t *testing.T) {
	t.Parallel()
	e, r := queryEnv(t)
	owner := e.ownerToken()
	paths := []string{"/users", "/users/" + e.owner + "/lineage", "/invitations", "/audit"}

	r.set(func(m *memReader) { m.err = fmt.Errorf("mongo: %w", readmodels.ErrUnavailable) })
	for _, p := range paths {
		res := e.want(e.get(owner, p), 503, httpapi.CodeReadModelsUnavailable)
		if res.Header.Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", p)
		}
	}
	// Commands keep working while the read models are down.
	e.wantWrite(e.do(req{Method: "POST", Path: "/orgs/" + e.org + "/invitations", Token: owner, Body: map[string]any{"emails": e.addr("zoe")}}), 200)
	// So does asOf, which reads the event store.
	res := e.want(e.get(owner, "/users?asOf="+url.QueryEscape(e.clock.Now().Format(time.RFC3339))), 200, "")
	if len(items(res)) != 1 {
		t.Errorf("asOf with the read models down: %s", res.Raw)
	}
	// Waiting for a token needs the position: unavailable too.
	e.want(e.get(owner, "/users", httpapi.ConsistencyHeader, "5"), 503, httpapi.CodeReadModelsUnavailable)

	r.set(func(m *memReader) { m.err = fmt.Errorf("wrapped: %w", readmodels.ErrBadCursor) })
	for _, p := range []string{"/users", "/invitations", "/audit"} {
		res := e.want(e.get(owner, p+"?cursor=stale"), 400, httpapi.CodeInvalidCursor)
		if res.fieldErrors()["cursor"] == nil {
			t.Errorf("%s: bad cursor not filed under cursor: %s", p, res.Raw)
		}
	}

	r.set(func(m *memReader) { m.err = errors.New("a bug") })
	res = e.want(e.get(owner, "/users"), 500, httpapi.CodeInternal)
	if strings.Contains(string(res.Raw), "a bug") {
		t.Errorf("internal error leaked: %s", res.Raw)
	}

	// The reader's own cursor check, without injected errors.
	r.set(func(m *memReader) { m.err = nil })
	e.want(e.get(owner, "/users?cursor=nonsense"), 400, httpapi.CodeInvalidCursor)
}

// Without read models the query routes say so; asOf, from the event
// store, still answers.
func TestQueriesWithoutReadModels(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner := e.ownerToken()
	for _, p := range []string{"/users", "/users/" + e.owner + "/lineage", "/invitations", "/audit"} {
		e.want(e.get(owner, p), 503, httpapi.CodeReadModelsNotConfigured)
	}
	res := e.want(e.get(owner, "/users?asOf="+url.QueryEscape(e.clock.Now().Format(time.RFC3339))), 200, "")
	if got := items(res); len(got) != 1 || field(got[0], "userId") != e.owner {
		t.Errorf("asOf: %s", res.Raw)
	}
}

// The OpenAPI document lists exactly the query parameters each query
// route accepts: the route's own answer to an unknown parameter names
// them.
func TestOpenAPIDocumentsQueryParameters(t *testing.T) {
	t.Parallel()
	e, _ := queryEnv(t)
	owner := e.ownerToken()
	doc := e.want(e.do(req{Method: "GET", Path: "/openapi.json"}), 200, "")
	paths := doc.Body["paths"].(map[string]any)
	for _, route := range []string{"/users", "/users/{userId}/lineage", "/invitations", "/audit"} {
		get := paths["/orgs/{orgId}"+route].(map[string]any)["get"].(map[string]any)
		var documented []string
		header := false
		for _, p := range get["parameters"].([]any) {
			p := p.(map[string]any)
			switch p["in"] {
			case "query":
				documented = append(documented, p["name"].(string))
			case "header":
				header = header || p["name"] == httpapi.ConsistencyHeader
			}
		}
		res := e.want(e.get(owner, strings.ReplaceAll(route, "{userId}", e.owner)+"?zzz=1"), 400, httpapi.CodeInvalidQuery)
		msg, _ := res.fieldErrors()["zzz"].(string)
		_, list, _ := strings.Cut(msg, "accepts ")
		accepted := strings.Split(list, ", ")
		slices.Sort(accepted)
		slices.Sort(documented)
		if !slices.Equal(accepted, documented) || !header {
			t.Errorf("%s: documented %v (consistency header %v), accepts %v", route, documented, header, accepted)
		}
		okResp := get["responses"].(map[string]any)["200"].(map[string]any)
		if _, ok := okResp["headers"].(map[string]any)[httpapi.ConsistencyStateHeader]; !ok {
			t.Errorf("%s: 200 does not document %s", route, httpapi.ConsistencyStateHeader)
		}
	}
}
