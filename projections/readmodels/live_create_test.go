package readmodels

import (
	"context"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/event"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/orgportal/onboarding/domain"
)

// A created document (the first event of its stream, under a fresh id) is
// written without a read. Only a redelivery finds it stored, and then the
// newer of the stored and the pending version stays.
func TestLiveCreateSkipsTheReadAndKeepsTheNewerOnARedelivery(t *testing.T) {
	ctx := testContext(t)
	coll, finds := countingFinds(t, ctx, "invitations_create")
	for _, doc := range []Invitation{{ID: "stored-newer", Email: "stored", Position: 300}, {ID: "stored-older", Email: "stored", Position: 100}} {
		if _, err := coll.InsertOne(ctx, doc); err != nil {
			t.Fatal(err)
		}
	}

	tab := newLiveTable[Invitation](coll, 100)
	tab.begin(ctx)
	for _, id := range []string{"fresh", "stored-newer", "stored-older"} {
		create[Invitation](tab, id, Invitation{ID: domain.InvitationID(id), Email: "created", Position: 100})
		// A later event of the same cycle builds on the pending version.
		inv, ok := tab.get(id)
		if !ok || inv.Email != "created" {
			t.Fatalf("%s: get after create = %+v, %v", id, inv, ok)
		}
		inv.Email, inv.Position = "sent", 200
		tab.put(id, inv)
	}
	// Applied again in the same cycle (a redelivery): no change.
	create[Invitation](tab, "fresh", Invitation{ID: "fresh", Email: "created", Position: 100})
	if n := finds.Load(); n != 0 {
		t.Fatalf("%d reads while applying, want none", n)
	}
	if err := tab.flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	tab.flushed()

	want := map[string]struct {
		email string
		pos   int64
	}{
		"fresh":        {"sent", 200}, // inserted
		"stored-newer": {"stored", 300},
		"stored-older": {"sent", 200}, // replaced: the pending one is newer
	}
	for id, w := range want {
		var stored Invitation
		if err := coll.FindOne(ctx, map[string]string{"_id": id}).Decode(&stored); err != nil {
			t.Fatal(err)
		}
		if stored.Email != w.email || stored.Position != w.pos {
			t.Errorf("%s stored as %q at %d, want %q at %d", id, stored.Email, stored.Position, w.email, w.pos)
		}
		// What the table knows now is what is stored.
		finds.Store(0)
		known, ok := tab.get(id)
		if !ok || known.Email != w.email || known.Position != w.pos || finds.Load() != 0 {
			t.Errorf("%s known as %+v (%v, %d reads), want %q at %d from the cache", id, known, ok, finds.Load(), w.email, w.pos)
		}
	}
}

// countingFinds returns collection name of the test's database through a
// client of its own that counts the find commands it sends.
func countingFinds(t *testing.T, ctx context.Context, name string) (*mongo.Collection, *atomic.Int64) {
	t.Helper()
	finds := new(atomic.Int64)
	monitor := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName == "find" {
			finds.Add(1)
		}
	}}
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(srv.URI).SetMonitor(monitor))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client.Database(srv.DB(t).Name()).Collection(name), finds
}
