package httpapi_test

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// memReader is an in-memory readmodels.Reader the tests fill with rows. It
// filters, sorts and pages the way the contract describes, with cursors of
// its own ("mem:<offset>"), and records the queries it was asked.
type memReader struct {
	mu          sync.Mutex
	users       []readmodels.User
	invitations []readmodels.Invitation
	audit       []readmodels.AuditEntry
	position    uint64
	err         error // when set, every method fails with it
	// onPosition runs at each Position call with the call's number (from
	// 1), under the lock: tests advance the position from it.
	onPosition     func(r *memReader, call int)
	positionCalls  int
	positionModels []string // of the last Position call
	// usersAwaited lists the organizations of the AwaitUsers calls.
	usersAwaited []domain.OrgID

	usersQueries      []readmodels.UsersQuery
	invitationQueries []readmodels.InvitationsQuery
	auditQueries      []readmodels.AuditQuery
}

var _ readmodels.Reader = (*memReader)(nil)

func (m *memReader) Users(_ context.Context, q readmodels.UsersQuery) (readmodels.UsersPage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.usersQueries = append(m.usersQueries, q)
	if m.err != nil {
		return readmodels.UsersPage{}, m.err
	}
	prefix := strings.ToLower(q.Q)
	counts := map[readmodels.UserStatus]int{}
	var rows []readmodels.User
	for _, u := range m.users {
		if u.OrgID != q.OrgID || q.Role != "" && u.Role != q.Role ||
			prefix != "" && !strings.HasPrefix(u.NormalizedEmail, prefix) && !strings.HasPrefix(u.NameFold, prefix) {
			continue
		}
		counts[u.Status]++
		if q.Status == "" || u.Status == q.Status {
			rows = append(rows, u)
		}
	}
	slices.SortStableFunc(rows, func(a, b readmodels.User) int {
		c := cmp.Compare(a.NormalizedEmail, b.NormalizedEmail)
		if q.Sort == readmodels.SortName {
			c = cmp.Or(cmp.Compare(a.NameFold, b.NameFold), c)
		}
		if q.Desc {
			return -c
		}
		return c
	})
	items, next, err := memPage(rows, q.Limit, q.Cursor)
	return readmodels.UsersPage{Items: items, NextCursor: next, Counts: counts}, err
}

func (m *memReader) User(_ context.Context, org domain.OrgID, user domain.UserID) (readmodels.User, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return readmodels.User{}, false, m.err
	}
	for _, u := range m.users {
		if u.OrgID == org && u.UserID == user {
			return u, true, nil
		}
	}
	return readmodels.User{}, false, nil
}

func (m *memReader) InvitedBy(_ context.Context, org domain.OrgID, user domain.UserID) ([]readmodels.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	var out []readmodels.User
	for _, u := range m.users {
		if u.OrgID == org && u.InvitedBy != nil && u.InvitedBy.UserID == user {
			out = append(out, u)
		}
	}
	return out, nil
}

func (m *memReader) Invitations(_ context.Context, q readmodels.InvitationsQuery) (readmodels.InvitationsPage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.invitationQueries = append(m.invitationQueries, q)
	if m.err != nil {
		return readmodels.InvitationsPage{}, m.err
	}
	var rows []readmodels.Invitation
	for _, inv := range m.invitations {
		if inv.OrgID == q.OrgID && (q.Status == "" || inv.StatusAt(q.Now) == q.Status) {
			inv.Status = inv.StatusAt(q.Now)
			rows = append(rows, inv)
		}
	}
	items, next, err := memPage(rows, q.Limit, q.Cursor)
	return readmodels.InvitationsPage{Items: items, NextCursor: next}, err
}

func (m *memReader) Audit(_ context.Context, q readmodels.AuditQuery) (readmodels.AuditPage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.auditQueries = append(m.auditQueries, q)
	if m.err != nil {
		return readmodels.AuditPage{}, m.err
	}
	var rows []readmodels.AuditEntry
	for _, e := range m.audit {
		if e.OrgID == q.OrgID && (q.Action == "" || e.Action == q.Action) && (q.Actor == "" || e.Actor == q.Actor) {
			rows = append(rows, e)
		}
	}
	items, next, err := memPage(rows, q.Limit, q.Cursor)
	return readmodels.AuditPage{Items: items, NextCursor: next}, err
}

func (m *memReader) AwaitUsers(ctx context.Context, org domain.OrgID, token uint64) (uint64, error) {
	m.mu.Lock()
	m.usersAwaited = append(m.usersAwaited, org)
	m.mu.Unlock()
	return m.AwaitPosition(ctx, token, readmodels.UsersBase)
}

func (m *memReader) AwaitPosition(ctx context.Context, token uint64, models ...string) (uint64, error) {
	position := func(ctx context.Context) (uint64, error) { return m.Position(ctx, models...) }
	return readmodels.PollPosition(ctx, position, token, 5*time.Millisecond)
}

func (m *memReader) Position(_ context.Context, models ...string) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.positionCalls++
	m.positionModels = models
	if m.onPosition != nil {
		m.onPosition(m, m.positionCalls)
	}
	if m.err != nil {
		return 0, m.err
	}
	return m.position, nil
}

func (m *memReader) lastUsersQuery() readmodels.UsersQuery {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.usersQueries[len(m.usersQueries)-1]
}

func (m *memReader) set(f func(m *memReader)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(m)
}

func memPage[T any](rows []T, limit int, cursor string) ([]T, string, error) {
	offset := 0
	if cursor != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(cursor, "mem:"))
		if !strings.HasPrefix(cursor, "mem:") || err != nil || n < 0 || n > len(rows) {
			return nil, "", readmodels.ErrBadCursor
		}
		offset = n
	}
	if limit <= 0 {
		limit = readmodels.DefaultLimit
	}
	end := min(offset+limit, len(rows))
	next := ""
	if end < len(rows) {
		next = "mem:" + strconv.Itoa(end)
	}
	return append([]T{}, rows[offset:end]...), next, nil
}
