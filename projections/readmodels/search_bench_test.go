package readmodels

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgportal/onboarding/domain"
)

// benchOrgRows is an organization of n rows in memory, sorted by _id as
// the row cache keeps them: people with made-up names (many sharing a
// first name), in every status and role.
func benchOrgRows(n int) []*User {
	rnd := rand.New(rand.NewPCG(21, 22))
	first := []string{"ann", "bob", "carla", "dave", "émile", "zoë", "marie", "li", "noah", "sam"}
	last := []string{"smith", "jones", "garcía", "nguyen", "müller", "rossi", "kim", "dubois"}
	rows := make([]User, n)
	for i := range rows {
		email := fmt.Sprintf("%s.%s.%05d@example.org", first[rnd.IntN(len(first))], last[rnd.IntN(len(last))], i)
		invited := t0.Add(time.Duration(rnd.IntN(1_000_000)) * time.Second)
		rows[i] = User{ID: UserDocID("org-bench", email), OrgID: "org-bench", Email: email, NormalizedEmail: email,
			Status: UserStatuses[rnd.IntN(len(UserStatuses))], Role: domain.RoleMember, InvitedAt: &invited}
		if rnd.IntN(3) > 0 { // a third never gave a name
			name := first[rnd.IntN(len(first))] + " " + last[rnd.IntN(len(last))]
			rows[i].Name, rows[i].NameFold = name, foldName(name)
		}
	}
	return ptrs(byID(rows))
}

// BenchmarkUsersSearch is a search of the Users page by a whole email
// address, the first page of one row, of an organization of 40,000 rows
// in memory: as the portal's admins search it, the load in which the scan
// showed up at 8% of the process's CPU. "indexed" answers through the
// search index, "scan" goes through every row as every search did before
// it; both in the same run, on the same rows.
//
//	go test -run '^$' -bench BenchmarkUsersSearch -benchtime 2000x ./projections/readmodels/
func BenchmarkUsersSearch(b *testing.B) {
	rows := benchOrgRows(40_000)
	idx := newSearchIndex(rows)
	target := rows[len(rows)/2]
	q := UsersQuery{OrgID: "org-bench", Q: strings.ToUpper(target.Email), Limit: 1}
	field, _, err := sortField(q.Sort)
	if err != nil {
		b.Fatal(err)
	}
	limit := limitOf(q.Limit)
	got, want := usersFromRows(rows, &idx, q, field, nil, limit), usersScan(rows, q, field, nil, limit)
	if !reflect.DeepEqual(got, want) || len(got.Items) != 1 || got.Items[0].ID != target.ID {
		b.Fatalf("indexed %s %v, scan %s %v", ids(got.Items), got.Counts, ids(want.Items), want.Counts)
	}
	b.Run("indexed", func(b *testing.B) {
		for b.Loop() {
			usersFromRows(rows, &idx, q, field, nil, limit)
		}
	})
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			usersScan(rows, q, field, nil, limit)
		}
	})
}

// BenchmarkSearchIndexPatch is what keeping the search index costs a
// patch of one row (its address changed) of an organization of 40,000
// rows: "rows" is the patch of the rows alone (patchRows), "merge" the
// index's merge that goes with it, "sort" building the index anew, which
// the merge spares every patch.
//
//	go test -run '^$' -bench BenchmarkSearchIndexPatch ./projections/readmodels/
func BenchmarkSearchIndexPatch(b *testing.B) {
	rows := benchOrgRows(40_000)
	idx := newSearchIndex(rows)
	u := *rows[len(rows)/3]
	u.NormalizedEmail = "zz." + u.NormalizedEmail
	ids, changed := []string{u.ID}, []User{u}
	patched := patchRows(rows, ids, changed)
	if merged := idx.patch(rows, ids, changed); !slices.Equal(merged.byEmail, newSearchIndex(patched).byEmail) {
		b.Fatal("the merged index is not the index of the patched rows")
	}
	b.Run("rows", func(b *testing.B) {
		for b.Loop() {
			patchRows(rows, ids, changed)
		}
	})
	b.Run("merge", func(b *testing.B) {
		for b.Loop() {
			idx.patch(rows, ids, changed)
		}
	})
	b.Run("sort", func(b *testing.B) {
		for b.Loop() {
			newSearchIndex(patched)
		}
	})
}
