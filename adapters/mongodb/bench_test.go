package mongodb_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/orgportal/onboarding/adapters/mongodb"
)

// Run with: go test -run XXX -bench . ./adapters/mongodb
// (against the embedded FerretDB unless PORTAL_TEST_MONGO_URL is set).

func BenchmarkCheckpointSave(b *testing.B) {
	ctx := context.Background()
	store := mongodb.NewCheckpointStore(server.client.Database("bench_checkpoints"))
	b.Cleanup(func() { _ = server.client.Database("bench_checkpoints").Drop(ctx) })
	for i := 0; b.Loop(); i++ {
		if err := store.Save(ctx, "users", uint64(i)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckpointLoad(b *testing.B) {
	ctx := context.Background()
	store := mongodb.NewCheckpointStore(server.client.Database("bench_checkpoints"))
	b.Cleanup(func() { _ = server.client.Database("bench_checkpoints").Drop(ctx) })
	if err := store.Save(ctx, "users", 1); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := store.Load(ctx, "users"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLeaseRenew(b *testing.B) {
	ctx := context.Background()
	db := server.client.Database("bench_leases")
	b.Cleanup(func() { _ = db.Drop(ctx) })
	l := mongodb.NewLeases(db, time.Now, nil)
	if ok, err := l.Acquire(ctx, "users", "a", time.Minute); !ok || err != nil {
		b.Fatal(ok, err)
	}
	for b.Loop() {
		if ok, err := l.Renew(ctx, "users", "a", time.Minute); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkDocOps prices the single-document operations a live projection
// makes, on a collection indexed as the projections' are (IndexIDs when
// embedded): the figures decide which of them to avoid.
func BenchmarkDocOps(b *testing.B) {
	ctx := context.Background()
	db := server.client.Database("bench_docops")
	b.Cleanup(func() { _ = db.Drop(ctx) })
	coll := db.Collection("docs")
	if err := db.CreateCollection(ctx, "docs"); err != nil {
		b.Fatal(err)
	}
	if server.embedded {
		if err := server.e.IndexIDs(ctx, coll); err != nil {
			b.Fatal(err)
		}
	}
	doc := func(id string, n int) bson.D {
		return bson.D{{Key: "_id", Value: id}, {Key: "orgId", Value: "org-1"}, {Key: "email", Value: id + "@example.com"},
			{Key: "status", Value: "invited"}, {Key: "position", Value: int64(n)}}
	}
	var seq atomic.Int64
	b.Run("insertOne", func(b *testing.B) {
		for b.Loop() {
			id := fmt.Sprintf("i-%d", seq.Add(1))
			if _, err := coll.InsertOne(ctx, doc(id, 1)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("findOne", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			_ = coll.FindOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("i-%d", 1+i%100)}}).Err()
		}
	})
	b.Run("replaceOne-existing", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			id := fmt.Sprintf("i-%d", 1+i%100)
			if _, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, doc(id, i), options.Replace().SetUpsert(true)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("replaceOne-upsert-new", func(b *testing.B) {
		for b.Loop() {
			id := fmt.Sprintf("i-%d", seq.Add(1))
			if _, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, doc(id, 1), options.Replace().SetUpsert(true)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("checkpointSave", func(b *testing.B) {
		store := mongodb.NewCheckpointStore(db)
		for i := 0; b.Loop(); i++ {
			if err := store.Save(ctx, "users", uint64(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
