package readmodels

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/orgportal/onboarding/domain"
)

// sampleRow is a Users row as the projection writes it: invited (most
// rows of a growing organization) or, every third, joined.
func sampleRow(i int) User {
	now := time.Now().UTC().Truncate(time.Millisecond)
	u := User{ID: fmt.Sprintf("org-7/person%d@example.org", i), OrgID: "org-7",
		Email: fmt.Sprintf("Person%d@Example.org", i), NormalizedEmail: fmt.Sprintf("person%d@example.org", i),
		Status: StatusInvited, Role: domain.RoleMember, InvitationID: domain.InvitationID(fmt.Sprintf("inv-%026d", i)),
		InvitedBy: &Ref{UserID: "user-owner", Email: "owner@example.org"}, InvitedAt: &now, ExpiresAt: &now,
		UpdatedAt: now, Position: int64(i)}
	if i%3 == 0 {
		u.Status, u.JoinedVia, u.JoinedAt, u.ExpiresAt = StatusActive, domain.JoinedViaInvitation, &now, nil
		u.UserID = domain.UserID(fmt.Sprintf("user-%026d", i))
		u.Name = fmt.Sprintf("Person Number %d", i)
		u.NameFold = foldName(u.Name)
	}
	return u
}

// rowBytes is what portal_users_cache_bytes adds up; the memory goal of
// portal bench subtracts it from the heap's growth. It must be close to
// what a full load of decoded rows, shared and indexed as the cache keeps
// them, holds on the heap.
func TestRowBytesEstimatesTheHeap(t *testing.T) {
	const n = 40_000
	docs := make([][]byte, n) // as the database hands them over
	for i := range docs {
		var err error
		if docs[i], err = bson.Marshal(sampleRow(i)); err != nil {
			t.Fatal(err)
		}
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	loaded := make([]User, n)
	for i, doc := range docs {
		if err := bson.Unmarshal(doc, &loaded[i]); err != nil {
			t.Fatal(err)
		}
	}
	shareRepeated(loaded)
	rows := ptrs(loaded)
	search := newSearchIndex(rows)
	held := float64(heap()) - float64(before)

	var estimate int64
	for _, u := range rows {
		estimate += rowBytes(u)
	}
	ratio := float64(estimate) / held
	t.Logf("%d rows: %.0f bytes a row on the heap, %.0f estimated (%.2f)", n, held/n, float64(estimate)/n, ratio)
	if math.Abs(ratio-1) > 0.10 {
		t.Errorf("rowBytes estimates %.0f bytes a row, the heap holds %.0f (ratio %.2f, want within 10 %%)", float64(estimate)/n, held/n, ratio)
	}
	runtime.KeepAlive(docs)
	runtime.KeepAlive(search)
}

// The cache's byte count follows its copies: a patch counts the replaced
// and deleted rows out and the new ones in, and what store drops comes off
// the total.
func TestRowCacheCountsBytes(t *testing.T) {
	all := make([]User, 10)
	for i := range all {
		all[i] = sampleRow(i)
	}
	rows := byID(all)
	var sum int64
	for i := range rows {
		sum += rowBytes(&rows[i])
	}
	c := newRowCache(15)
	o := &orgRows{stamp: 1, rows: ptrs(rows), bytes: sum}
	c.store("a", o)
	// Row 2 replaced by a longer one, row 5 deleted, a new row added.
	longer := rows[2]
	longer.Name, longer.NameFold = "A much longer name than before", "a much longer name than before"
	added := sampleRow(99)
	ids := []string{rows[2].ID, rows[5].ID, added.ID}
	changed := byID([]User{longer, added})
	patched := &orgRows{stamp: 2, rows: patchRows(o.rows, slices.Sorted(slices.Values(ids)), changed), bytes: patchedBytes(o, slices.Sorted(slices.Values(ids)), changed)}
	want := sum - rowBytes(&rows[2]) - rowBytes(&rows[5]) + rowBytes(&longer) + rowBytes(&added)
	if patched.bytes != want {
		t.Errorf("patched bytes %d, want %d", patched.bytes, want)
	}
	var recount int64
	for _, u := range patched.rows {
		recount += rowBytes(u)
	}
	if patched.bytes != recount {
		t.Errorf("patched bytes %d, the rows add up to %d", patched.bytes, recount)
	}
	c.store("a", patched)
	if c.bytes != patched.bytes || c.total != len(patched.rows) {
		t.Errorf("cache: %d bytes, %d rows; want %d, %d", c.bytes, c.total, patched.bytes, len(patched.rows))
	}
	other := &orgRows{stamp: 1, rows: ptrs(byID([]User{sampleRow(200), sampleRow(201), sampleRow(202), sampleRow(203), sampleRow(204), sampleRow(205)})), bytes: 1234}
	c.store("b", other) // 10 + 6 > 15: "a" makes room
	if c.bytes != other.bytes || c.total != len(other.rows) {
		t.Errorf("after eviction: %d bytes, %d rows; want %d, %d", c.bytes, c.total, other.bytes, len(other.rows))
	}
	if st := (&MongoReader{cache: c}).CacheStats(); st.Bytes != other.bytes || st.Rows != len(other.rows) {
		t.Errorf("CacheStats: %+v", st)
	}
}
