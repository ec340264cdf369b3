package store

import "github.com/cockroachdb/pebble/v2"

// headCacheCapacity bounds the stream heads the writer remembers: a few
// MiB, independent of how many events are stored.
const headCacheCapacity = 1 << 16

// headCache remembers the heads of recently written streams (and whether
// their metastream exists), so that most appends decide without a Pebble
// lookup. The writer is the only goroutine that changes heads, so what it
// cached stays true; entries are evicted in insertion order. Owned by the
// writer goroutine: no locking.
type headCache struct {
	m     map[string]head
	order []string
	next  int
}

func newHeadCache(capacity int) *headCache {
	return &headCache{m: make(map[string]head, capacity), order: make([]string, capacity)}
}

func (c *headCache) put(stream string, h head) {
	if _, ok := c.m[stream]; !ok {
		if old := c.order[c.next]; old != "" {
			delete(c.m, old)
		}
		c.order[c.next] = stream
		c.next = (c.next + 1) % len(c.order)
	}
	c.m[stream] = h
}

// head returns stream's head as the writer last left it.
func (w *writer) head(b *pebble.Batch, stream string) (head, error) {
	if h, ok := w.heads.m[stream]; ok {
		return h, nil
	}
	h, err := readHead(b, stream)
	if err == nil {
		w.heads.put(stream, h)
	}
	return h, err
}

func (w *writer) setHead(b *pebble.Batch, stream string, h head) error {
	if err := writeHead(b, stream, h); err != nil {
		return err
	}
	w.heads.put(stream, h)
	return nil
}

// retention is a stream's retention as the writer sees it; most streams
// have no metadata, and the head cache knows it without a lookup.
func (w *writer) retention(b *pebble.Batch, stream string) (retention, error) {
	return loadRetention(b, stream, func(s string) (head, error) { return w.head(b, s) })
}
