package readmodels

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgportal/onboarding/domain"
)

// searchOrg is an organization of random rows behind a rowCache, changed
// by random patches: model holds its rows by key (the _id without the
// organization's prefix), and the stamp lists every change, as the
// projection's would, so that the cache patches its copy (or reloads it
// when the changes are many) the way a reader does.
type searchOrg struct {
	t     *testing.T
	rnd   *rand.Rand
	c     *rowCache
	model map[string]User
	stamp ref
	seq   int
}

// searchAlphabet makes keys that share prefixes often, so that a prefix
// matches a few rows of each order and many rows match both, with a
// two-byte letter whose halves a prefix may split.
var searchAlphabet = []string{"a", "b", "ab", ".", "@", "é", "A"}

func (o *searchOrg) word(n int) string {
	var b strings.Builder
	for range o.rnd.IntN(n + 1) {
		b.WriteString(searchAlphabet[o.rnd.IntN(len(searchAlphabet))])
	}
	return b.String()
}

// randomUser is a row of key with random search and sort fields: empty
// ones, shared ones (ties go by _id), names equal to or starting like the
// email (rows that match a prefix both ways), names not folded (upper
// case, which a lower-cased prefix never matches), unknown statuses, and
// dates with and without milliseconds in common.
func (o *searchOrg) randomUser(key string) User {
	u := User{ID: UserDocID("o", key), OrgID: "o"}
	if o.rnd.IntN(10) != 0 {
		u.NormalizedEmail = strings.ToLower(o.word(5))
	}
	switch o.rnd.IntN(5) {
	case 0: // no name
	case 1:
		u.NameFold = u.NormalizedEmail
	case 2:
		u.NameFold = u.NormalizedEmail[:o.rnd.IntN(len(u.NormalizedEmail)+1)] + o.word(2)
	default:
		u.NameFold = o.word(5)
	}
	u.Email, u.Name = strings.ToUpper(u.NormalizedEmail), u.NameFold
	u.Status = UserStatuses[o.rnd.IntN(len(UserStatuses))]
	if o.rnd.IntN(20) == 0 {
		u.Status = "lost"
	}
	u.Role = []domain.Role{domain.RoleMember, domain.RoleAdmin, domain.RoleOwner}[o.rnd.IntN(3)]
	date := func() *time.Time {
		if o.rnd.IntN(4) == 0 {
			return nil
		}
		t := t0.Add(time.Duration(o.rnd.IntN(20)) * time.Millisecond / 2)
		return &t
	}
	u.InvitedAt, u.JoinedAt = date(), date()
	return u
}

func newSearchOrg(t *testing.T, rnd *rand.Rand, n int) *searchOrg {
	o := &searchOrg{t: t, rnd: rnd, c: newRowCache(1 << 20), model: map[string]User{}, stamp: ref{Position: 1}}
	for range n {
		o.insert()
	}
	return o
}

func (o *searchOrg) insert() string {
	o.seq++
	key := fmt.Sprintf("k%05d", o.seq)
	o.model[key] = o.randomUser(key)
	return key
}

// change changes m rows: inserts (of new keys, and of keys deleted
// before), updates of a search or sort field, the status or the role, or
// of everything, and deletions.
func (o *searchOrg) change(m int) {
	for range m {
		var key string
		if o.seq == 0 || o.rnd.IntN(4) == 0 {
			key = o.insert()
		} else {
			key = fmt.Sprintf("k%05d", 1+o.rnd.IntN(o.seq))
			u, ok := o.model[key]
			fresh := o.randomUser(key)
			switch n := o.rnd.IntN(7); {
			case !ok:
				o.model[key] = fresh
			case n == 0:
				delete(o.model, key)
			case n == 1:
				u.NormalizedEmail = fresh.NormalizedEmail
			case n == 2:
				u.NameFold = fresh.NameFold
			case n == 3:
				u.Status = fresh.Status
			case n == 4:
				u.Role = fresh.Role
			case n == 5:
				u.InvitedAt, u.JoinedAt = fresh.InvitedAt, fresh.JoinedAt
			default:
				u = fresh
			}
			if _, still := o.model[key]; ok && still {
				o.model[key] = u
			}
		}
		o.stamp.Recent = o.stamp.Recent.add(o.stamp.Position, o.stamp.Position+1, key, true)
		o.stamp.Position++
	}
}

func (o *searchOrg) source() rowSource { return modelSource(o.model, o.rnd) }

// modelSource serves the rows of model; a full load gives them in the
// order of shuffle, or of the map when it is nil.
func modelSource(model map[string]User, shuffle *rand.Rand) rowSource {
	return rowSource{
		org: "o",
		all: func(ctx context.Context) ([]User, error) {
			out := values(model)
			if shuffle != nil {
				shuffle.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
			}
			return out, nil
		},
		byID: func(ctx context.Context, ids []string) ([]User, error) {
			var out []User
			for _, id := range ids {
				if u, ok := model[strings.TrimPrefix(id, "o/")]; ok {
					out = append(out, u)
				}
			}
			return out, nil
		},
	}
}

// read reads the rows through the cache, checks them against the model
// and their index against the rows, and returns both.
func (o *searchOrg) read() ([]*User, *searchIndex) {
	o.t.Helper()
	got, err := o.c.rows(context.Background(), "k", o.stamp, o.source())
	if err != nil {
		o.t.Fatal(err)
	}
	rows := got.rows
	if got, want := vals(rows), byID(values(o.model)); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
		o.t.Fatalf("the cached rows differ from the model:\n%s", rowDiff(got, want))
	}
	checkIndex(o.t, rows, &got.search)
	return rows, &got.search
}

// checkIndex fails unless each order of idx holds the rows of rows (the
// same pointers), each once, strictly in its order.
func checkIndex(t *testing.T, rows []*User, idx *searchIndex) {
	t.Helper()
	for _, order := range []struct {
		name string
		rows []*User
		cmp  func(a, b *User) int
	}{{"byEmail", idx.byEmail, emailOrder}, {"byName", idx.byName, nameOrder}} {
		if len(order.rows) != len(rows) {
			t.Fatalf("%s holds %d rows, the rows %d", order.name, len(order.rows), len(rows))
		}
		for i := 1; i < len(order.rows); i++ {
			if order.cmp(order.rows[i-1], order.rows[i]) >= 0 {
				t.Fatalf("%s out of order at %d: %s then %s", order.name, i, show(*order.rows[i-1]), show(*order.rows[i]))
			}
		}
		in := map[*User]bool{}
		for _, u := range rows {
			in[u] = true
		}
		for _, u := range order.rows {
			if !in[u] {
				t.Fatalf("%s holds a row the rows do not: %s", order.name, show(*u))
			}
		}
	}
}

// randomQuery is a query over o's rows: a search by a prefix of a row's
// email or name (in any case), by a whole email, by random letters, or
// none; with or without role and status filters, in any order.
func (o *searchOrg) randomQuery(rows []*User) (q UsersQuery, field string) {
	q.OrgID = "o"
	switch n := o.rnd.IntN(8); {
	case n == 0 || len(rows) == 0:
		q.Q = o.word(3)
	case n == 1: // no search: the scan either way
	case n == 2:
		q.Q = rows[o.rnd.IntN(len(rows))].NormalizedEmail
	default:
		u := rows[o.rnd.IntN(len(rows))]
		s := u.NormalizedEmail
		if o.rnd.IntN(2) == 0 {
			s = u.NameFold
		}
		q.Q = s[:o.rnd.IntN(len(s)+1)]
	}
	if o.rnd.IntN(3) == 0 {
		q.Q = strings.ToUpper(q.Q)
	}
	if o.rnd.IntN(3) == 0 {
		q.Role = []domain.Role{domain.RoleMember, domain.RoleAdmin, domain.RoleOwner}[o.rnd.IntN(3)]
	}
	if o.rnd.IntN(3) == 0 {
		q.Status = slices.Concat(UserStatuses, []UserStatus{"lost"})[o.rnd.IntN(len(UserStatuses)+1)]
	}
	q.Sort = []string{SortEmail, SortName, SortInvitedAt, SortJoinedAt}[o.rnd.IntN(4)]
	q.Desc = o.rnd.IntN(2) == 0
	q.Limit = 1 + o.rnd.IntN(4)
	if o.rnd.IntN(10) == 0 {
		q.Limit = MaxLimit
	}
	field, _, err := sortField(q.Sort)
	if err != nil {
		o.t.Fatal(err)
	}
	return q, field
}

// Over random organizations changed by random patches, a search answered
// through the index is the scan's answer: the same page and counts, page
// after page, from the first and from cursors anywhere (at rows that
// exist, were deleted, or never did).
func TestUsersSearchMatchesScan(t *testing.T) {
	rnd := rand.New(rand.NewPCG(11, 12))
	orgs, steps, queries := 40, 25, 12
	if testing.Short() {
		orgs = 15
	}
	var searches, found, both int
	for range orgs {
		o := newSearchOrg(t, rnd, rnd.IntN(200))
		for step := range steps {
			if step > 0 {
				m := 1 + rnd.IntN(6)
				if rnd.IntN(10) == 0 {
					m = 40 // beyond patchLimit: a reload
				}
				o.change(m)
			}
			rows, idx := o.read()
			for range queries {
				q, field := o.randomQuery(rows)
				limit := limitOf(q.Limit)
				var after *cursor
				if rnd.IntN(4) == 0 {
					u := o.randomUser("k" + o.word(2)) // anywhere
					if len(rows) > 0 && rnd.IntN(2) == 0 {
						u = *rows[rnd.IntN(len(rows))]
					}
					c := userCursor("h", field, u)
					after = &c
				}
				if q.Q != "" {
					searches++
				}
				for page := 0; ; page++ {
					in := rows
					if q.Q != "" && idx != nil {
						in = nil // a search is answered from the index alone
					}
					got := usersFromRows(in, idx, q, field, after, limit)
					want := usersScan(rows, q, field, after, limit)
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("%+v after %+v, page %d:\n got %s %v\nwant %s %v", q, after, page, ids(got.Items), got.Counts, ids(want.Items), want.Counts)
					}
					if q.Q != "" && page == 0 && len(got.Items) > 0 {
						found++
						p := strings.ToLower(q.Q)
						for _, u := range got.Items {
							if strings.HasPrefix(u.NormalizedEmail, p) && strings.HasPrefix(u.NameFold, p) {
								both++
							}
						}
					}
					if len(got.Items) <= limit || page == 5 { // enough pages to follow
						break
					}
					c := userCursor("h", field, got.Items[limit-1])
					after = &c
				}
			}
		}
	}
	// The test proves little unless searches find rows, some of which
	// match both ways.
	if found < searches/3 || both == 0 {
		t.Errorf("%d of %d searches found rows, %d rows matched both ways", found, searches, both)
	}
}

// The index of patched rows is the index built anew from them, with the
// same pointers, and the index patched is left as it was.
func TestSearchIndexPatchMatchesRebuild(t *testing.T) {
	rnd := rand.New(rand.NewPCG(13, 14))
	for range 500 {
		o := newSearchOrg(t, rnd, rnd.IntN(60))
		rows := ptrs(byID(values(o.model)))
		x := newSearchIndex(rows)
		before := searchIndex{byEmail: slices.Clone(x.byEmail), byName: slices.Clone(x.byName)}

		o.stamp.Recent = nil
		o.change(rnd.IntN(12))
		keys, _ := o.stamp.Recent.since(1)
		docIDs := make([]string, len(keys))
		for i, k := range keys {
			docIDs[i] = UserDocID("o", k)
		}
		changed, _ := o.source().byID(context.Background(), docIDs)
		patched := patchRows(rows, docIDs, changed)
		got := x.patch(rows, docIDs, changed)
		want := newSearchIndex(patched)
		if !slices.Equal(got.byEmail, want.byEmail) || !slices.Equal(got.byName, want.byName) {
			t.Fatalf("patch of %s with %v:\n got %s | %s\nwant %s | %s", ids(vals(rows)), keys,
				ids(vals(got.byEmail)), ids(vals(got.byName)), ids(vals(want.byEmail)), ids(vals(want.byName)))
		}
		checkIndex(t, patched, &got)
		if !slices.Equal(x.byEmail, before.byEmail) || !slices.Equal(x.byName, before.byName) {
			t.Fatal("the patch changed the index it started from")
		}
	}
}

// The cases of a merge, one at a time: a row's key moving either way past
// others, staying (its old and new versions compare equal), a tie broken
// by _id, a deletion, an insertion at either end, an empty key.
func TestMergeOrder(t *testing.T) {
	row := func(id, email string) *User { return &User{ID: "o/" + id, NormalizedEmail: email} }
	a, b, c, d := row("a", "m"), row("b", "n"), row("c", "o"), row("d", "o")
	order := []*User{a, b, c, d}
	for _, tc := range []struct {
		name        string
		gone, added []*User
		want        []*User
	}{
		{"nothing", nil, nil, order},
		{"moved first", []*User{c}, []*User{row("c", "a")}, nil},
		{"moved last", []*User{a}, []*User{row("a", "z")}, nil},
		{"key kept", []*User{b}, []*User{row("b", "n")}, nil},
		{"tie before", nil, []*User{row("bb", "o")}, nil},
		{"tie after", nil, []*User{row("e", "o")}, nil},
		{"deleted", []*User{b, d}, nil, []*User{a, c}},
		{"inserted at both ends", nil, []*User{row("z", "z"), row("y", "")}, nil},
		{"all replaced", []*User{d, c, b, a}, []*User{row("a", "q"), row("b", "p")}, nil},
		{"several", []*User{a, c}, []*User{row("a", "o"), row("x", "n"), row("c", "")}, nil},
	} {
		want := tc.want
		if want == nil { // the rest and the added, sorted
			for _, u := range order {
				if !slices.Contains(tc.gone, u) {
					want = append(want, u)
				}
			}
			want = append(want, tc.added...)
			slices.SortFunc(want, emailOrder)
		}
		got := mergeOrder(order, slices.Clone(tc.gone), slices.Clone(tc.added), emailOrder)
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %s, want %s", tc.name, ids(vals(got)), ids(vals(want)))
		}
		if !slices.Equal(order, []*User{a, b, c, d}) {
			t.Fatalf("%s: the merge changed the order it started from", tc.name)
		}
	}
}

// A prefix's range is every row it starts, however the keys around it
// are: empty ones, the prefix itself, longer and shorter ones, and ones
// sharing all but the last byte.
func TestPrefixRange(t *testing.T) {
	keys := []string{"", "", "a", "ab", "ab", "abc", "abd", "ac", "b", "é", "éa", "\xff"}
	var order []*User
	for i, k := range keys {
		order = append(order, &User{ID: fmt.Sprintf("o/%02d", i), NormalizedEmail: k})
	}
	for _, p := range []string{"a", "ab", "abc", "abz", "b", "c", "é", "\xc3", "\xff", "\xff\xff", "zz"} {
		var want []string
		for _, k := range keys {
			if strings.HasPrefix(k, p) {
				want = append(want, k)
			}
		}
		var got []string
		for _, u := range prefixRange(order, p, func(u *User) string { return u.NormalizedEmail }) {
			got = append(got, u.NormalizedEmail)
		}
		if !slices.Equal(got, want) {
			t.Errorf("prefix %q: got %q, want %q", p, got, want)
		}
	}
}

// Every refresh brings the index along, a patch's merged and a full
// load's sorted, also for an organization larger than the whole cache.
func TestRowCacheIndexFollowsRows(t *testing.T) {
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(15, 16))
	o := newSearchOrg(t, rnd, 50)
	_, first := o.read()
	o.change(3)
	_, patched := o.read() // read checks the index against the rows
	if o.c.patches.Load() != 1 {
		t.Fatalf("%d patches, want 1", o.c.patches.Load())
	}
	if &first.byEmail[0] == &patched.byEmail[0] {
		t.Error("the patch changed the index of the rows it replaced")
	}

	// An organization larger than the whole cache is kept alone, with its
	// index, and patched as the others are.
	o.c.max = 60
	big := newSearchOrg(t, rnd, 80)
	got, err := o.c.rows(ctx, "big", big.stamp, big.source())
	if err != nil {
		t.Fatal(err)
	}
	checkIndex(t, got.rows, &got.search)
	q := UsersQuery{OrgID: "o", Q: got.rows[0].NormalizedEmail[:min(1, len(got.rows[0].NormalizedEmail))]}
	if a, b := usersFromRows(got.rows, &got.search, q, "normalizedEmail", nil, 5), usersScan(got.rows, q, "normalizedEmail", nil, 5); !reflect.DeepEqual(a, b) {
		t.Error("the answer of an organization larger than the cache is not the scan's")
	}
	if _, kept := o.c.orgs["k"]; kept || o.c.orgs["big"] != got || o.c.total != len(got.rows) {
		t.Errorf("after an organization of %d rows in a cache of %d: the other kept %v, the large one kept %v, %d rows counted",
			len(got.rows), o.c.max, kept, o.c.orgs["big"] == got, o.c.total)
	}
	full := o.c.fullLoads.Load()
	big.change(2)
	again, err := o.c.rows(ctx, "big", big.stamp, big.source())
	if err != nil {
		t.Fatal(err)
	}
	checkIndex(t, again.rows, &again.search)
	if got, want := vals(again.rows), byID(values(big.model)); !reflect.DeepEqual(got, want) {
		t.Errorf("the large organization's patched rows differ from the model:\n%s", rowDiff(got, want))
	}
	if o.c.fullLoads.Load() != full || o.c.patches.Load() != 2 {
		t.Errorf("the large organization changed: %d more full loads and %d patches in all, want a patch",
			o.c.fullLoads.Load()-full, o.c.patches.Load())
	}
}

// Readers of one organization search it while it is patched: each
// answers from the rows it got and their index, which no later patch
// changes under it (the race detector watches), as the scan of those rows
// would.
func TestUsersSearchConcurrentWithPatches(t *testing.T) {
	rnd := rand.New(rand.NewPCG(19, 20))
	o := newSearchOrg(t, rnd, 150)
	type version struct {
		stamp ref
		src   rowSource
	}
	var versions []version
	for range 60 {
		o.change(1 + rnd.IntN(4))
		versions = append(versions, version{o.stamp, modelSource(maps(o.model), nil)})
	}
	var queries []UsersQuery
	all := byID(values(o.model))
	for range 20 {
		u := all[rnd.IntN(len(all))]
		queries = append(queries, UsersQuery{OrgID: "o", Q: u.NormalizedEmail[:min(2, len(u.NormalizedEmail))], Limit: 2})
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := g; i < len(versions); i += 1 + g%2 {
				got, err := o.c.rows(context.Background(), "k", versions[i].stamp, versions[i].src)
				if err != nil {
					t.Error(err)
					return
				}
				rows, idx := got.rows, &got.search
				for _, q := range queries {
					got := usersFromRows(rows, idx, q, "normalizedEmail", nil, 2)
					if want := usersScan(rows, q, "normalizedEmail", nil, 2); !reflect.DeepEqual(got, want) {
						t.Errorf("version %d %+v:\n got %s %v\nwant %s %v", i, q, ids(got.Items), got.Counts, ids(want.Items), want.Counts)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if o.c.patches.Load() == 0 {
		t.Error("no patch: the readers did not race with one")
	}
}

// Through the reader: searches of an organization the live applier
// changes, answered from the patched rows and their index, are the
// obvious answer over the fold.
func TestCachedUsersSearchAfterChanges(t *testing.T) {
	ctx := testContext(t)
	l := newLiveOrg(t, ctx, "org-a", 80)
	r := NewReader(l.db, ReaderOptions{Strategy: StrategyCached})
	rnd := rand.New(rand.NewPCG(17, 18))
	steps := 24
	if testing.Short() {
		steps = 8
	}
	for step := range steps {
		l.randomStep(rnd)
		rows := l.check(r, fmt.Sprintf("step %d", step))
		cached, err := r.orgRows(ctx, l.version, l.org)
		if err != nil {
			t.Fatal(err)
		}
		checkIndex(t, cached.rows, &cached.search)
		f := readFixture{rows: memTable[User]{}}
		for _, u := range rows {
			f.rows[u.ID] = u
		}
		u := rows[rnd.IntN(len(rows))]
		for _, prefix := range []string{u.NormalizedEmail, u.Name[:min(len(u.Name), 3)], "LIVE", "live.00", "é", "ann", "nobody"} {
			q := UsersQuery{OrgID: l.org, Q: prefix, Limit: 3,
				Sort: []string{SortEmail, SortName, SortInvitedAt, SortJoinedAt}[rnd.IntN(4)], Desc: rnd.IntN(2) == 0}
			if rnd.IntN(3) == 0 {
				q.Status = StatusInvited
			}
			if rnd.IntN(3) == 0 {
				q.Role = domain.RoleMember
			}
			want, wantCounts := f.expectUsers(q)
			got, counts := allPages(t, ctx, r, q)
			if ids(got) != ids(want) || !reflect.DeepEqual(counts, wantCounts) {
				t.Errorf("step %d %+v:\n got %s %v\nwant %s %v", step, q, ids(got), counts, ids(want), wantCounts)
			}
		}
	}
	if full, _ := r.refreshes(); full != 1 {
		t.Errorf("%d full loads, want 1: the steps should patch", full)
	}
}
