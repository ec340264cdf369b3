package mongodb_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/orgportal/onboarding/adapters/mongodb"
)

const ttl = 10 * time.Second

func acquire(t *testing.T, l *mongodb.Leases, name, owner string) bool {
	t.Helper()
	ok, err := l.Acquire(testContext(t), name, owner, ttl)
	if err != nil {
		t.Fatalf("Acquire(%s, %s): %v", name, owner, err)
	}
	return ok
}

func renew(t *testing.T, l *mongodb.Leases, name, owner string) bool {
	t.Helper()
	ok, err := l.Renew(testContext(t), name, owner, ttl)
	if err != nil {
		t.Fatalf("Renew(%s, %s): %v", name, owner, err)
	}
	return ok
}

func TestLeaseOneWinnerAmongConcurrentContenders(t *testing.T) {
	ctx := testContext(t)
	db := testDB(t)
	clock := newFakeClock()

	// Each contender is a replica of its own: its own Leases and its own
	// client, so nothing in this process keeps them apart.
	const contenders, rounds = 6, 3
	replicas := make([]*mongodb.Leases, contenders)
	for i := range replicas {
		client, err := mongodb.Connect(ctx, server.uri, quietLogger())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
		replicas[i] = mongodb.NewLeases(client.Database(db.Name()), clock.Now, quietLogger())
	}

	for round := range rounds {
		name := fmt.Sprintf("projection-%d", round)
		if round == rounds-1 {
			// Last round: contend for a lease that has expired, not a new one.
			name = "projection-0"
			clock.Advance(ttl + time.Second)
		}
		var wg sync.WaitGroup
		won := make([]bool, contenders)
		start := make(chan struct{})
		for i, l := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ok, err := l.Acquire(ctx, name, fmt.Sprintf("replica-%d", i), ttl)
				if err != nil {
					t.Error(err)
				}
				won[i] = ok
			}()
		}
		close(start)
		wg.Wait()
		var winners []string
		for i, ok := range won {
			if ok {
				winners = append(winners, fmt.Sprintf("replica-%d", i))
			}
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: winners %v, want exactly one", round, winners)
		}
		got, found, err := replicas[0].Get(ctx, name)
		if err != nil || !found || got.Owner != winners[0] || !got.HeldBy(winners[0], clock.Now()) {
			t.Fatalf("round %d: Get = %+v, %v, %v; want held by %s", round, got, found, err, winners[0])
		}
	}
}

func TestLeaseExpiryRenewRelease(t *testing.T) {
	ctx := testContext(t)
	clock := newFakeClock()
	db := testDB(t)
	a := mongodb.NewLeases(db, clock.Now, quietLogger())
	b := mongodb.NewLeases(db, clock.Now, quietLogger())
	const name = "users"

	if _, found, err := a.Get(ctx, name); err != nil || found {
		t.Fatalf("Get of a lease never taken: found %v, %v", found, err)
	}
	if renew(t, a, name, "a") {
		t.Fatal("renewed a lease never taken")
	}
	if !acquire(t, a, name, "a") {
		t.Fatal("a could not take a free lease")
	}
	if !acquire(t, a, name, "a") {
		t.Fatal("a could not re-acquire its own lease")
	}
	if acquire(t, b, name, "b") {
		t.Fatal("b took a's unexpired lease")
	}

	// Renewing keeps it past the first expiry.
	clock.Advance(8 * time.Second)
	if !renew(t, a, name, "a") {
		t.Fatal("a could not renew its lease")
	}
	clock.Advance(8 * time.Second) // 16 s after the first acquire, 8 s after the renewal
	if acquire(t, b, name, "b") {
		t.Fatal("b took a lease renewed 8 s ago with a 10 s TTL")
	}
	if renew(t, b, name, "b") {
		t.Fatal("b renewed a's lease")
	}

	// Expired: b takes over, a's renewal fails and a cannot take it back.
	clock.Advance(2 * time.Second)
	if !acquire(t, b, name, "b") {
		t.Fatal("b could not take over an expired lease")
	}
	if renew(t, a, name, "a") {
		t.Fatal("a renewed a lease b took over")
	}
	if acquire(t, a, name, "a") {
		t.Fatal("a took back b's lease")
	}

	// Release: only the holder's counts, and the lease is free at once.
	if err := a.Release(ctx, name, "a"); err != nil {
		t.Fatal(err)
	}
	if acquire(t, a, name, "a") {
		t.Fatal("a's release of b's lease freed it")
	}
	if err := b.Release(ctx, name, "b"); err != nil {
		t.Fatal(err)
	}
	if renew(t, b, name, "b") {
		t.Fatal("b renewed a lease it released")
	}
	if !acquire(t, a, name, "a") {
		t.Fatal("a could not take a released lease")
	}
	got, _, err := a.Get(ctx, name)
	if err != nil || got.Owner != "a" || !got.ExpiresAt.Equal(clock.Now().Add(ttl).Truncate(time.Millisecond)) {
		t.Errorf("Get = %+v, %v", got, err)
	}

	for _, bad := range []struct{ name, owner string }{{"", "a"}, {"x", ""}, {"a#1", "a"}} {
		if _, err := a.Acquire(ctx, bad.name, bad.owner, ttl); err == nil {
			t.Errorf("Acquire(%q, %q) accepted", bad.name, bad.owner)
		}
	}
}

func TestLeaseHistoryStaysSmallAndHintsCanBeLost(t *testing.T) {
	ctx := testContext(t)
	clock := newFakeClock()
	db := testDB(t)
	l := mongodb.NewLeases(db, clock.Now, quietLogger())
	const name = "mail"

	if !acquire(t, l, name, "a") {
		t.Fatal("acquire failed")
	}
	const renewals = 40
	for range renewals {
		clock.Advance(time.Second)
		if !renew(t, l, name, "a") {
			t.Fatal("renew failed")
		}
	}
	coll := db.Collection(mongodb.LeasesCollection)
	n, err := coll.CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if n > 20 {
		t.Errorf("%d lease documents after %d renewals; old terms are not cleaned up", n, renewals)
	}

	// Lose the head: the current term is found by name instead.
	if _, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: name}}); err != nil {
		t.Fatal(err)
	}
	got, found, err := l.Get(ctx, name)
	if err != nil || !found || got.Term != renewals+1 || got.Owner != "a" {
		t.Fatalf("Get without head = %+v, %v, %v; want term %d", got, found, err, renewals+1)
	}
	// A head that lags behind the deleted terms: same.
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: name}, {Key: "term", Value: int64(2)}}); err != nil {
		t.Fatal(err)
	}
	if !renew(t, l, name, "a") {
		t.Fatal("renew with a stale head failed")
	}
	if got, _, _ := l.Get(ctx, name); got.Term != renewals+2 {
		t.Fatalf("term after renewing with a stale head = %d, want %d", got.Term, renewals+2)
	}
}
