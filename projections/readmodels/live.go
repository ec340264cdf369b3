package readmodels

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// liveTable is a table over a Mongo collection for live apply: the fold
// reads documents by _id, and its writes stay in memory, coalesced per
// document (the latest version wins, a delete after a put is a delete),
// until the applier flushes them all at once. On FerretDB a write costs
// about as much as a round trip whatever it carries, so a flush of a
// thousand documents costs little more than one of a single document:
// documents known to be absent go in one insertMany, the others in one
// bulk write of replacements (upserts) and deletes.
//
// The runner flushes before every checkpoint save (projections.Flusher),
// so a checkpoint never passes an event whose writes are not stored; the
// price is that a write becomes visible at the next checkpoint (within
// CheckpointDelay under load) rather than with its event. Reads see the
// pending writes first, so the folds work on the latest state.
//
// It caches what it has read or written, including absence: the applier
// that owns it is the only writer of its version for the lease term it
// lives in, so its own view stays current, and a warm cache turns most
// events into writes only. The cache is bounded (docCache: the most
// recently used documents stay; maxCache 0: nothing is remembered, for
// documents that are only ever written). What the cache knew of a document when the flush cycle
// first wrote it travels with the pending write, so that an emptied cache
// does not lose the cheaper write: a document not known to be stored is
// inserted (replaced if the insert finds it), one known to be stored is
// replaced, and one known to be stored as it is is not written again.
//
// Documents whose id late reports are written after all the others of
// the same flush, in a second round trip. Only marks that may lag behind
// the documents they describe qualify (the org stamps: a stamp must never
// run ahead of its rows).
type liveTable[T any] struct {
	coll  *mongo.Collection
	cache docCache[T]
	late  func(id string) bool
	// ids, when set, tells absent documents without a read (knownIDs).
	ids *knownIDs

	ctx     context.Context // of the event being applied
	err     error           // first read failure of the event
	pending map[string]pendingWrite[T]
	order   []string // pending ids in the order first written, so that flushes are repeatable

	// undo restores pending as it was before the event being applied, if
	// it fails half-way: the pending set holds the writes of the events
	// applied before it, which must survive.
	undo      []undoWrite[T]
	undoOrder int // len(order) when the event began
}

// pendingWrite is the latest version of a document in the flush cycle.
// base is what the cache knew of the stored document when the cycle first
// wrote it (baseKnown false: nothing).
type pendingWrite[T any] struct {
	doc       T
	delete    bool
	base      cached[T]
	baseKnown bool
	// keep: on a duplicate key the stored document stays (insertNew).
	keep bool
	// created, when set, is the position of a document its fold built
	// from nothing without reading it (create): on a duplicate key the
	// newer of the two stays.
	created func(T) int64
}

type undoWrite[T any] struct {
	id   string
	prev pendingWrite[T]
	had  bool
}

func newLiveTable[T any](coll *mongo.Collection, maxCache int) *liveTable[T] {
	return &liveTable[T]{coll: coll, cache: newDocCache[T](maxCache), pending: map[string]pendingWrite[T]{}}
}

// begin starts the work of one event.
func (t *liveTable[T]) begin(ctx context.Context) {
	t.ctx, t.err = ctx, nil
	t.undo = t.undo[:0]
	t.undoOrder = len(t.order)
}

// failed reports the first read failure of the event.
func (t *liveTable[T]) failed() error { return t.err }

// abort takes back the writes of the event being applied, leaving those of
// the events before it pending.
func (t *liveTable[T]) abort() {
	for i := len(t.undo) - 1; i >= 0; i-- {
		u := t.undo[i]
		if u.had {
			t.pending[u.id] = u.prev
		} else {
			delete(t.pending, u.id)
		}
	}
	t.undo = t.undo[:0]
	t.order = t.order[:t.undoOrder]
}

func (t *liveTable[T]) size() int { return len(t.pending) }

func (t *liveTable[T]) get(id string) (T, bool) {
	var zero T
	if w, ok := t.pending[id]; ok {
		return w.doc, !w.delete
	}
	if c, ok := t.cache.get(id); ok {
		return c.doc, c.exists
	}
	if t.err != nil {
		return zero, false
	}
	if t.ids != nil && t.ids.absent(t.ctx, id) {
		t.remember(id, zero, false)
		return zero, false
	}
	var doc T
	err := t.coll.FindOne(t.ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		t.remember(id, zero, false)
		return zero, false
	case err != nil:
		t.err = classify(fmt.Errorf("read %s %q: %w", t.coll.Name(), id, err))
		return zero, false
	}
	t.remember(id, doc, true)
	return doc, true
}

func (t *liveTable[T]) put(id string, doc T) { t.write(id, pendingWrite[T]{doc: doc}) }
func (t *liveTable[T]) del(id string)        { t.write(id, pendingWrite[T]{delete: true}) }

// insertNew writes a document the caller knows to be new unless its event
// was applied before (an audit entry, whose _id is the event id): it is
// inserted without a read, and on a redelivery the stored one stays.
func (t *liveTable[T]) insertNew(id string, doc T) {
	t.write(id, pendingWrite[T]{doc: doc, baseKnown: true, keep: true})
}

// create writes doc, which the fold built from nothing at its position
// (pos) with the first event of its stream, under an id no earlier event
// used: it is not read first, since only a redelivery can find it stored.
// The events after it build on it as on any pending write, and at the
// flush a stored version found (a duplicate key) is kept if it is at the
// pending one's position or later, replaced otherwise: every event of
// the document up to the pending one's position is in this cycle, from
// its first, so the pending one is the whole fold up to there.
func (t *liveTable[T]) create(id string, doc T, pos func(T) int64) {
	cur, known := t.pending[id]
	if !known {
		var c cached[T]
		if c, known = t.cache.get(id); known {
			cur = pendingWrite[T]{doc: c.doc, delete: !c.exists}
		}
	}
	switch {
	case known && !cur.delete && pos(cur.doc) >= pos(doc):
		// Applied before (a redelivery).
	case known:
		t.put(id, doc)
	default:
		t.write(id, pendingWrite[T]{doc: doc, created: pos})
	}
}

func (t *liveTable[T]) write(id string, w pendingWrite[T]) {
	prev, had := t.pending[id]
	t.undo = append(t.undo, undoWrite[T]{id: id, prev: prev, had: had})
	switch {
	case had:
		w.base, w.baseKnown, w.keep = prev.base, prev.baseKnown, prev.keep && w.keep
		if w.created == nil {
			w.created = prev.created
		}
	case !w.baseKnown:
		w.base, w.baseKnown = t.cache.get(id)
		t.order = append(t.order, id)
	default:
		t.order = append(t.order, id)
	}
	t.pending[id] = w
}

// flush writes the pending documents whose id late reports (late true) or
// the others (late false), in as few round trips as it can: an insertMany
// of those not known to be stored, then a bulk write of the rest (and of
// the inserts refused as duplicates, as replacements). Both are unordered
// (each document appears once), so one failing document does not hold
// back the others; the error still fails the flush.
func (t *liveTable[T]) flush(ctx context.Context, late bool) error {
	var (
		inserts   []any
		insertIDs []string
		models    []mongo.WriteModel
	)
	for _, id := range t.order {
		w := t.pending[id]
		if isLate := t.late != nil && t.late(id); isLate != late {
			continue
		}
		switch {
		case w.delete && w.baseKnown && !w.base.exists:
			// Absent already.
		case w.delete:
			models = append(models, mongo.NewDeleteOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}))
		case w.baseKnown && w.base.exists && reflect.DeepEqual(w.base.doc, w.doc):
			// Stored as it is (a redelivery, a lookup written again).
		case !w.baseKnown || !w.base.exists:
			// Known to be absent, or written without a read (the lookups
			// a fold writes unconditionally, which are new but for a
			// redelivery): inserted. FerretDB runs each replacement of a
			// bulk write as a transaction of its own, at a few hundred a
			// second, while a refused insert in an unordered batch costs
			// next to nothing.
			inserts = append(inserts, w.doc)
			insertIDs = append(insertIDs, id)
		default:
			models = append(models, replaceModel(id, w.doc))
		}
	}
	for start := 0; start < len(inserts); start += flushChunk {
		end := min(start+flushChunk, len(inserts))
		_, err := t.coll.InsertMany(ctx, inserts[start:end], options.InsertMany().SetOrdered(false))
		dups, err := duplicates(err)
		if err != nil {
			return classify(fmt.Errorf("insert into %s: %w", t.coll.Name(), err))
		}
		for _, i := range dups {
			// Not what this writer saw (a redelivery): write it over,
			// unless the stored one is to stay.
			id := insertIDs[start+i]
			switch w := t.pending[id]; {
			case w.keep:
			case w.created != nil:
				m, err := t.newerOf(ctx, id, w)
				if err != nil {
					return err
				}
				if m != nil {
					models = append(models, m)
				}
			default:
				models = append(models, replaceModel(id, w.doc))
			}
		}
	}
	for start := 0; start < len(models); start += bulkWriteChunk {
		end := min(start+bulkWriteChunk, len(models))
		if _, err := t.coll.BulkWrite(ctx, models[start:end], options.BulkWrite().SetOrdered(false)); err != nil {
			return classify(fmt.Errorf("write %s: %w", t.coll.Name(), err))
		}
	}
	return nil
}

// newerOf settles a created document that turned out to be stored (see
// create): the stored version stays if it is at the pending one's position
// or later, and becomes what the cache will know; otherwise the pending
// one replaces it (returned as a write to make).
func (t *liveTable[T]) newerOf(ctx context.Context, id string, w pendingWrite[T]) (mongo.WriteModel, error) {
	var stored T
	err := t.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&stored)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		// Gone since the insert was refused; nothing deletes these.
	case err != nil:
		return nil, classify(fmt.Errorf("read %s %q: %w", t.coll.Name(), id, err))
	case w.created(stored) >= w.created(w.doc):
		t.pending[id] = pendingWrite[T]{doc: stored, base: cached[T]{doc: stored, exists: true}, baseKnown: true}
		return nil, nil
	}
	return replaceModel(id, w.doc), nil
}

// flushChunk bounds the documents of one insertMany of a flush, so that
// each request stays well within the client's timeouts on a busy machine
// and lets the other users of the database in between.
const flushChunk = 256

// bulkWriteChunk bounds the replacements and deletions of one bulk write.
// FerretDB v1 (1.24) keeps the query of every update statement of one
// command open until the whole command is done (a deferred close in a
// loop of its update handler), and each open query holds one of its 100
// SQLite connections: an update command of a few hundred replacements of
// existing documents waits for a connection it will never get, and every
// other request of the database waits behind it. Sixteen statements a
// command, three projections flushing at once and the client's pool of
// 16 (mongodb.Embedded) stay far below that; on MongoDB it only costs a
// few more round trips per flush.
const bulkWriteChunk = 16

func replaceModel(id string, doc any) mongo.WriteModel {
	return mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}).SetReplacement(doc).SetUpsert(true)
}

// duplicates returns the indexes of the documents an unordered insertMany
// refused as duplicate keys; err is nil when that is all that went wrong.
func duplicates(err error) (indexes []int, _ error) {
	var bwe mongo.BulkWriteException
	if err == nil || !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return nil, err
	}
	for _, we := range bwe.WriteErrors {
		if !mongo.IsDuplicateKeyError(we) {
			return nil, err
		}
		indexes = append(indexes, we.Index)
	}
	return indexes, nil
}

// flushed ends a flush cycle whose writes are all stored: they become what
// the cache knows.
func (t *liveTable[T]) flushed() {
	for _, id := range t.order {
		w := t.pending[id]
		if t.ids != nil {
			t.ids.stored(id, !w.delete)
		}
		if w.keep && w.baseKnown && !w.base.exists {
			// An insertNew: only ever written, and maybe not what is
			// stored (a redelivery keeps the first version).
			continue
		}
		t.remember(id, w.doc, !w.delete)
	}
	t.reset()
}

// discard ends a flush cycle that failed: its writes are dropped, and the
// documents they were about forgotten, so that the events delivered again
// read what is really stored.
func (t *liveTable[T]) discard() {
	for _, id := range t.order {
		t.cache.forget(id)
		if t.ids != nil {
			t.ids.forget(id)
		}
	}
	t.reset()
}

func (t *liveTable[T]) reset() {
	clear(t.pending)
	t.order = t.order[:0]
	t.undo = t.undo[:0]
	t.undoOrder = 0
}

func (t *liveTable[T]) remember(id string, doc T, exists bool) {
	t.cache.put(id, cached[T]{doc: doc, exists: exists})
}
