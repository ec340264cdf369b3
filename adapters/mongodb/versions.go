package mongodb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// ReadModelsCollection holds one Active document per read model.
const ReadModelsCollection = "readmodels"

// CollectionName is the name of version of the read model base:
// "<base>_v<version>".
func CollectionName(base string, version int) string {
	return base + "_v" + strconv.Itoa(version)
}

// Collection returns version of the read model base in db.
func Collection(db *mongo.Database, base string, version int) *mongo.Collection {
	return db.Collection(CollectionName(base, version))
}

// ParseCollectionName is the inverse of CollectionName; ok is false for a
// name that is not a version of base.
func ParseCollectionName(base, name string) (version int, ok bool) {
	digits, found := strings.CutPrefix(name, base+"_v")
	if !found || digits == "" || digits[0] == '0' && len(digits) > 1 {
		return 0, false
	}
	v, err := strconv.Atoi(digits)
	if err != nil || v < 1 {
		return 0, false
	}
	return v, true
}

// Active says which version of a read model serves reads.
type Active struct {
	ReadModel  string    `bson:"_id"`
	Version    int       `bson:"version"`
	SwitchedAt time.Time `bson:"switchedAt"`
}

// ErrVersionBehind is returned by Switch when the read model already serves
// a later version than the one asked for.
var ErrVersionBehind = errors.New("mongodb: a later version of the read model is active")

// Versions keeps the Active documents, {_id: <read model>, version,
// switchedAt}, for rebuild-and-switch: a rebuild fills a fresh
// <base>_v<N+1> while readers keep using the active version, then switches.
// Versions only move forward; to go back, rebuild again. Like
// CheckpointStore, it relies on $max and serializes its own switches per
// read model, so use one Versions per process.
type Versions struct {
	db    *mongo.Database
	coll  *mongo.Collection
	now   func() time.Time
	locks keyedMutex
}

// NewVersions returns the version registry of db; now stamps switches.
func NewVersions(db *mongo.Database, now func() time.Time) *Versions {
	return &Versions{db: db, coll: db.Collection(ReadModelsCollection), now: now}
}

// Active returns the active version of base; found is false before the
// first Switch, when the caller decides the initial version.
func (v *Versions) Active(ctx context.Context, base string) (active Active, found bool, err error) {
	err = v.coll.FindOne(ctx, bson.D{{Key: "_id", Value: base}}).Decode(&active)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Active{}, false, nil
	}
	if err != nil {
		return Active{}, false, fmt.Errorf("mongodb: active version of %q: %w", base, err)
	}
	return active, true, nil
}

// ActiveAll returns the active version of each of bases that has one, in
// one query: a reader that needs several (the consistency position takes
// the lowest checkpoint of every read model's active version) makes one
// round trip instead of one each. The collection holds one small document
// per read model, so the query is cheap even where {_id: {$in: …}} is a
// scan (FerretDB v1).
func (v *Versions) ActiveAll(ctx context.Context, bases []string) (map[string]Active, error) {
	docs, err := findIn[Active](ctx, v.coll, bases)
	if err != nil {
		return nil, fmt.Errorf("mongodb: active versions of %q: %w", bases, err)
	}
	out := make(map[string]Active, len(docs))
	for _, a := range docs {
		out[a.ReadModel] = a
	}
	return out, nil
}

// Switch makes version the active one of base. Switching to the version
// already active is a no-op; to an earlier one, ErrVersionBehind.
func (v *Versions) Switch(ctx context.Context, base string, version int) error {
	if base == "" || version < 1 {
		return fmt.Errorf("mongodb: switch read model %q to version %d: invalid", base, version)
	}
	defer v.locks.lock(base)()
	cur, found, err := v.Active(ctx, base)
	if err != nil {
		return err
	}
	if found && cur.Version >= version {
		if cur.Version == version {
			return nil
		}
		return fmt.Errorf("%w: %q serves version %d, asked for %d", ErrVersionBehind, base, cur.Version, version)
	}
	_, err = v.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: base}},
		bson.D{
			{Key: "$max", Value: bson.D{{Key: "version", Value: version}}},
			{Key: "$set", Value: bson.D{{Key: "switchedAt", Value: v.now().UTC().Truncate(time.Millisecond)}}},
		},
		options.Update().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("mongodb: switch read model %q to version %d: %w", base, version, err)
	}
	return nil
}

// Stored lists the versions of base that exist as collections, in
// ascending order, so that a rebuild can pick the next number and a
// cleanup can drop the old ones. A collection appears once something was
// written to it.
func (v *Versions) Stored(ctx context.Context, base string) ([]int, error) {
	names, err := v.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("mongodb: list versions of %q: %w", base, err)
	}
	var versions []int
	for _, n := range names {
		if ver, ok := ParseCollectionName(base, n); ok {
			versions = append(versions, ver)
		}
	}
	slices.Sort(versions)
	return versions, nil
}
