package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/httpkit"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// Codes of the query routes' problems.
const (
	CodeInvalidQuery            = "invalid_query_parameter"
	CodeInvalidCursor           = "invalid_cursor"
	CodeReadModelsUnavailable   = "read_models_unavailable"
	CodeReadModelsNotConfigured = "read_models_not_configured"
	CodeHistoryNotConfigured    = "history_not_configured"
)

// maxSearchLength bounds q: no prefix of an email address is longer.
const maxSearchLength = 254

// The query routes sit in the /orgs/{orgId} group, behind authenticate and
// requireOrg: only owners and admins of the organization read them, judged
// on the organization's stream. They answer from the read models
// (readmodels.Reader), except a users query with asOf, which folds the
// organization's history from the event store.

// reader is the configured Reader, or the 503 that says there is none.
func (a *API) reader() (readmodels.Reader, error) {
	if a.read == nil {
		return nil, &apiError{Status: http.StatusServiceUnavailable, Code: CodeReadModelsNotConfigured,
			Detail: "this server has no read models configured, so it cannot answer queries; changes still work"}
	}
	return a.read, nil
}

// readerFor is the reader for a query of read model model whose
// parameters p holds: once they are all valid, and once that read model
// has passed the request's consistency token (awaitPosition).
func (a *API) readerFor(c *gin.Context, model string, p *queryParams, token uint64, given bool) (readmodels.Reader, error) {
	if err := p.err(); err != nil {
		return nil, err
	}
	r, err := a.reader()
	if err != nil {
		return nil, err
	}
	if err := a.awaitPosition(c, r, model, token, given); err != nil {
		return nil, err
	}
	return r, nil
}

// readFailed maps a Reader's errors: unavailable is a 503 with
// Retry-After (commands keep working), a foreign cursor a 400.
func (a *API) readFailed(c *gin.Context, err error) error {
	switch {
	case errors.Is(err, readmodels.ErrUnavailable):
		httpkit.LogError(a.log, c, slog.LevelWarn, "read models unavailable", err)
		return &apiError{Status: http.StatusServiceUnavailable, Code: CodeReadModelsUnavailable,
			Detail:     "the read models cannot be reached right now; changes still work, try this read again shortly",
			RetryAfter: httpkit.UnavailableRetryAfter}
	case errors.Is(err, readmodels.ErrBadCursor):
		return domain.Invalid(CodeInvalidCursor, "this cursor does not belong to this query; start again without it").
			WithField("cursor", "use nextCursor of the previous page of the same query")
	}
	return err
}

var (
	userStatuses       = statusNames(readmodels.UserStatuses)
	userRoles          = []string{string(domain.RoleOwner), string(domain.RoleAdmin), string(domain.RoleMember)}
	userSorts          = []string{readmodels.SortEmail, readmodels.SortName, readmodels.SortInvitedAt, readmodels.SortJoinedAt}
	invitationStatuses = statusNames([]readmodels.InvitationStatus{readmodels.InvitationPending,
		readmodels.InvitationAccepted, readmodels.InvitationRevoked, readmodels.InvitationExpired})
)

// auditActions are the event types, which the audit's action filter takes.
var auditActions = sync.OnceValue(func() []string {
	r, err := domain.NewRegistry()
	if err != nil {
		return nil // a broken registry stops the server elsewhere; filter nothing here
	}
	return r.Types()
})

// listUsers: GET /orgs/{orgId}/users?q=&status=&role=&sort=&order=&limit=&cursor=[&asOf=].
func (a *API) listUsers(c *gin.Context) error {
	p := parseQuery(c, "q", "status", "role", "sort", "order", "limit", "cursor", "asOf", ConsistencyParam)
	q := readmodels.UsersQuery{
		OrgID:  domain.OrgID(c.Param("orgId")),
		Q:      p.text("q", maxSearchLength),
		Status: readmodels.UserStatus(p.oneOf("status", userStatuses...)),
		Role:   domain.Role(p.oneOf("role", userRoles...)),
		Sort:   p.oneOf("sort", userSorts...),
		Desc:   p.desc(),
		Limit:  p.limit(),
		Cursor: p.cursor(),
	}
	token, given := p.consistencyToken(c)
	if p.get("asOf") != "" {
		return a.usersAsOf(c, p, q, given)
	}
	r, err := a.readerFor(c, readmodels.UsersBase, p, token, given)
	if err != nil {
		return err
	}
	page, err := r.Users(c.Request.Context(), q)
	if err != nil {
		return a.readFailed(c, err)
	}
	counts := make(map[string]int, len(readmodels.UserStatuses))
	for _, s := range readmodels.UserStatuses {
		counts[string(s)] = page.Counts[s]
	}
	c.JSON(http.StatusOK, usersResponse{Items: userItemsOf(page.Items), NextCursor: page.NextCursor, Counts: counts})
	return nil
}

// listInvitations: GET /orgs/{orgId}/invitations?status=&limit=&cursor=.
// Expiry is judged at the request's time.
func (a *API) listInvitations(c *gin.Context) error {
	p := parseQuery(c, "status", "limit", "cursor", ConsistencyParam)
	now := a.clock()
	q := readmodels.InvitationsQuery{
		OrgID:  domain.OrgID(c.Param("orgId")),
		Status: readmodels.InvitationStatus(p.oneOf("status", invitationStatuses...)),
		Now:    now,
		Limit:  p.limit(),
		Cursor: p.cursor(),
	}
	token, given := p.consistencyToken(c)
	r, err := a.readerFor(c, readmodels.InvitationsBase, p, token, given)
	if err != nil {
		return err
	}
	page, err := r.Invitations(c.Request.Context(), q)
	if err != nil {
		return a.readFailed(c, err)
	}
	items := make([]invitationItem, len(page.Items))
	for i, inv := range page.Items {
		items[i] = invitationItemOf(inv, now)
	}
	c.JSON(http.StatusOK, invitationsResponse{Items: items, NextCursor: page.NextCursor})
	return nil
}

// listAudit: GET /orgs/{orgId}/audit?actor=&subject=&action=&from=&to=&limit=&cursor=,
// oldest first; from is inclusive, to exclusive.
func (a *API) listAudit(c *gin.Context) error {
	p := parseQuery(c, "actor", "subject", "action", "from", "to", "limit", "cursor", ConsistencyParam)
	q := readmodels.AuditQuery{
		OrgID:   domain.OrgID(c.Param("orgId")),
		Actor:   p.id("actor"),
		Subject: p.id("subject"),
		From:    p.time("from"),
		To:      p.time("to"),
		Limit:   p.limit(),
		Cursor:  p.cursor(),
	}
	if actions := auditActions(); len(actions) > 0 {
		q.Action = p.oneOf("action", actions...)
	} else {
		q.Action = p.text("action", 100)
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.To.After(q.From) {
		p.fail("to", "must be after from ("+q.From.Format(time.RFC3339Nano)+")")
	}
	token, given := p.consistencyToken(c)
	r, err := a.readerFor(c, readmodels.AuditBase, p, token, given)
	if err != nil {
		return err
	}
	page, err := r.Audit(c.Request.Context(), q)
	if err != nil {
		return a.readFailed(c, err)
	}
	items := make([]auditItem, len(page.Items))
	for i, e := range page.Items {
		items[i] = auditItemOf(e)
	}
	c.JSON(http.StatusOK, auditResponse{Items: items, NextCursor: page.NextCursor})
	return nil
}
