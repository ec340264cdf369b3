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
// reads documents by _id (each at most once per event), and its writes are
// collected and written back by _id, in order, by flush.
//
// It caches what it has read or written, including absence: the applier
// that owns it is the only writer of its version for the lease term it
// lives in, so its own view stays current, and a warm cache turns most
// events into writes only. The cache is bounded and simply emptied when
// full. The cache also saves writes: a document known to be absent is
// inserted (cheaper than an upsert on FerretDB), and one known to be
// stored as it is is not written again.
//
// Documents whose id defer reports are written late: flush keeps them, and
// flushDeferred writes the latest of each, which the runner does before it
// saves a checkpoint (projections.Flusher). Only marks that may lag behind
// the documents they describe qualify (the org stamps: a stamp must never
// run ahead of its rows, and may trail them until the checkpoint says the
// events are applied).
type liveTable[T any] struct {
	coll     *mongo.Collection
	cache    map[string]cached[T]
	maxCache int
	defer_   func(id string) bool
	deferred map[string]T // written by flushDeferred

	ctx     context.Context // of the event being applied
	err     error           // first read failure of the event
	pending map[string]pendingWrite[T]
	order   []string
}

type cached[T any] struct {
	doc    T
	exists bool
}

type pendingWrite[T any] struct {
	doc    T
	delete bool
}

func newLiveTable[T any](coll *mongo.Collection, maxCache int) *liveTable[T] {
	return &liveTable[T]{coll: coll, cache: map[string]cached[T]{}, maxCache: maxCache}
}

// begin starts the work of one event.
func (t *liveTable[T]) begin(ctx context.Context) {
	t.ctx, t.err = ctx, nil
	clear(t.pending)
	t.order = t.order[:0]
}

func (t *liveTable[T]) get(id string) (T, bool) {
	var zero T
	if w, ok := t.pending[id]; ok {
		return w.doc, !w.delete
	}
	if d, ok := t.deferred[id]; ok {
		return d, true
	}
	if c, ok := t.cache[id]; ok {
		return c.doc, c.exists
	}
	if t.err != nil {
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

func (t *liveTable[T]) write(id string, w pendingWrite[T]) {
	if t.pending == nil {
		t.pending = map[string]pendingWrite[T]{}
	}
	if _, ok := t.pending[id]; !ok {
		t.order = append(t.order, id)
	}
	t.pending[id] = w
}

// flush writes what the event changed. A failed write leaves the cache
// without that document, so that the retry reads what is really stored.
func (t *liveTable[T]) flush(ctx context.Context) error {
	for _, id := range t.order {
		w := t.pending[id]
		if !w.delete && t.defer_ != nil && t.defer_(id) {
			if t.deferred == nil {
				t.deferred = map[string]T{}
			}
			t.deferred[id] = w.doc
			continue
		}
		if err := t.store(ctx, id, w); err != nil {
			return err
		}
	}
	return nil
}

// store stores one document, or deletes it, by _id.
func (t *liveTable[T]) store(ctx context.Context, id string, w pendingWrite[T]) error {
	c, known := t.cache[id]
	filter := bson.D{{Key: "_id", Value: id}}
	var err error
	switch {
	case w.delete && known && !c.exists:
		return nil // absent already
	case w.delete:
		_, err = t.coll.DeleteOne(ctx, filter)
	case known && c.exists && reflect.DeepEqual(c.doc, w.doc):
		return nil // stored as it is (a redelivery, a lookup written again)
	case known && !c.exists:
		_, err = t.coll.InsertOne(ctx, w.doc)
		if mongo.IsDuplicateKeyError(err) {
			// Not what this writer saw; write it over as below.
			_, err = t.coll.ReplaceOne(ctx, filter, w.doc, options.Replace().SetUpsert(true))
		}
	default:
		_, err = t.coll.ReplaceOne(ctx, filter, w.doc, options.Replace().SetUpsert(true))
	}
	if err != nil {
		delete(t.cache, id)
		return classify(fmt.Errorf("write %s %q: %w", t.coll.Name(), id, err))
	}
	t.remember(id, w.doc, !w.delete)
	return nil
}

// flushDeferred writes the deferred documents. What fails stays deferred,
// for the next call.
func (t *liveTable[T]) flushDeferred(ctx context.Context) error {
	for id, doc := range t.deferred {
		if err := t.store(ctx, id, pendingWrite[T]{doc: doc}); err != nil {
			return err
		}
		delete(t.deferred, id)
	}
	return nil
}

// discard drops the event's writes, and forgets the documents they were
// about, after a failure.
func (t *liveTable[T]) discard() {
	for _, id := range t.order {
		delete(t.cache, id)
	}
	clear(t.pending)
	t.order = t.order[:0]
}

func (t *liveTable[T]) remember(id string, doc T, exists bool) {
	if len(t.cache) >= t.maxCache {
		clear(t.cache)
	}
	t.cache[id] = cached[T]{doc: doc, exists: exists}
}
