package asof

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/orgportal/onboarding/projections/readmodels"
)

// Query selects a page of members (as Members returns them) the way the
// Users page's reader does: Q is a case-insensitive prefix of the email or
// the name, Role filters, Sort orders (SortEmail by default; SortInvitedAt
// orders by email too, as the invitation time is not known here), Desc
// reverses, Limit bounds the page (DefaultLimit when 0, at most MaxLimit).
// Status "" and StatusActive select everyone; any other status selects
// no one, as every member at a moment is active. Counts hold the active
// members that match the filters other than Status.
//
// The cursor is an offset into the ordered selection, bound to asOf and to
// the query's filters and order: the past does not change, so an offset
// stays valid; a cursor of another query fails with readmodels.ErrBadCursor.
func Query(members []readmodels.User, q readmodels.UsersQuery, asOf time.Time) (readmodels.UsersPage, error) {
	offset := 0
	if q.Cursor != "" {
		c, ok := decodeCursor(q.Cursor)
		if !ok || c.Shape != shapeOf(q, asOf) || c.Offset < 0 {
			return readmodels.UsersPage{}, readmodels.ErrBadCursor
		}
		offset = c.Offset
	}
	prefix := strings.ToLower(q.Q)
	var matched []readmodels.User
	for _, u := range members {
		if q.Role != "" && u.Role != q.Role {
			continue
		}
		if prefix != "" && !strings.HasPrefix(u.NormalizedEmail, prefix) && !strings.HasPrefix(u.NameFold, prefix) {
			continue
		}
		matched = append(matched, u)
	}
	page := readmodels.UsersPage{Items: []readmodels.User{},
		Counts: map[readmodels.UserStatus]int{readmodels.StatusActive: len(matched)}}
	if q.Status != "" && q.Status != readmodels.StatusActive {
		return page, nil
	}
	slices.SortStableFunc(matched, compareBy(q.Sort, q.Desc))

	limit := q.Limit
	if limit <= 0 {
		limit = readmodels.DefaultLimit
	}
	limit = min(limit, readmodels.MaxLimit)
	if offset >= len(matched) {
		return page, nil
	}
	end := min(offset+limit, len(matched))
	page.Items = matched[offset:end]
	if end < len(matched) {
		page.NextCursor = encodeCursor(cursor{Shape: shapeOf(q, asOf), Offset: end})
	}
	return page, nil
}

// compareBy orders by the sort key, then by email and user id, so that the
// order is total and an offset means the same row every time.
func compareBy(sort string, desc bool) func(a, b readmodels.User) int {
	key := func(a, b readmodels.User) int {
		switch sort {
		case readmodels.SortName:
			return cmp.Compare(a.NameFold, b.NameFold)
		case readmodels.SortJoinedAt:
			return compareTimes(a.JoinedAt, b.JoinedAt)
		case readmodels.SortInvitedAt:
			return compareTimes(a.InvitedAt, b.InvitedAt)
		}
		return 0
	}
	return func(a, b readmodels.User) int {
		c := cmp.Or(key(a, b), cmp.Compare(a.NormalizedEmail, b.NormalizedEmail), cmp.Compare(a.UserID, b.UserID))
		if desc {
			return -c
		}
		return c
	}
}

// compareTimes puts unknown times first.
func compareTimes(a, b *time.Time) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return a.Compare(*b)
}

type cursor struct {
	Shape  uint64 `json:"s"`
	Offset int    `json:"o"`
}

// shapeOf fingerprints what a cursor is valid for.
func shapeOf(q readmodels.UsersQuery, asOf time.Time) uint64 {
	b, _ := json.Marshal([]any{q.OrgID, asOf.UTC().Format(time.RFC3339Nano), strings.ToLower(q.Q), q.Status, q.Role, q.Sort, q.Desc})
	sum := sha256.Sum256(b)
	return binary.BigEndian.Uint64(sum[:8])
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c)
	return "asof." + base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, bool) {
	raw, ok := strings.CutPrefix(s, "asof.")
	if !ok || len(raw) > 200 {
		return cursor{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return cursor{}, false
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil {
		return cursor{}, false
	}
	return c, true
}
