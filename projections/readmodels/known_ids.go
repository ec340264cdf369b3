package readmodels

import (
	"context"
	"fmt"
	"hash/maphash"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// knownIDs lists, per partition of a live table (the Users rows of one
// organization), the ids stored there, so that a row the fold asks for
// which is not listed is known to be absent without a read. That is the
// common case: an invitation of a new address asks for its row, which
// does not exist yet; the read cost as much as writing the row.
//
// A partition is listed in full on the first get of one of its ids (one
// query), and then kept up to date by the writes of the table's own
// flushes: the applier that owns the table is the only writer of its
// version for the lease term it lives in. A flush that fails may have
// stored part of its writes, so the partitions it touched are forgotten
// (listed again when next asked). Partitions too large to list (more
// than half the bound), and all of them once maxKnownIDs ids are listed,
// fall back to reading.
//
// The lists hold a 64-bit hash of each id, not the id: 8 bytes a row and
// the map's slack, instead of the id's string besides, so that the bound
// covers an organization of a few hundred thousand members in about as
// much memory as it took for 60,000. A hash shared by two ids errs on the
// safe side only: the absent one is taken for stored and read, as before
// the lists. Deleting one of two ids that share a hash would make the other
// look absent; its insert then fails on the duplicate _id, the flush fails,
// and the partition is listed again (forget), so even that heals. At
// 2^-64 a pair it does not happen.
type knownIDs struct {
	partition func(id string) (string, bool)
	list      func(ctx context.Context, part string) ([]string, error)
	parts     map[string]map[uint64]struct{}
	tooLarge  map[string]bool
	size      int
	max       int
	seed      maphash.Seed
}

// maxKnownIDs bounds the ids listed across partitions: about 16 MiB of
// hashes.
const maxKnownIDs = 1_000_000

func newKnownIDs(partition func(id string) (string, bool), list func(ctx context.Context, part string) ([]string, error)) *knownIDs {
	return &knownIDs{partition: partition, list: list, parts: map[string]map[uint64]struct{}{}, tooLarge: map[string]bool{}, max: maxKnownIDs,
		seed: maphash.MakeSeed()}
}

func (k *knownIDs) hash(id string) uint64 { return maphash.String(k.seed, id) }

// absent reports whether id is known not to be stored; false when it is
// stored or not known (then read it).
func (k *knownIDs) absent(ctx context.Context, id string) bool {
	part, ok := k.partition(id)
	if !ok || k.tooLarge[part] {
		return false
	}
	ids, listed := k.parts[part]
	if !listed {
		all, err := k.list(ctx, part)
		if err != nil {
			return false // the read that follows reports the database's trouble
		}
		if len(all) > k.max/2 {
			k.tooLarge[part] = true
			return false
		}
		if k.size+len(all) > k.max {
			k.forgetAll()
		}
		ids = make(map[uint64]struct{}, len(all))
		for _, s := range all {
			ids[k.hash(s)] = struct{}{}
		}
		k.parts[part], k.size = ids, k.size+len(ids)
	}
	_, stored := ids[k.hash(id)]
	return !stored
}

// stored records that a flush wrote (or deleted) id.
func (k *knownIDs) stored(id string, exists bool) {
	part, ok := k.partition(id)
	if !ok {
		return
	}
	ids, listed := k.parts[part]
	if !listed {
		return
	}
	h := k.hash(id)
	_, had := ids[h]
	switch {
	case exists && !had:
		ids[h] = struct{}{}
		if k.size++; k.size > k.max {
			k.forgetAll() // listed again on demand, within the bound
		}
	case !exists && had:
		delete(ids, h)
		k.size--
	}
}

// forget drops the list of id's partition.
func (k *knownIDs) forget(id string) {
	if part, ok := k.partition(id); ok {
		k.size -= len(k.parts[part])
		delete(k.parts, part)
	}
}

func (k *knownIDs) forgetAll() {
	clear(k.parts)
	k.size = 0
}

// orgOfRow is the partition of a Users row id: its organization.
func orgOfRow(id string) (string, bool) {
	org, _, ok := strings.Cut(id, "/")
	return org, ok && org != ""
}

// listOrgRows returns the ids of an organization's rows in coll.
func listOrgRows(coll *mongo.Collection) func(ctx context.Context, org string) ([]string, error) {
	return func(ctx context.Context, org string) ([]string, error) {
		cur, err := coll.Find(ctx, bson.D{{Key: "orgId", Value: org}}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			return nil, classify(fmt.Errorf("list the rows of %s: %w", org, err))
		}
		var docs []struct {
			ID string `bson:"_id"`
		}
		if err := cur.All(ctx, &docs); err != nil {
			return nil, classify(fmt.Errorf("list the rows of %s: %w", org, err))
		}
		ids := make([]string, len(docs))
		for i, d := range docs {
			ids[i] = d.ID
		}
		return ids, nil
	}
}
