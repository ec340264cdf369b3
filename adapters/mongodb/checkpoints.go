package mongodb

import (
	"context"
	"errors"
	"fmt"
	"math"

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
type CheckpointStore struct {
	coll  *mongo.Collection
	locks keyedMutex
}

// NewCheckpointStore returns a store over db's checkpoints collection.
func NewCheckpointStore(db *mongo.Database) *CheckpointStore {
	return &CheckpointStore{coll: db.Collection(CheckpointsCollection)}
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
	return nil
}
