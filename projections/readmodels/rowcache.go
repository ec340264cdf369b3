package readmodels

import (
	"context"
	"sync"
	"time"
)

// loadTimeout bounds loading one organization's rows.
const loadTimeout = 30 * time.Second

// rowCache keeps the Users rows of recently read organizations, each
// tagged with the org stamp it was loaded at. A reader checks the stamp
// (one read by _id) and reloads the organization only when a row of it
// changed. On FerretDB every query other than by _id decodes the whole
// collection, so this turns a Users page from a scan into a lookup while
// nothing changes.
//
// The projection writes a row before it moves the stamp, so rows loaded
// after reading stamp S hold at least everything up to S; a later change
// moves the stamp and the next read reloads.
type rowCache struct {
	max int // rows kept across organizations

	mu       sync.Mutex
	orgs     map[string]*orgRows
	total    int
	inflight map[string]*rowLoad
}

type orgRows struct {
	stamp int64
	rows  []User
}

type rowLoad struct {
	done  chan struct{}
	stamp int64
	rows  []User
	err   error
}

func newRowCache(max int) *rowCache {
	return &rowCache{max: max, orgs: map[string]*orgRows{}, inflight: map[string]*rowLoad{}}
}

// rows returns the rows of key at stamp, loading them with load (once for
// concurrent callers) when the cached ones are older. The slice is shared:
// callers must not change it.
func (c *rowCache) rows(ctx context.Context, key string, stamp int64, load func(context.Context) ([]User, error)) ([]User, error) {
	c.mu.Lock()
	if o := c.orgs[key]; o != nil && o.stamp >= stamp {
		rows := o.rows
		c.mu.Unlock()
		return rows, nil
	}
	if l := c.inflight[key]; l != nil && l.stamp >= stamp {
		c.mu.Unlock()
		select {
		case <-l.done:
			return l.rows, l.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	l := &rowLoad{done: make(chan struct{}), stamp: stamp}
	c.inflight[key] = l
	c.mu.Unlock()

	// Other callers wait for this load: a cancelled first caller must not
	// fail them.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
	l.rows, l.err = load(lctx)
	cancel()
	close(l.done)

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight[key] == l {
		delete(c.inflight, key)
	}
	if l.err == nil {
		c.store(key, &orgRows{stamp: stamp, rows: l.rows})
	}
	return l.rows, l.err
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
