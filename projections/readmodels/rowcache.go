package readmodels

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unique"
	"unsafe"

	"github.com/orgportal/onboarding/domain"
)

// loadTimeout bounds loading one organization's rows.
const loadTimeout = 30 * time.Second

// patchMin is the fewest changed rows a refresh fetches by _id rather than
// reloading the organization; see patchLimit.
const patchMin = 32

// rowCache keeps the Users rows of recently read organizations, each
// tagged with the org stamp it was loaded at. A reader checks the stamp
// (one read by _id of a small document) and refreshes the organization
// only when a row of it changed: it reads the organization's change list
// (recentRows, one more read by _id), fetches by _id the rows it lists as
// changed since and patches its copy, or, when the list does not reach
// back that far or names too many rows, reloads the organization. On FerretDB
// every query other than by _id decodes the whole collection, so this
// turns a Users page from a scan into a few lookups while the organization
// changes, and into one lookup while it does not.
//
// The projection writes a row before it moves the stamp, so rows read
// after reading stamp S hold at least everything up to S; a later change
// moves the stamp and the next read refreshes. Rows fetched after reading
// the stamp may be newer than it; the stamp that covers them lists them
// again, so a later refresh fetches them again. The change list is
// written before the stamp, so a reader that found the stamp at S finds
// the list at S or later.
type rowCache struct {
	// max bounds the rows kept across organizations, but for one
	// organization larger than it, which is kept alone (see store);
	// counted as rows whatever they weigh: a cached row is its document
	// and three pointers to it, one in rows and one in each order of the
	// search index (searchIndex): 24 bytes, 16 of them the index's, 2.4
	// MB at the default 100,000 rows (twice that for an organization
	// while a patch builds its next copy). With them a row is about 470
	// bytes of heap (rowBytes), 2 to 4 KB of RSS at GOGC=200
	// (BENCHMARKS.md).
	max int
	// patchMin starts at the constant of that name; tests raise it to
	// tell the two reasons to reload apart. fullOnly turns patching off,
	// for benchmarks to compare.
	patchMin int
	fullOnly bool

	// fullLoads and patches count the refreshes of each kind, pushes the
	// copies the projection moved (push), for tests and benchmarks.
	fullLoads atomic.Int64
	patches   atomic.Int64
	pushes    atomic.Int64
	// waits counts the callers that waited for a refresh another caller
	// ran, for tests.
	waits atomic.Int64

	// liveAt is when the live users projection of this process last
	// flushed (unix nanoseconds; 0 before the first), which keeps the
	// copies it pushed current (orgRows.live).
	liveAt atomic.Int64

	mu    sync.Mutex
	orgs  map[string]*orgRows
	total int
	// bytes is the sum of the cached copies' bytes (orgRows.bytes).
	bytes int64
	// inflight is the refresh under way of each organization, at most
	// one (see rows).
	inflight map[string]*rowLoad
}

// orgRows is an organization's rows at a stamp, sorted by _id so that a
// patch merges in the changed ones. Never changed once stored: readers
// share the slice, and a patch builds a new one.
type orgRows struct {
	stamp int64
	// rows point at their documents, so that a patch copies a pointer a
	// row (8 bytes) instead of the row (hundreds): an organization of
	// 50,000 members patched 40 times a second would otherwise copy half
	// a gigabyte a second, and give the collector as much to scan.
	rows []*User
	// search orders the same rows for prefix searches, and is never
	// changed once stored either.
	search searchIndex
	// bytes estimates the live heap the rows hold (rowBytes).
	bytes int64
	// live marks a copy the live projection of this process moved with
	// its last flush that changed the organization (push), and that no
	// flush since has failed to move: while that projection goes on
	// flushing, it is what the database holds (see rowCache.current).
	live bool
}

type rowLoad struct {
	done  chan struct{}
	stamp int64
	got   *orgRows
	err   error
}

// rowSource reads one organization's rows from the database.
type rowSource struct {
	org domain.OrgID
	// all reads every row of the organization.
	all func(ctx context.Context) ([]User, error)
	// byID reads the rows with these ids (sorted, distinct) that exist,
	// in that order.
	byID func(ctx context.Context, ids []string) ([]User, error)
	// changes reads the organization's change list (see changesKey), for
	// a stamp that does not carry its own, joined to the archived lists
	// before it (archiveKey) as far as needed to reach back to since, or
	// as far as they go; nil when it is not at the stamp's position or
	// later (then the rows are reloaded). Only a refresh that could patch
	// reads it.
	changes func(ctx context.Context, stamp, since int64) (*recentRows, error)
}

func newRowCache(max int) *rowCache {
	return &rowCache{max: max, patchMin: patchMin, orgs: map[string]*orgRows{}, inflight: map[string]*rowLoad{}}
}

// rows returns the rows of key at stamp, with their search index,
// refreshing them from src when the cached ones are older. An
// organization has one refresh in flight at a time: callers that need
// its stamp or an older one share it, and a caller that needs a newer one
// waits for it and then refreshes from its result, usually a patch of a
// few rows. Starting a second refresh beside the first would reload the
// organization whole (nothing newer than the old copy to patch from),
// and while an organization changes many times a second each page would
// start one: on FerretDB, full scans of tens of thousands of rows side by
// side, each slower for the others, until all of them ran out of time.
// The result is shared: callers must not change it.
func (c *rowCache) rows(ctx context.Context, key string, stamp ref, src rowSource) (*orgRows, error) {
	for {
		c.mu.Lock()
		cached := c.orgs[key]
		if cached != nil && cached.stamp >= stamp.Position {
			c.mu.Unlock()
			return cached, nil
		}
		if l := c.inflight[key]; l != nil {
			c.mu.Unlock()
			c.waits.Add(1)
			select {
			case <-l.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if l.stamp >= stamp.Position {
				return l.got, l.err
			}
			continue // stored unless it failed: refresh from it
		}
		l := &rowLoad{done: make(chan struct{}), stamp: stamp.Position}
		c.inflight[key] = l
		c.mu.Unlock()
		return c.load(ctx, key, l, cached, stamp, src)
	}
}

// load runs the refresh l of key from cached to stamp, for the callers
// that wait for it as well, and stores its result.
func (c *rowCache) load(ctx context.Context, key string, l *rowLoad, cached *orgRows, stamp ref, src rowSource) (*orgRows, error) {
	// Other callers wait for this load: a cancelled first caller must not
	// fail them.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
	l.got, l.err = c.refresh(lctx, cached, stamp, src)
	cancel()

	c.mu.Lock()
	delete(c.inflight, key)
	if l.err == nil {
		c.store(key, l.got)
	}
	c.mu.Unlock()
	close(l.done) // after the store, which waiters for a newer stamp refresh from
	return l.got, l.err
}

// refresh brings cached (nil when there is none) to stamp: by patching
// when the change list covers every change since cached and they are few,
// by a full load otherwise. The search index comes along: merged from
// cached's on a patch, sorted anew on a full load (see searchIndex).
func (c *rowCache) refresh(ctx context.Context, cached *orgRows, stamp ref, src rowSource) (*orgRows, error) {
	if cached != nil && !c.fullOnly {
		recent := stamp.Recent
		if recent == nil && src.changes != nil {
			var err error
			if recent, err = src.changes(ctx, stamp.Position, cached.stamp); err != nil {
				return nil, err
			}
		}
		keys, complete := recent.since(cached.stamp)
		if complete && len(keys) <= c.patchLimit(len(cached.rows)) {
			ids := make([]string, len(keys))
			for i, k := range keys {
				ids[i] = UserDocID(src.org, k) // sorted still: one prefix
			}
			changed, err := src.byID(ctx, ids)
			if err != nil {
				return nil, err
			}
			shareRepeated(changed)
			c.patches.Add(1)
			return &orgRows{
				stamp:  stamp.Position,
				rows:   patchRows(cached.rows, ids, changed),
				search: cached.search.patch(cached.rows, ids, changed),
				bytes:  patchedBytes(cached, ids, changed),
			}, nil
		}
	}
	loaded, err := src.all(ctx)
	if err != nil {
		return nil, err
	}
	shareRepeated(loaded)
	c.fullLoads.Add(1)
	rows := make([]*User, len(loaded))
	var bytes int64
	for i := range loaded {
		rows[i] = &loaded[i]
		bytes += rowBytes(rows[i])
	}
	slices.SortFunc(rows, func(a, b *User) int { return strings.Compare(a.ID, b.ID) })
	return &orgRows{stamp: stamp.Position, rows: rows, search: newSearchIndex(rows), bytes: bytes}, nil
}

// push brings the cached rows of key from stamp prev to next with rows
// the projection of this process has just stored: ids (sorted) changed,
// changed (sorted) are those of them that exist. A copy at another stamp
// is left alone, and is no longer live; the next read refreshes it from
// the database.
func (c *rowCache) push(key string, prev, next int64, ids []string, changed []User) {
	c.mu.Lock()
	cached := c.orgs[key]
	c.mu.Unlock()
	if cached == nil || cached.stamp != prev {
		c.notLive(key)
		return
	}
	shareRepeated(changed)
	o := &orgRows{stamp: next, rows: patchRows(cached.rows, ids, changed), search: cached.search.patch(cached.rows, ids, changed),
		bytes: patchedBytes(cached, ids, changed), live: true}
	c.mu.Lock()
	c.store(key, o) // keeps a newer copy stored meanwhile
	c.mu.Unlock()
	c.pushes.Add(1)
}

// shareRepeated makes the rows' values that most rows of an organization
// repeat (its id, the status, role and way in, the inviter) share one
// copy each, the canonical one of package unique, instead of each row
// holding the copy its decoding made: a decoded row is about 700 bytes of
// live heap in a dozen objects, and these are a quarter of the bytes and
// half of the objects, which the collector marks on every cycle while
// the rows stay cached. An inviter repeated within rows shares one Ref
// as well; a Ref is replaced, never changed, since a pushed row's Ref is
// the projection's too.
func shareRepeated(rows []User) {
	inviters := map[Ref]*Ref{}
	for i := range rows {
		u := &rows[i]
		u.OrgID = unique.Make(u.OrgID).Value()
		u.Status = unique.Make(u.Status).Value()
		u.Role = unique.Make(u.Role).Value()
		u.JoinedVia = unique.Make(u.JoinedVia).Value()
		if u.InvitedBy == nil {
			continue
		}
		if shared, ok := inviters[*u.InvitedBy]; ok {
			u.InvitedBy = shared
			continue
		}
		ref := &Ref{UserID: unique.Make(u.InvitedBy.UserID).Value(), Email: unique.Make(u.InvitedBy.Email).Value()}
		inviters[*ref] = ref
		u.InvitedBy = ref
	}
}

// rowBytes estimates the live heap a cached row holds: its document, the
// strings only it holds (decoding gives each row its own; the ones
// shareRepeated shares, and the inviter, count nothing), its times, and
// the three pointers to it (rows and the two orders of searchIndex). It
// leaves out the allocator's rounding up to size classes; against the
// heap a full load of decoded rows holds, it is within a tenth
// (TestRowBytesEstimatesTheHeap).
func rowBytes(u *User) int64 {
	n := int64(unsafe.Sizeof(*u)) + 3*int64(unsafe.Sizeof(u))
	for _, s := range [...]string{u.ID, string(u.UserID), u.Email, u.NormalizedEmail, u.Name, u.NameFold,
		string(u.InvitationID), string(u.RegistrationID)} {
		n += int64(len(s))
	}
	for _, t := range [...]*time.Time{u.InvitedAt, u.JoinedAt, u.ExpiresAt, u.RemovedAt} {
		if t != nil {
			n += int64(unsafe.Sizeof(*t))
		}
	}
	return n
}

// compareRowID orders a row against an _id, for binary searches of rows
// sorted by _id.
func compareRowID(u *User, id string) int { return strings.Compare(u.ID, id) }

// patchedBytes is the bytes of cached patched with changed (patchRows):
// the replaced or deleted rows of ids out, changed in.
func patchedBytes(cached *orgRows, ids []string, changed []User) int64 {
	n := cached.bytes
	for _, id := range ids {
		if i, found := slices.BinarySearchFunc(cached.rows, id, compareRowID); found {
			n -= rowBytes(cached.rows[i])
		}
	}
	for i := range changed {
		n += rowBytes(&changed[i])
	}
	return n
}

// CacheStats is what the Users page cache of a reader has done since it
// was made (StrategyCached; all zero otherwise).
type CacheStats struct {
	// Rows is the number of rows cached now, across organizations.
	Rows int
	// Bytes estimates the live heap they hold (see rowBytes). A row
	// patched out of a full load is counted out, though the load's array
	// holds it until the next full load.
	Bytes int64
	// Pushed, Patched and Reloaded count the refreshes of a cached
	// organization by kind: moved by the live projection of this process
	// (no read), patched with the rows its change list named (a read
	// each), reloaded whole (one query).
	Pushed, Patched, Reloaded int64
	// StampReads counts the pages that read their organization's stamp
	// from the database; the others were served from a copy the live
	// projection keeps current.
	StampReads int64
}

// CacheStats reports what the Users page cache has done (see CacheStats).
func (r *MongoReader) CacheStats() CacheStats {
	r.cache.mu.Lock()
	rows, bytes := r.cache.total, r.cache.bytes
	r.cache.mu.Unlock()
	return CacheStats{Rows: rows, Bytes: bytes, Pushed: r.cache.pushes.Load(), Patched: r.cache.patches.Load(),
		Reloaded: r.cache.fullLoads.Load(), StampReads: r.stampReads.Load()}
}

// notLive marks the copy of key, if any, as no longer moved by the live
// projection: a flush changed the organization without pushing it.
func (c *rowCache) notLive(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if o := c.orgs[key]; o != nil && o.live {
		copied := *o
		copied.live = false
		c.orgs[key] = &copied
	}
}

// flushed records that the live projection of this process has flushed,
// after it pushed or marked the copies the flush changed.
func (c *rowCache) flushed(at time.Time) { c.liveAt.Store(at.UnixNano()) }

// current returns the copy of key when the live projection keeps it
// current: it is live, and the projection flushed within ttl. The
// projection writes the users read model alone (its lease), and every
// flush either moves a live copy of an organization it changed or marks it
// not live, so such a copy is what a read of the org stamp would find,
// without the read. Past ttl (the projection idle, or stopped because its
// lease moved to another replica) reads go to the database again.
func (c *rowCache) current(key string, ttl time.Duration) *orgRows {
	at := c.liveAt.Load()
	if at == 0 || time.Since(time.Unix(0, at)) >= ttl {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if o := c.orgs[key]; o != nil && o.live {
		return o
	}
	return nil
}

// patchLimit is the most changed rows a refresh of an organization of n
// rows fetches by _id. On the embedded FerretDB a lookup by _id costs
// about 0.5 ms and a full load about 35 µs per row, so fetching more than
// n/16 rows (a few at a time) costs about as much as reloading.
func (c *rowCache) patchLimit(n int) int { return max(c.patchMin, n/16) }

// patchRows returns a new slice: rows (sorted by _id) with the rows of ids
// (sorted) replaced by changed (sorted, a subset of ids: the ones that
// still exist), inserted in order, or dropped when absent from changed.
func patchRows(rows []*User, ids []string, changed []User) []*User {
	out := make([]*User, 0, len(rows)+len(changed))
	i, k := 0, 0
	for _, id := range ids {
		j, found := slices.BinarySearchFunc(rows[i:], id, compareRowID)
		out = append(out, rows[i:i+j]...)
		i += j
		if found {
			i++ // replaced or deleted
		}
		if k < len(changed) && changed[k].ID == id {
			out = append(out, &changed[k])
			k++
		}
	}
	return append(out, rows[i:]...)
}

func (c *rowCache) store(key string, o *orgRows) {
	if old := c.orgs[key]; old != nil {
		if old.stamp > o.stamp || old.stamp == o.stamp && old.live {
			return
		}
		c.total -= len(old.rows)
		c.bytes -= old.bytes
		delete(c.orgs, key)
	}
	// Random victims make room. An organization larger than the whole
	// cache is kept alone: read through, every page would load it whole,
	// and hold it in memory meanwhile all the same.
	for k, other := range c.orgs {
		if c.total+len(o.rows) <= c.max {
			break
		}
		c.total -= len(other.rows)
		c.bytes -= other.bytes
		delete(c.orgs, k)
	}
	c.orgs[key] = o
	c.total += len(o.rows)
	c.bytes += o.bytes
}

// searchIndex orders an organization's rows by the two fields a Users
// search (q) matches a prefix of, so that the rows whose email, or name,
// starts with the prefix are a range found by binary search rather than
// every row tested: a search by a full address, the portal's most common,
// then visits one row or two instead of an organization's tens of
// thousands. Ties go by _id, which makes each order total: every row has
// exactly one place, which a patch finds by binary search as well. Each
// order is one pointer a row, to the documents rows points at (see
// rowCache.max).
//
// It is built with the rows it orders and shared as they are, never
// changed once built. A full load sorts it: two sorts of pointers, 30 to
// 50 ms for 40,000 rows (the email order, usually sorted already, costs
// 1.5 ms of them), little next to the 1.4 s FerretDB takes to give the
// rows. A patch merges it from the previous copy's index in O(n), as
// patchRows does the rows: the changed rows' old versions out, their new
// ones in, each found by binary search, and the runs between them copied
// whole. That costs about twice patchRows, 0.5 to 0.8 ms for one changed
// row of 40,000 (BenchmarkSearchIndexPatch), mostly allocating the two
// new slices and copying into them. Sorting anew on every patch would
// cost those 30 to 50 ms, 40 times a second on a large organization that
// changes; and building it lazily on the first search of a copy would
// sort about as often, since under load nearly every patched copy is
// searched before the next patch replaces it.
type searchIndex struct {
	byEmail []*User // by NormalizedEmail, then _id
	byName  []*User // by NameFold, then _id
}

func emailOrder(a, b *User) int {
	if c := strings.Compare(a.NormalizedEmail, b.NormalizedEmail); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

func nameOrder(a, b *User) int {
	if c := strings.Compare(a.NameFold, b.NameFold); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// newSearchIndex orders rows (sorted by _id). The email order is usually
// the _id order already (an _id is the organization's prefix and the
// normalized email), which the sort finds in linear time.
func newSearchIndex(rows []*User) searchIndex {
	x := searchIndex{byEmail: slices.Clone(rows), byName: slices.Clone(rows)}
	slices.SortFunc(x.byEmail, emailOrder)
	slices.SortFunc(x.byName, nameOrder)
	return x
}

// patch returns the index of patchRows(rows, ids, changed), x being the
// index of rows: the rows of ids out, the rows of changed (the same
// pointers patchRows puts in) in. It builds new slices; x is not changed.
func (x searchIndex) patch(rows []*User, ids []string, changed []User) searchIndex {
	var gone []*User
	i := 0
	for _, id := range ids {
		j, found := slices.BinarySearchFunc(rows[i:], id, compareRowID)
		i += j
		if found {
			gone = append(gone, rows[i])
			i++
		}
	}
	added := make([]*User, len(changed))
	for k := range changed {
		added[k] = &changed[k]
	}
	return searchIndex{
		byEmail: mergeOrder(x.byEmail, gone, added, emailOrder),
		byName:  mergeOrder(x.byName, gone, added, nameOrder),
	}
}

// mergeOrder returns a new slice: order (sorted by cmp) without the rows
// of gone, which it holds, and with the rows of added, in cmp's order. It
// sorts gone and added (a few rows) and goes through both and order once,
// copying the runs of order between their places.
func mergeOrder(order, gone, added []*User, cmp func(a, b *User) int) []*User {
	slices.SortFunc(gone, cmp)
	slices.SortFunc(added, cmp)
	out := make([]*User, 0, len(order)-len(gone)+len(added))
	i, g, a := 0, 0, 0
	for g < len(gone) || a < len(added) {
		// The next of gone and added in the order. A changed row whose
		// key stayed compares equal to its old version (same key, same
		// _id), which goes first: out, then the new one in its place.
		drop := a == len(added) || g < len(gone) && cmp(gone[g], added[a]) <= 0
		var next *User
		if drop {
			next = gone[g]
		} else {
			next = added[a]
		}
		j, found := slices.BinarySearchFunc(order[i:], next, cmp)
		out = append(out, order[i:i+j]...)
		i += j
		if drop {
			if found {
				i++ // gone[g] itself: nothing else has its _id
			}
			g++
		} else {
			out = append(out, next)
			a++
		}
	}
	return append(out, order[i:]...)
}

// matching returns the rows whose normalized email, and the rows whose
// folded name, starts with prefix: a range of each order, shared (not to
// be changed). A row may be in both.
func (x *searchIndex) matching(prefix string) (byEmail, byName []*User) {
	return prefixRange(x.byEmail, prefix, func(u *User) string { return u.NormalizedEmail }),
		prefixRange(x.byName, prefix, func(u *User) string { return u.NameFold })
}

// prefixRange is the range of order (sorted by key, bytewise) whose keys
// start with prefix: from the first key at or after prefix up to the
// first that does not start with it, since in byte order no key without
// the prefix sorts between two with it. Matched bytewise, as
// strings.HasPrefix does: an empty key never starts with a prefix that is
// not empty (and sorts first).
func prefixRange(order []*User, prefix string, key func(*User) string) []*User {
	lo := sort.Search(len(order), func(i int) bool { return key(order[i]) >= prefix })
	n := sort.Search(len(order)-lo, func(i int) bool { return !strings.HasPrefix(key(order[lo+i]), prefix) })
	return order[lo : lo+n]
}
