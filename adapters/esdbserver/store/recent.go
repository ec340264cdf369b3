package store

import "github.com/cockroachdb/pebble/v2"

// recentIDCapacity bounds the event ids remembered for idempotent "any"
// appends: about 40 bytes each, so a few MiB.
const recentIDCapacity = 1 << 17

// recentIDs maps the ids of the most recently written events to their
// positions, so that a retried append without a revision condition is
// recognised. EventStoreDB keeps such a cache in memory too; appends with
// an expected revision need none, as they are checked against the stream
// index. Owned by the writer goroutine: no locking.
type recentIDs struct {
	pos   map[[16]byte]uint64
	order []recentID // ring in insertion order, for eviction
	next  int
}

type recentID struct {
	id  [16]byte
	pos uint64 // 0: slot unused
}

func newRecentIDs(capacity int) *recentIDs {
	return &recentIDs{pos: make(map[[16]byte]uint64, capacity), order: make([]recentID, capacity)}
}

func (r *recentIDs) add(id [16]byte, pos uint64) {
	// Evict the oldest entry, unless its id was written again since.
	if old := r.order[r.next]; old.pos != 0 && r.pos[old.id] == old.pos {
		delete(r.pos, old.id)
	}
	r.order[r.next] = recentID{id: id, pos: pos}
	r.next = (r.next + 1) % len(r.order)
	r.pos[id] = pos
}

func (r *recentIDs) lookup(id [16]byte) (uint64, bool) {
	p, ok := r.pos[id]
	return p, ok
}

// seedRecentIDs fills the cache from the tail of the log, so that a client
// retrying across a restart is still recognised.
func (s *Store) seedRecentIDs(r *recentIDs) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixLog}, UpperBound: []byte{prefixLog + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	var tail []Record
	for ok := it.Last(); ok && len(tail) < len(r.order); ok = it.Prev() {
		rec, err := decodeRecord(logKeyPosition(it.Key()), it.Value())
		if err != nil {
			return err
		}
		tail = append(tail, Record{Position: rec.Position, ID: rec.ID})
	}
	for i := len(tail) - 1; i >= 0; i-- {
		r.add(tail[i].ID, tail[i].Position)
	}
	return it.Error()
}
