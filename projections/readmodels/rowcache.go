package readmodels

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orgportal/onboarding/domain"
)

// loadTimeout bounds loading one organization's rows.
const loadTimeout = 30 * time.Second

// patchMin is the fewest changed rows a refresh fetches by _id rather than
// reloading the organization; see patchLimit.
const patchMin = 32

// rowCache keeps the Users rows of recently read organizations, each
// tagged with the org stamp it was loaded at. A reader checks the stamp
// (one read by _id) and refreshes the organization only when a row of it
// changed: it fetches by _id the rows the stamp lists as changed since
// (recentRows) and patches its copy, or, when the list does not reach back
// that far or names too many rows, reloads the organization. On FerretDB
// every query other than by _id decodes the whole collection, so this
// turns a Users page from a scan into a few lookups while the organization
// changes, and into one lookup while it does not.
//
// The projection writes a row before it moves the stamp, so rows read
// after reading stamp S hold at least everything up to S; a later change
// moves the stamp and the next read refreshes. Rows fetched after reading
// the stamp may be newer than it; the stamp that covers them lists them
// again, so a later refresh fetches them again.
type rowCache struct {
	max int // rows kept across organizations
	// patchMin starts at the constant of that name; tests raise it to
	// tell the two reasons to reload apart. fullOnly turns patching off,
	// for benchmarks to compare.
	patchMin int
	fullOnly bool

	// fullLoads and patches count the refreshes of each kind, for tests
	// and benchmarks.
	fullLoads atomic.Int64
	patches   atomic.Int64

	mu       sync.Mutex
	orgs     map[string]*orgRows
	total    int
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
}

type rowLoad struct {
	done  chan struct{}
	stamp int64
	rows  []*User
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
}

func newRowCache(max int) *rowCache {
	return &rowCache{max: max, patchMin: patchMin, orgs: map[string]*orgRows{}, inflight: map[string]*rowLoad{}}
}

// rows returns the rows of key at stamp, refreshing them from src (once
// for concurrent callers) when the cached ones are older. The slice is
// shared: callers must not change it.
func (c *rowCache) rows(ctx context.Context, key string, stamp ref, src rowSource) ([]*User, error) {
	c.mu.Lock()
	cached := c.orgs[key]
	if cached != nil && cached.stamp >= stamp.Position {
		c.mu.Unlock()
		return cached.rows, nil
	}
	if l := c.inflight[key]; l != nil && l.stamp >= stamp.Position {
		c.mu.Unlock()
		select {
		case <-l.done:
			return l.rows, l.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	l := &rowLoad{done: make(chan struct{}), stamp: stamp.Position}
	c.inflight[key] = l
	c.mu.Unlock()

	// Other callers wait for this load: a cancelled first caller must not
	// fail them.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
	l.rows, l.err = c.refresh(lctx, cached, stamp, src)
	cancel()
	close(l.done)

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight[key] == l {
		delete(c.inflight, key)
	}
	if l.err == nil {
		c.store(key, &orgRows{stamp: stamp.Position, rows: l.rows})
	}
	return l.rows, l.err
}

// refresh brings cached (nil when there is none) to stamp: by patching
// when the stamp lists every change since cached and they are few, by a
// full load otherwise.
func (c *rowCache) refresh(ctx context.Context, cached *orgRows, stamp ref, src rowSource) ([]*User, error) {
	if cached != nil && !c.fullOnly {
		keys, complete := stamp.Recent.since(cached.stamp)
		if complete && len(keys) <= c.patchLimit(len(cached.rows)) {
			ids := make([]string, len(keys))
			for i, k := range keys {
				ids[i] = UserDocID(src.org, k) // sorted still: one prefix
			}
			changed, err := src.byID(ctx, ids)
			if err != nil {
				return nil, err
			}
			c.patches.Add(1)
			return patchRows(cached.rows, ids, changed), nil
		}
	}
	loaded, err := src.all(ctx)
	if err != nil {
		return nil, err
	}
	c.fullLoads.Add(1)
	rows := make([]*User, len(loaded))
	for i := range loaded {
		rows[i] = &loaded[i]
	}
	slices.SortFunc(rows, func(a, b *User) int { return strings.Compare(a.ID, b.ID) })
	return rows, nil
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
		j, found := slices.BinarySearchFunc(rows[i:], id, func(u *User, id string) int { return strings.Compare(u.ID, id) })
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
		if old.stamp > o.stamp {
			return
		}
		c.total -= len(old.rows)
		delete(c.orgs, key)
	}
	if len(o.rows) > c.max {
		return // larger than the whole cache: read through
	}
	for k, other := range c.orgs { // random victims
		if c.total+len(o.rows) <= c.max {
			break
		}
		c.total -= len(other.rows)
		delete(c.orgs, k)
	}
	c.orgs[key] = o
	c.total += len(o.rows)
}
