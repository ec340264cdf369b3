package readmodels

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"go.mongodb.org/mongo-driver/mongo"

	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections"
)

// liveOrg is an organization whose Users rows a test changes through the
// live applier, flushing after each step as the runner does before a
// checkpoint, and whose whole history it keeps for the fold to compare
// with.
type liveOrg struct {
	t       testing.TB
	ctx     context.Context
	db      *mongo.Database
	org     domain.OrgID
	owner   domain.UserID
	version int
	applier projections.Applier
	reader  *MongoReader // handed the rows each flush stores (Options.Reader); nil: none
	h       history
	next    uint64

	// people by normalized email; what the test may do next with each
	// depends on where they are.
	people map[string]*person
	seq    int
}

type person struct {
	email  string
	user   domain.UserID
	inv    domain.InvitationID
	status UserStatus // "" for no row
	role   domain.Role
	joined bool // ever: a revoked invitation leaves them removed, not gone
}

// newLiveOrg rebuilds org's history of n people into version 1, switches
// to it and opens a live applier on it.
func newLiveOrg(t testing.TB, ctx context.Context, org domain.OrgID, n int) *liveOrg {
	t.Helper()
	return newLiveOrgFrom(t, ctx, org, renumber(orgHistory(org, n, 5)))
}

// newLiveOrgFrom is newLiveOrg from a history of org.
func newLiveOrgFrom(t testing.TB, ctx context.Context, org domain.OrgID, h history) *liveOrg {
	t.Helper()
	db := srv.DB(t)
	users := NewUsers(db, Options{PrepareCollection: srv.PrepareCollection()})
	rebuild(t, ctx, users, 1, h)
	if err := mongodb.NewVersions(db, time.Now).Switch(ctx, UsersBase, 1); err != nil {
		t.Fatal(err)
	}
	l := &liveOrg{t: t, ctx: ctx, db: db, org: org, owner: domain.UserID(string(org) + "-owner"), h: h,
		next: h[len(h)-1].Position + 100, people: map[string]*person{}}
	l.open(1)
	return l
}

// open starts a live applier on version, as a runner does after a switch.
func (l *liveOrg) open(version int) {
	l.t.Helper()
	users := NewUsers(l.db, Options{PrepareCollection: srv.PrepareCollection(), Reader: l.reader})
	if err := users.Prepare(l.ctx, version); err != nil {
		l.t.Fatal(err)
	}
	l.version, l.applier = version, users.Live(version)
}

// apply applies events as one step, then flushes.
// invitations returns n invitations of new people to the organization.
func (l *liveOrg) invitations(n int) []domain.Event {
	var events []domain.Event
	for range n {
		p := l.newPerson()
		p.inv = domain.InvitationID("inv-" + p.email)
		events = append(events, domain.UserInvited{InvitationID: p.inv, OrgID: l.org, Email: p.email, NormalizedEmail: p.email,
			Role: domain.RoleMember, InvitedBy: l.owner, Generation: 1, ExpiresAt: t0.Add(48 * time.Hour)})
	}
	return events
}

func (l *liveOrg) apply(events ...domain.Event) {
	l.t.Helper()
	for _, e := range events {
		env := history{}.add(string(l.owner), e)[0]
		env.Position, env.EventID = l.next, fmt.Sprintf("live-%d", l.next)
		l.next += 100
		l.h = append(l.h, env)
		if err := l.applier.Apply(l.ctx, env); err != nil {
			l.t.Fatalf("apply %s: %v", env.Type, err)
		}
	}
	if err := l.applier.(projections.Flusher).Flush(l.ctx); err != nil {
		l.t.Fatal(err)
	}
}

func (l *liveOrg) newPerson() *person {
	l.seq++
	p := &person{email: fmt.Sprintf("live.%04d@example.org", l.seq), user: domain.UserID(fmt.Sprintf("%s-live-u%04d", l.org, l.seq))}
	l.people[p.email] = p
	return p
}

func (l *liveOrg) invite(p *person) {
	l.seq++
	p.inv = domain.InvitationID(fmt.Sprintf("%s-live-inv%04d", l.org, l.seq))
	l.apply(domain.UserInvited{InvitationID: p.inv, OrgID: l.org, Email: p.email, NormalizedEmail: p.email,
		Role: domain.RoleMember, InvitedBy: l.owner, Generation: 1, ExpiresAt: t0.Add(48 * time.Hour)})
	p.status = StatusInvited
}

// randomStep makes one change a user of the Users page could make:
// invite, accept, resend, revoke, add by hand, promote, remove.
func (l *liveOrg) randomStep(rnd *rand.Rand) {
	l.t.Helper()
	var candidates []*person
	for _, p := range l.people {
		candidates = append(candidates, p)
	}
	slices.SortFunc(candidates, func(a, b *person) int { return strings.Compare(a.email, b.email) })
	var p *person
	if len(candidates) == 0 || rnd.IntN(4) == 0 {
		p = l.newPerson()
	} else {
		p = candidates[rnd.IntN(len(candidates))]
	}
	switch p.status {
	case "", StatusRemoved:
		if rnd.IntN(3) == 0 {
			l.apply(domain.MemberJoined{OrgID: l.org, UserID: p.user, Email: p.email, NormalizedEmail: p.email, Name: "Live " + p.email,
				Role: domain.RoleMember, Via: domain.JoinedViaManual, InvitedBy: l.owner})
			p.status, p.role, p.joined = StatusActive, domain.RoleMember, true
			return
		}
		l.invite(p)
	case StatusInvited:
		switch rnd.IntN(3) {
		case 0:
			l.apply(domain.InvitationAccepted{InvitationID: p.inv, OrgID: l.org, UserID: p.user, Generation: 1},
				domain.MemberJoined{OrgID: l.org, UserID: p.user, Email: p.email, NormalizedEmail: p.email, Name: "Live " + p.email,
					Role: domain.RoleMember, Via: domain.JoinedViaInvitation, InvitedBy: l.owner, InvitationID: p.inv})
			p.status, p.role, p.joined = StatusActive, domain.RoleMember, true
		case 1:
			l.apply(domain.InvitationResent{InvitationID: p.inv, OrgID: l.org, Generation: 2, ExpiresAt: t0.Add(96 * time.Hour)})
		default:
			l.apply(domain.InvitationRevoked{InvitationID: p.inv, OrgID: l.org})
			p.status = ""
			if p.joined {
				p.status = StatusRemoved
			}
		}
	case StatusActive:
		if rnd.IntN(2) == 0 {
			to := domain.RoleAdmin
			if p.role == domain.RoleAdmin {
				to = domain.RoleMember
			}
			l.apply(domain.MemberRoleChanged{OrgID: l.org, UserID: p.user, From: p.role, To: to})
			p.role = to
			return
		}
		l.apply(domain.MemberRemoved{OrgID: l.org, UserID: p.user, NormalizedEmail: p.email})
		p.status = StatusRemoved
	}
}

// folded is what the whole history folds into, for the organization,
// sorted by _id.
func (l *liveOrg) folded() []User {
	l.t.Helper()
	rows := memTable[User]{}
	refs := memTable[ref]{}
	for _, e := range l.h {
		if NewUsers(nil, Options{}).Handles(e.Type) {
			if err := foldUsers(rows, refs, e); err != nil {
				l.t.Fatal(err)
			}
		}
	}
	var out []User
	for _, u := range rows {
		if u.OrgID == l.org {
			out = append(out, u)
		}
	}
	return byID(out)
}

// vals and ptrs convert between the cache's rows and plain ones.
func vals(rows []*User) []User {
	out := make([]User, len(rows))
	for i, u := range rows {
		out[i] = *u
	}
	return out
}

func ptrs(rows []User) []*User {
	out := make([]*User, len(rows))
	for i := range rows {
		out[i] = &rows[i]
	}
	return out
}

func byID(rows []User) []User {
	rows = slices.Clone(rows)
	slices.SortFunc(rows, func(a, b User) int { return strings.Compare(a.ID, b.ID) })
	return rows
}

// rowsOf reads org's rows through r's cache, and checks them against a
// fresh reader's full load and against the fold.
func (l *liveOrg) check(r *MongoReader, step string) []User {
	l.t.Helper()
	cached, err := r.orgRows(l.ctx, l.version, l.org)
	if err != nil {
		l.t.Fatalf("%s: %v", step, err)
	}
	fresh, err := NewReader(l.db, ReaderOptions{Strategy: StrategyCached}).orgRows(l.ctx, l.version, l.org)
	if err != nil {
		l.t.Fatal(err)
	}
	got, full := cached.rows, fresh.rows
	if !reflect.DeepEqual(byID(vals(got)), byID(vals(full))) {
		l.t.Fatalf("%s: the refreshed rows differ from a full load:\n%s", step, rowDiff(byID(vals(got)), byID(vals(full))))
	}
	if want := l.folded(); !reflect.DeepEqual(byID(vals(got)), want) {
		l.t.Fatalf("%s: the refreshed rows differ from the fold:\n%s", step, rowDiff(byID(vals(got)), want))
	}
	return vals(got)
}

func rowDiff(got, want []User) string {
	g, w := map[string]User{}, map[string]User{}
	for _, u := range got {
		g[u.ID] = u
	}
	for _, u := range want {
		w[u.ID] = u
	}
	var b strings.Builder
	for id, u := range g {
		if wu, ok := w[id]; !ok {
			fmt.Fprintf(&b, "  extra   %s\n", id)
		} else if !reflect.DeepEqual(u, wu) {
			fmt.Fprintf(&b, "  differs %s\n    got  %s\n    want %s\n", id, show(u), show(wu))
		}
	}
	for id := range w {
		if _, ok := g[id]; !ok {
			fmt.Fprintf(&b, "  missing %s\n", id)
		}
	}
	return b.String()
}

func (r *MongoReader) refreshes() (full, patched int64) {
	return r.cache.fullLoads.Load(), r.cache.patches.Load()
}

// newPushedOrg is newLiveOrg with a reader whose cache the live applier
// pushes to, after its first read (one full load). Its copies stay live
// for an hour after each flush (LocalStateTTL).
func newPushedOrg(t *testing.T, org domain.OrgID, n int) (*liveOrg, *MongoReader) {
	t.Helper()
	l := newLiveOrg(t, testContext(t), org, n)
	r := NewReader(l.db, ReaderOptions{Strategy: StrategyCached, LocalStateTTL: time.Hour})
	l.reader = r
	l.open(l.version)
	l.check(r, "first read")
	return l, r
}

// The live projection of this process hands the reader the rows each
// flush stored: after any sequence of changes the copy it moved equals a
// full load, and no step reads the changed rows or the change list back.
func TestCachedRowsPushedByTheLiveProjection(t *testing.T) {
	l, r := newPushedOrg(t, "org-p", 120)
	rnd := rand.New(rand.NewPCG(5, 6))
	steps := 80
	if testing.Short() {
		steps = 30
	}
	for i := range steps {
		l.randomStep(rnd)
		l.check(r, fmt.Sprintf("step %d", i))
	}
	full, patched := r.refreshes()
	if pushed := r.cache.pushes.Load(); full != 1 || patched != 0 || pushed != int64(steps) {
		t.Errorf("%d full loads, %d patches and %d pushes, want 1, 0 and %d", full, patched, pushed, steps)
	}
	// The pushed copy is current: no read after the first read the stamp.
	if n := r.stampReads.Load(); n != 1 {
		t.Errorf("%d org stamp reads, want the first read's only", n)
	}
	// The byte count followed every push: it is the rows' own sum.
	var bytes int64
	for _, u := range l.folded() {
		bytes += rowBytes(&u)
	}
	want := CacheStats{Rows: len(l.folded()), Bytes: bytes, Pushed: int64(steps), Reloaded: 1, StampReads: 1}
	if got := r.CacheStats(); got != want {
		t.Errorf("CacheStats = %+v, want %+v", got, want)
	}
	// A copy at another stamp than the one a flush replaced is left alone:
	// the next read refreshes it from the database.
	other := NewReader(l.db, ReaderOptions{Strategy: StrategyCached})
	l.check(other, "another reader")
	l.invite(l.newPerson())
	l.check(other, "another reader, one more")
	if pushed := other.cache.pushes.Load(); pushed != 0 {
		t.Errorf("a reader the projection was not given got %d pushes", pushed)
	}
}

// A copy stops being live, and reads go back to the org stamp, when a
// flush changes the organization without moving the copy, and when the
// live projection has not flushed for LocalStateTTL (idle, or its lease
// moved to another replica); the next push makes it live again.
func TestCachedRowsLiveUntilAPushFailsOrFlushesStop(t *testing.T) {
	l, r := newPushedOrg(t, "org-l", 40)
	key := mongodb.CollectionName(UsersBase, l.version) + "/" + string(l.org)
	l.invite(l.newPerson())
	l.check(r, "pushed")
	reads := func() int64 { return r.stampReads.Load() }
	if n := reads(); n != 1 {
		t.Fatalf("%d stamp reads after a push, want 1", n)
	}

	// A copy the flush cannot move (here: at another stamp than the one
	// the flush replaced) is not live any more.
	r.cache.mu.Lock()
	moved := *r.cache.orgs[key]
	moved.stamp--
	r.cache.orgs[key] = &moved
	r.cache.mu.Unlock()
	l.invite(l.newPerson())
	if o := r.cache.current(key, time.Hour); o != nil {
		t.Fatal("a copy the flush did not move is still live")
	}
	l.check(r, "after a failed push")
	if n := reads(); n != 2 {
		t.Errorf("%d stamp reads after a failed push, want 2", n)
	}
	l.invite(l.newPerson()) // the refreshed copy is at the stamp: pushed
	l.check(r, "pushed again")
	if n := reads(); n != 2 {
		t.Errorf("%d stamp reads after the next push, want 2 still", n)
	}

	// No flush for LocalStateTTL: the stamp is read.
	short := NewReader(l.db, ReaderOptions{Strategy: StrategyCached, LocalStateTTL: time.Nanosecond})
	l.reader = short
	l.open(l.version)
	l.check(short, "first read")
	l.invite(l.newPerson())
	l.check(short, "after a push, one TTL later")
	if n := short.stampReads.Load(); n != 2 {
		t.Errorf("%d stamp reads with a TTL passed, want 2", n)
	}
}

// A flush in which the org's change list fills up and begins anew (every
// recentMax changes) is pushed too: the list it archived shows the
// changes the new live list does not.
func TestCachedRowsPushedAcrossFullChangeLists(t *testing.T) {
	l, r := newPushedOrg(t, "org-q", 40)
	sizes := []int{recentMax - 3, 5, 1, recentMax + 7, recentMax, 3}
	for _, n := range sizes {
		l.apply(l.invitations(n)...) // one flush: fewer documents than maxPending
		l.check(r, fmt.Sprintf("after a flush of %d changes", n))
	}
	full, patched := r.refreshes()
	if pushed := r.cache.pushes.Load(); full != 1 || patched != 0 || pushed != int64(len(sizes)) {
		t.Errorf("%d full loads, %d patches and %d pushes, want 1, 0 and %d", full, patched, pushed, len(sizes))
	}
}

// After any sequence of changes, the patched rows are the rows a full
// load gives; each step costs one patch and no reload.
func TestCachedRefreshPatchesChangedRows(t *testing.T) {
	ctx := testContext(t)
	l := newLiveOrg(t, ctx, "org-a", 120)
	r := NewReader(l.db, ReaderOptions{Strategy: StrategyCached})
	l.check(r, "first read")
	rnd := rand.New(rand.NewPCG(3, 4))
	steps := 120
	if testing.Short() {
		steps = 40
	}
	for i := range steps {
		l.randomStep(rnd)
		l.check(r, fmt.Sprintf("step %d", i))
	}
	if full, patched := r.refreshes(); full != 1 || patched != int64(steps) {
		t.Errorf("%d full loads and %d patches, want 1 and %d", full, patched, steps)
	}
	var statuses []UserStatus
	for _, p := range l.people {
		statuses = append(statuses, p.status)
	}
	for _, s := range []UserStatus{"", StatusInvited, StatusActive, StatusRemoved} {
		if !testing.Short() && !slices.Contains(statuses, s) {
			t.Errorf("the steps never left anyone %q: the test does not cover it", s)
		}
	}
	// The pages come from the patched rows.
	page, err := r.Users(ctx, UsersQuery{OrgID: l.org, Limit: MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range page.Counts {
		n += c
	}
	if want := len(l.folded()); n != want {
		t.Errorf("counts add up to %d rows, want %d", n, want)
	}
	if full, _ := r.refreshes(); full != 1 {
		t.Errorf("%d full loads after reading a page at the same stamp", full)
	}
}

// A row deleted (an invitation of someone who never joined, revoked)
// leaves the cached rows at the next read, by a patch.
func TestCachedRefreshDropsDeletedRows(t *testing.T) {
	ctx := testContext(t)
	l := newLiveOrg(t, ctx, "org-a", 40)
	r := NewReader(l.db, ReaderOptions{Strategy: StrategyCached})
	p := l.newPerson()
	l.invite(p)
	id := UserDocID(l.org, p.email)
	if rows := l.check(r, "invited"); !slices.ContainsFunc(rows, func(u User) bool { return u.ID == id }) {
		t.Fatal("the invited row is missing")
	}
	l.apply(domain.InvitationRevoked{InvitationID: p.inv, OrgID: l.org})
	if rows := l.check(r, "revoked"); slices.ContainsFunc(rows, func(u User) bool { return u.ID == id }) {
		t.Error("the revoked row is still there")
	}
	if full, patched := r.refreshes(); full != 1 || patched != 1 {
		t.Errorf("%d full loads and %d patches, want 1 and 1", full, patched)
	}
}

// A reader further behind than the live change list patches its rows
// from the archived lists; further behind than those reach, or with more
// changed rows than pay to fetch one by one, it reloads the organization.
func TestCachedRefreshFallsBackToFullLoad(t *testing.T) {
	ctx := testContext(t)
	l := newLiveOrg(t, ctx, "org-a", 40)
	r := NewReader(l.db, ReaderOptions{Strategy: StrategyCached})
	r.cache.patchMin = 1 << 30 // only the lists' reach limits patching
	l.check(r, "first read")

	// More changes than the live list keeps, in one flush: the archived
	// lists reach back.
	l.apply(l.invitations(3*recentMax + 10)...)
	l.check(r, "after more changes than the live list keeps")
	if full, patched := r.refreshes(); full != 1 || patched != 1 {
		t.Errorf("gap beyond the live list: %d full loads and %d patches, want 1 and 1", full, patched)
	}
	// More than all the lists keep.
	l.apply(l.invitations((archivedLists+1)*recentMax + 10)...)
	l.check(r, "after more changes than all the lists keep")
	if full, patched := r.refreshes(); full != 2 || patched != 1 {
		t.Errorf("gap beyond the archived lists: %d full loads and %d patches, want 2 and 1", full, patched)
	}
	// Back within reach: patched again.
	l.invite(l.newPerson())
	l.check(r, "one more")
	if full, patched := r.refreshes(); full != 2 || patched != 2 {
		t.Errorf("%d full loads and %d patches, want 2 and 2", full, patched)
	}

	// Within the list, but more rows than patchLimit: a reload is cheaper.
	r.cache.patchMin = patchMin
	limit := r.cache.patchLimit(len(l.folded()))
	l.apply(l.invitations(limit + 1)...)
	l.check(r, "many rows changed")
	if full, patched := r.refreshes(); full != 3 || patched != 2 {
		t.Errorf("%d changed rows (limit %d): %d full loads and %d patches, want 3 and 2", limit+1, limit, full, patched)
	}
}

// A rebuild switched in is a new collection, hence a new cache key: the
// reader loads it whole, then patches it as the live applier of the new
// version changes it.
func TestCachedRefreshAcrossRebuildSwitch(t *testing.T) {
	ctx := testContext(t)
	l := newLiveOrg(t, ctx, "org-a", 60)
	r := NewReader(l.db, ReaderOptions{Strategy: StrategyCached})
	rnd := rand.New(rand.NewPCG(5, 6))
	l.check(r, "first read")
	for range 10 {
		l.randomStep(rnd)
	}
	l.check(r, "before the rebuild")

	users := NewUsers(l.db, Options{PrepareCollection: srv.PrepareCollection()})
	rebuild(t, ctx, users, 2, l.h)
	if err := mongodb.NewVersions(l.db, time.Now).Switch(ctx, UsersBase, 2); err != nil {
		t.Fatal(err)
	}
	l.open(2)
	full0, patched0 := r.refreshes()
	page, err := r.Users(ctx, UsersQuery{OrgID: l.org, Limit: MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if full, _ := r.refreshes(); full != full0+1 {
		t.Errorf("the switch to a rebuilt version cost %d full loads, want 1", full-full0)
	}
	if got, want := len(page.Items), min(MaxLimit, len(l.folded())); got != want {
		t.Errorf("first page after the switch: %d rows, want %d", got, want)
	}
	l.check(r, "after the switch")
	for i := range 10 {
		l.randomStep(rnd)
		l.check(r, fmt.Sprintf("live step %d on the rebuilt version", i))
	}
	if full, patched := r.refreshes(); full != full0+1 || patched != patched0+10 {
		t.Errorf("on the rebuilt version: %d full loads and %d patches, want 1 and 10", full-full0, patched-patched0)
	}
}

// Concurrent readers of one organization at one stamp share one refresh,
// and a patch never changes the slice other readers hold.
func TestRowCacheSharesRefreshesAndCopiesOnWrite(t *testing.T) {
	ctx := testContext(t)
	c := newRowCache(1000)
	var loads, fetches atomic.Int64
	release := make(chan struct{})
	rows := []User{{ID: "o/a", Name: "a"}, {ID: "o/c", Name: "c"}, {ID: "o/e", Name: "e"}}
	src := rowSource{
		org: "o",
		all: func(ctx context.Context) ([]User, error) {
			loads.Add(1)
			<-release
			return slices.Clone(rows), nil
		},
		byID: func(ctx context.Context, ids []string) ([]User, error) {
			fetches.Add(1)
			if !slices.Equal(ids, []string{"o/b", "o/c", "o/e"}) {
				t.Errorf("fetched %v", ids)
			}
			return []User{{ID: "o/b", Name: "b"}, {ID: "o/e", Name: "e2"}}, nil // c is gone
		},
	}
	stamp := ref{Position: 100, Recent: (*recentRows)(nil).add(0, 100, "a", true)}
	var wg sync.WaitGroup
	results := make([][]*User, 8)
	for i := range results {
		wg.Go(func() {
			got, err := c.rows(ctx, "k", stamp, src)
			if err != nil {
				t.Error(err)
				return
			}
			results[i] = got.rows
		})
	}
	for c.inflightCount() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if loads.Load() != 1 {
		t.Fatalf("%d loads for 8 concurrent readers, want 1", loads.Load())
	}
	first := results[0]
	before := vals(first)

	next := stamp
	r := next.Recent
	for _, k := range []string{"c", "b", "e"} {
		r = r.add(next.Position, next.Position+100, k, true)
		next.Position += 100
	}
	next.Recent = r
	patched, err := c.rows(ctx, "k", next, src)
	if err != nil {
		t.Fatal(err)
	}
	got := patched.rows
	if want := []User{{ID: "o/a", Name: "a"}, {ID: "o/b", Name: "b"}, {ID: "o/e", Name: "e2"}}; !reflect.DeepEqual(vals(got), want) {
		t.Errorf("patched rows %v, want %v", vals(got), want)
	}
	if !reflect.DeepEqual(vals(first), before) {
		t.Errorf("the patch changed the rows other readers hold: %v", first)
	}
	if fetches.Load() != 1 || c.fullLoads.Load() != 1 || c.patches.Load() != 1 {
		t.Errorf("%d fetches, %d full loads, %d patches; want 1 each", fetches.Load(), c.fullLoads.Load(), c.patches.Load())
	}
}

// A reader that needs a newer stamp than the refresh in flight waits for
// it and patches its result, rather than reloading the organization
// beside it: side by side, full loads of a large organization that
// changes many times a second slowed each other until they all timed out.
func TestRowCacheRefreshesAnOrganizationOneAtATime(t *testing.T) {
	ctx := testContext(t)
	c := newRowCache(1000)
	var loads, fetches atomic.Int64
	release := make(chan struct{})
	src := rowSource{
		org: "o",
		all: func(ctx context.Context) ([]User, error) {
			loads.Add(1)
			<-release
			return []User{{ID: "o/a", Name: "a"}, {ID: "o/c", Name: "c"}}, nil
		},
		byID: func(ctx context.Context, ids []string) ([]User, error) {
			fetches.Add(1)
			if !slices.Equal(ids, []string{"o/b"}) {
				t.Errorf("fetched %v, want the one row changed since the load", ids)
			}
			return []User{{ID: "o/b", Name: "b"}}, nil
		},
	}
	first := ref{Position: 100}
	next := ref{Position: 200, Recent: (*recentRows)(nil).add(100, 200, "b", true)}
	var wg sync.WaitGroup
	var older, newer *orgRows
	wg.Go(func() {
		var err error
		if older, err = c.rows(ctx, "k", first, src); err != nil {
			t.Error(err)
		}
	})
	for c.inflightCount() == 0 {
		time.Sleep(time.Millisecond)
	}
	wg.Go(func() {
		var err error
		if newer, err = c.rows(ctx, "k", next, src); err != nil {
			t.Error(err)
		}
	})
	for c.waits.Load() == 0 && loads.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if t.Failed() {
		return
	}
	if loads.Load() != 1 || fetches.Load() != 1 || c.patches.Load() != 1 {
		t.Errorf("%d full loads, %d fetches, %d patches; want the second reader to patch the first's load",
			loads.Load(), fetches.Load(), c.patches.Load())
	}
	if older.stamp != 100 || len(older.rows) != 2 {
		t.Errorf("the first reader got %d rows at %d, want 2 at 100", len(older.rows), older.stamp)
	}
	if want := []User{{ID: "o/a", Name: "a"}, {ID: "o/b", Name: "b"}, {ID: "o/c", Name: "c"}}; newer.stamp != 200 || !reflect.DeepEqual(vals(newer.rows), want) {
		t.Errorf("the second reader got %v at %d, want %v at 200", vals(newer.rows), newer.stamp, want)
	}
}

// A reader that waits for another's refresh gives up when its own
// context ends, and the refresh goes on for the others.
func TestRowCacheWaiterLeavesOnItsContext(t *testing.T) {
	ctx := testContext(t)
	c := newRowCache(1000)
	release := make(chan struct{})
	var loads atomic.Int64
	src := rowSource{org: "o", all: func(ctx context.Context) ([]User, error) {
		if loads.Add(1) > 1 {
			return nil, errors.New("a second load beside the first")
		}
		<-release
		return []User{{ID: "o/a"}}, nil
	}}
	done := make(chan error, 1)
	go func() {
		_, err := c.rows(ctx, "k", ref{Position: 100}, src)
		done <- err
	}()
	for c.inflightCount() == 0 {
		time.Sleep(time.Millisecond)
	}
	wctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.rows(wctx, "k", ref{Position: 200}, src); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled waiter got %v, want context.Canceled", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("the refresh it waited for: %v", err)
	}
	if got, err := c.rows(ctx, "k", ref{Position: 100}, src); err != nil || got.stamp != 100 {
		t.Errorf("after the refresh: %v, %v; want the copy at 100 from the cache", got, err)
	}
}

func (c *rowCache) inflightCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.inflight)
}

func TestPatchRows(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		base := map[string]User{}
		for range rnd.IntN(20) {
			id := fmt.Sprintf("o/%02d", rnd.IntN(40))
			base[id] = User{ID: id, Name: "old"}
		}
		want := maps(base)
		var changedIDs []string
		var changed []User
		for range rnd.IntN(10) {
			id := fmt.Sprintf("o/%02d", rnd.IntN(40))
			if slices.Contains(changedIDs, id) {
				continue
			}
			changedIDs = append(changedIDs, id)
			if rnd.IntN(3) == 0 {
				delete(want, id)
			} else {
				want[id] = User{ID: id, Name: "new"}
			}
		}
		slices.Sort(changedIDs)
		for _, id := range changedIDs {
			if u, ok := want[id]; ok {
				changed = append(changed, u)
			}
		}
		rows := byID(values(base))
		got := vals(patchRows(ptrs(rows), changedIDs, changed))
		if w := byID(values(want)); !reflect.DeepEqual(got, w) && !(len(got) == 0 && len(w) == 0) {
			t.Fatalf("patch of %v with %v:\n got %v\nwant %v", ids(rows), changedIDs, got, w)
		}
	}
}

func maps(m map[string]User) map[string]User {
	out := make(map[string]User, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func values(m map[string]User) []User {
	out := []User{}
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// Concurrent Position calls share one read.
func TestReaderPositionSharesReads(t *testing.T) {
	ctx := testContext(t)
	db := srv.DB(t)
	r := NewReader(db, ReaderOptions{PositionTTL: time.Hour})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := r.Position(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := r.posReads.Load(); n != 1 {
		t.Errorf("%d position reads for 16 concurrent callers within the TTL, want 1", n)
	}
	// A caller that gives up does not fail the read the others share.
	r = NewReader(db, ReaderOptions{PositionTTL: time.Hour})
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.Position(cancelled); err == nil {
		t.Error("a cancelled caller got an answer")
	}
	if _, err := r.Position(ctx); err != nil {
		t.Errorf("after a cancelled caller: %v", err)
	}
}

func TestStatusIndex(t *testing.T) {
	for i, s := range UserStatuses {
		if statusIndex(s) != i {
			t.Errorf("statusIndex(%s) = %d, want %d", s, statusIndex(s), i)
		}
	}
	if statusIndex("lost") != -1 {
		t.Error("an unknown status has an index")
	}
}

// A stamp without its own change list is refreshed from the list's
// document: patched when the list is at the stamp or later, reloaded when
// it is missing or behind, and a failed read of it fails the refresh.
func TestRowCacheReadsTheChangeListOnlyWhenBehind(t *testing.T) {
	ctx := testContext(t)
	var loads, listReads atomic.Int64
	var list *recentRows
	var listErr error
	src := rowSource{
		org: "o",
		all: func(ctx context.Context) ([]User, error) {
			loads.Add(1)
			return []User{{ID: "o/a", Name: "a"}}, nil
		},
		byID: func(ctx context.Context, ids []string) ([]User, error) {
			return []User{{ID: "o/a", Name: "a2"}}, nil
		},
		changes: func(ctx context.Context, stamp, since int64) (*recentRows, error) {
			listReads.Add(1)
			return list, listErr
		},
	}
	c := newRowCache(100)
	if _, err := c.rows(ctx, "k", ref{Position: 100}, src); err != nil {
		t.Fatal(err)
	}
	if _, err := c.rows(ctx, "k", ref{Position: 100}, src); err != nil {
		t.Fatal(err)
	}
	if n := listReads.Load(); n != 0 {
		t.Errorf("%d list reads for a first load and a read at the same stamp, want 0", n)
	}

	list = (*recentRows)(nil).add(100, 200, "a", true)
	got, err := c.rows(ctx, "k", ref{Position: 200}, src)
	if err != nil || c.patches.Load() != 1 || got.rows[0].Name != "a2" || listReads.Load() != 1 {
		t.Fatalf("behind by one listed change: %v, %d patches, rows %v, %d list reads; want a patch after one list read",
			err, c.patches.Load(), vals(got.rows), listReads.Load())
	}

	list = nil // missing, or behind the stamp
	if _, err := c.rows(ctx, "k", ref{Position: 300}, src); err != nil || loads.Load() != 2 {
		t.Errorf("without a list: %v, %d loads; want a reload", err, loads.Load())
	}

	listErr = errors.New("list unreadable")
	if _, err := c.rows(ctx, "k", ref{Position: 400}, src); !errors.Is(err, listErr) {
		t.Errorf("with the list unreadable: %v", err)
	}
}

// Rows decoded one by one each hold their own copy of the organization's
// id, status, role and inviter; shareRepeated leaves their values as they
// were and makes equal ones share one copy.
func TestShareRepeated(t *testing.T) {
	decoded := func(i int) User { // strings built at run time, as a decoder's are
		return User{ID: fmt.Sprintf("o-%d/p%d@example.org", 7, i), OrgID: domain.OrgID(fmt.Sprint("o-", 7)),
			Status: UserStatus(fmt.Sprint("inv", "ited")), Role: domain.Role(fmt.Sprint("mem", "ber")),
			InvitedBy: &Ref{UserID: domain.UserID(fmt.Sprint("u-", i%2)), Email: fmt.Sprint("admin", i%2, "@example.org")}}
	}
	rows := make([]User, 6)
	for i := range rows {
		rows[i] = decoded(i)
	}
	want := make([]User, len(rows))
	for i := range rows {
		want[i] = rows[i]
		ref := *rows[i].InvitedBy
		want[i].InvitedBy = &ref
	}
	firstRef := rows[0].InvitedBy
	shareRepeated(rows)
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("values changed:\n%s", rowDiff(rows, want))
	}
	if rows[0].InvitedBy == firstRef || firstRef.UserID != "u-0" {
		t.Error("the inviter's Ref was kept or changed in place; it must be replaced by a shared one (a pushed row's Ref is the projection's too)")
	}
	data := func(s string) *byte { return unsafe.StringData(s) }
	for i := range rows {
		if data(string(rows[i].OrgID)) != data(string(rows[0].OrgID)) || data(string(rows[i].Status)) != data(string(rows[0].Status)) ||
			data(string(rows[i].Role)) != data(string(rows[0].Role)) {
			t.Errorf("row %d does not share the organization's id, status or role with row 0", i)
		}
		if rows[i].InvitedBy != rows[i%2].InvitedBy {
			t.Errorf("row %d does not share its inviter's Ref with row %d", i, i%2)
		}
	}
	if rows[0].InvitedBy == rows[1].InvitedBy {
		t.Error("two inviters share one Ref")
	}
}
