package mongodb_test

import (
	"context"
	"testing"
	"time"

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
