package mongodb

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// CheckpointsCollection is where CheckpointStore keeps its documents.
const CheckpointsCollection = "checkpoints"

// CheckpointStore keeps, per projection, the commit position of the last
// event whose handlers succeeded: {_id: <name>, position: <int64>}. Every
// operation addresses one document by its _id.
//
// Save never moves a checkpoint backwards: it uses $max, which MongoDB
// applies atomically to the document, so concurrent savers on any number
// of replicas leave the highest position. FerretDB v1 runs $max as read,
// compare, write back without a lock, so the store also serializes its own
// saves per name; use one CheckpointStore per process. Against a FerretDB
// shared by several processes (not a supported deployment) only the lease
// keeps savers apart.
//
// The store also remembers the highest position it saved or was announced
// per name (Reached) and signals each move (Changed), so that a reader in
// the same process learns where the projections it runs are without
// reading the collection, and before their checkpoints are saved
// (Announce).
type CheckpointStore struct {
	coll  *mongo.Collection
	locks keyedMutex

	reachedMu sync.Mutex
	reached   map[string]uint64 // highest position saved or announced here, by name
	changed   chan struct{}     // closed and replaced when a reached position moves
}

// NewCheckpointStore returns a store over db's checkpoints collection.
func NewCheckpointStore(db *mongo.Database) *CheckpointStore {
	return &CheckpointStore{coll: db.Collection(CheckpointsCollection), reached: map[string]uint64{}, changed: make(chan struct{})}
}

// Reached returns the highest position this store saved or was
// announced for name; ok is false when there is none. The subscription
// name belongs to has written everything up to it, but the stored
// position may be lower (an announced one is saved later) or higher
// (another process may have saved a higher one since): it is where this
// process has got, and costs no read.
func (s *CheckpointStore) Reached(name string) (position uint64, ok bool) {
	s.reachedMu.Lock()
	defer s.reachedMu.Unlock()
	position, ok = s.reached[name]
	return position, ok
}

// Changed returns a channel that is closed by the next save or
// announcement that moves a position Reached reports. Take it before
// reading Reached, so that no move falls between the two.
func (s *CheckpointStore) Changed() <-chan struct{} {
	s.reachedMu.Lock()
	defer s.reachedMu.Unlock()
	return s.changed
}

// Announce implements eventstoredb.CheckpointAnnouncer: the subscription
// name has handled, and written, everything up to position, whose save is
// put off. Only Reached and Changed see it.
func (s *CheckpointStore) Announce(name string, position uint64) {
	s.remember(name, position)
}

// remember records a position reached for Reached and wakes Changed's
// waiters when it moved.
func (s *CheckpointStore) remember(name string, position uint64) {
	s.reachedMu.Lock()
	defer s.reachedMu.Unlock()
	if old, ok := s.reached[name]; ok && old >= position {
		return
	}
	s.reached[name] = position
	close(s.changed)
	s.changed = make(chan struct{})
}

type checkpointDoc struct {
	Name     string `bson:"_id"`
	Position int64  `bson:"position"`
}

// Load returns the saved position of name; ok is false when none was saved.
func (s *CheckpointStore) Load(ctx context.Context, name string) (position uint64, ok bool, err error) {
	var doc checkpointDoc
	err = s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: name}}).Decode(&doc)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("mongodb: load checkpoint %q: %w", name, err)
	case doc.Position < 0:
		return 0, false, fmt.Errorf("mongodb: checkpoint %q holds a negative position %d", name, doc.Position)
	}
	return uint64(doc.Position), true, nil
}

// LoadMany returns the saved positions of those of names that have one,
// in one query (see Versions.ActiveAll: the collection holds one small
// document per consumer, so even a scanned {_id: {$in: …}} is cheap).
func (s *CheckpointStore) LoadMany(ctx context.Context, names []string) (map[string]uint64, error) {
	docs, err := findIn[checkpointDoc](ctx, s.coll, names)
	if err != nil {
		return nil, fmt.Errorf("mongodb: load checkpoints %q: %w", names, err)
	}
	out := make(map[string]uint64, len(docs))
	for _, d := range docs {
		if d.Position < 0 {
			return nil, fmt.Errorf("mongodb: checkpoint %q holds a negative position %d", d.Name, d.Position)
		}
		out[d.Name] = uint64(d.Position)
	}
	return out, nil
}

// findIn returns the documents of coll whose _id is one of ids (none for
// no ids: the servers refuse an $in of null).
func findIn[T any](ctx context.Context, coll *mongo.Collection, ids []string) ([]T, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	cur, err := coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	if err != nil {
		return nil, err
	}
	var docs []T
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	return docs, nil
}

// Save records position for name unless a higher one is already stored.
func (s *CheckpointStore) Save(ctx context.Context, name string, position uint64) error {
	if name == "" {
		return errors.New("mongodb: save checkpoint: empty name")
	}
	if position > math.MaxInt64 {
		// BSON has no unsigned integers; commit positions are file offsets
		// and stay far below this.
		return fmt.Errorf("mongodb: save checkpoint %q: position %d does not fit in int64", name, position)
	}
	defer s.locks.lock(name)()

	filter := bson.D{{Key: "_id", Value: name}}
	update := bson.D{{Key: "$max", Value: bson.D{{Key: "position", Value: int64(position)}}}}
	upsert := options.Update().SetUpsert(true)
	_, err := s.coll.UpdateOne(ctx, filter, update, upsert)
	if mongo.IsDuplicateKeyError(err) {
		// Two first saves raced to insert the document; the other one
		// created it, so this one is now an ordinary update.
		_, err = s.coll.UpdateOne(ctx, filter, update, upsert)
	}
	if err != nil {
		return fmt.Errorf("mongodb: save checkpoint %q at %d: %w", name, position, err)
	}
	s.remember(name, position)
	return nil
}
