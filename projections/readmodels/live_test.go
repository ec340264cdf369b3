package readmodels

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/event"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections"
)

// writeCmd is one write command a client sent: its name (insert, update,
// delete), collection and the _ids of the documents it carried, in order.
type writeCmd struct {
	name, coll string
	ids        []string
}

// writeLog records the write commands of a client.
type writeLog struct {
	mu   sync.Mutex
	cmds []writeCmd
	// afterWrite, when set, runs after each write command succeeds.
	afterWrite func(writeCmd)
}

func (l *writeLog) take() []writeCmd {
	l.mu.Lock()
	defer l.mu.Unlock()
	cmds := l.cmds
	l.cmds = nil
	return cmds
}

// monitored returns a database of its own for t, seen through a client
// that records its write commands in the log it returns.
func monitored(t *testing.T) (*mongo.Database, *writeLog) {
	t.Helper()
	name := srv.DB(t).Name() // dropped when t ends
	log := &writeLog{}
	started := map[int64]writeCmd{}
	arrays := map[string]string{"insert": "documents", "update": "updates", "delete": "deletes"}
	monitor := &event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			array, ok := arrays[e.CommandName]
			if !ok {
				return
			}
			cmd := writeCmd{name: e.CommandName, coll: e.Command.Lookup(e.CommandName).StringValue()}
			values, _ := e.Command.Lookup(array).Array().Values()
			for _, v := range values {
				doc := v.Document()
				if e.CommandName != "insert" {
					doc = doc.Lookup("q").Document()
				}
				cmd.ids = append(cmd.ids, doc.Lookup("_id").StringValue())
			}
			log.mu.Lock()
			started[e.RequestID] = cmd
			log.mu.Unlock()
		},
		Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
			log.mu.Lock()
			cmd, ok := started[e.RequestID]
			delete(started, e.RequestID)
			if ok {
				log.cmds = append(log.cmds, cmd)
			}
			after := log.afterWrite
			log.mu.Unlock()
			if ok && after != nil {
				after(cmd)
			}
		},
	}
	client, err := mongo.Connect(context.Background(), options.Client().ApplyURI(srv.URI).SetMonitor(monitor))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client.Database(name), log
}

// writesOf lists, per command on coll, the ids it carried.
func writesOf(cmds []writeCmd, coll string) (out []writeCmd) {
	for _, c := range cmds {
		if c.coll == coll {
			out = append(out, c)
		}
	}
	return out
}

func mustApply(t *testing.T, ctx context.Context, a projections.Applier, h history) {
	t.Helper()
	for _, e := range h {
		if err := a.Apply(ctx, e); err != nil {
			t.Fatalf("apply %s at %d: %v", e.Type, e.Position, err)
		}
	}
}

func mustFlush(t *testing.T, ctx context.Context, a projections.Applier) {
	t.Helper()
	if err := a.(projections.Flusher).Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

// Several events on one document between two flushes make one write of
// its last version; a row put and deleted again is not written at all.
func TestLiveCoalescesWritesPerDocument(t *testing.T) {
	ctx := testContext(t)
	db, log := monitored(t)
	p := NewUsers(db, Options{PrepareCollection: srv.PrepareCollection()})
	if err := p.Prepare(ctx, 1); err != nil {
		t.Fatal(err)
	}
	a := p.Live(1)
	h := bootstrapped()
	mustApply(t, ctx, a, h)
	mustFlush(t, ctx, a)
	log.take()

	more := h.add(string(owner), invite(invAnn, "ann@example.org", owner, 1),
		domain.InvitationResent{InvitationID: invAnn, OrgID: org, Generation: 2, ExpiresAt: t0.Add(72 * time.Hour)},
		domain.InvitationResent{InvitationID: invAnn, OrgID: org, Generation: 3, ExpiresAt: t0.Add(96 * time.Hour)},
		invite("inv-bob", "bob@example.org", owner, 1),
		domain.InvitationRevoked{InvitationID: "inv-bob", OrgID: org},
	)[len(h):]
	mustApply(t, ctx, a, more)
	mustFlush(t, ctx, a)
	cmds := log.take()

	annRow, bobRow := UserDocID(org, "ann@example.org"), UserDocID(org, "bob@example.org")
	rowWrites := writesOf(cmds, mongodb.CollectionName(UsersBase, 1))
	if len(rowWrites) != 1 || !reflect.DeepEqual(rowWrites[0], writeCmd{name: "insert", coll: rowWrites[0].coll, ids: []string{annRow}}) {
		t.Errorf("row writes: %+v, want one insert of %s", rowWrites, annRow)
	}
	stamps := 0
	for _, c := range writesOf(cmds, mongodb.CollectionName(UsersBase+lookupSuffix, 1)) {
		for _, id := range c.ids {
			if id == orgKey(org) {
				stamps++
			}
		}
	}
	if stamps != 1 {
		t.Errorf("the org stamp was written %d times, want once", stamps)
	}

	rows, _ := foldAllUsers(t, append(h, more...))
	var stored User
	if err := mongodb.Collection(db, UsersBase, 1).FindOne(ctx, bson.D{{Key: "_id", Value: annRow}}).Decode(&stored); err != nil {
		t.Fatal(err)
	}
	if want := rows[annRow]; !reflect.DeepEqual(stored, want) {
		t.Errorf("stored row:\n got %s\nwant %s", show(stored), show(want))
	}
	n, err := mongodb.Collection(db, UsersBase, 1).CountDocuments(ctx, bson.D{{Key: "_id", Value: bobRow}})
	if err != nil || n != 0 {
		t.Errorf("revoked row stored: %d, %v", n, err)
	}
}

// A flush inserts what it does not know to be stored and replaces what it
// knows to be stored, each kind in one command; an insert that finds the
// document replaces it, but an audit-style insertNew keeps what is stored;
// a document stored as it is is not written.
func TestLiveInsertsAbsentAndReplacesStored(t *testing.T) {
	ctx := testContext(t)
	db, log := monitored(t)
	coll := db.Collection("docs")
	stored := func(id, email string) ref { return ref{ID: id, Email: email} }
	if _, err := coll.InsertMany(ctx, []any{stored("read", "old"), stored("blind", "old"), stored("same", "same"), stored("kept", "first")}); err != nil {
		t.Fatal(err)
	}
	log.take()

	tab := newLiveTable[ref](coll, 100)
	tab.begin(ctx)
	for _, id := range []string{"read", "absent", "same"} {
		tab.get(id)
	}
	if tab.failed() != nil {
		t.Fatal(tab.failed())
	}
	tab.put("read", stored("read", "new"))     // known stored: replaced
	tab.put("absent", stored("absent", "new")) // known absent: inserted
	tab.put("blind", stored("blind", "new"))   // unknown, stored: insert refused, replaced
	tab.put("fresh", stored("fresh", "new"))   // unknown, absent: inserted
	tab.put("same", stored("same", "same"))    // stored as it is: skipped
	tab.insertNew("kept", stored("kept", "second"))
	if err := tab.flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	tab.flushed()

	cmds := log.take()
	want := []writeCmd{
		{name: "insert", coll: "docs", ids: []string{"absent", "blind", "fresh", "kept"}},
		{name: "update", coll: "docs", ids: []string{"read", "blind"}},
	}
	if !reflect.DeepEqual(cmds, want) {
		t.Errorf("commands:\n got %+v\nwant %+v", cmds, want)
	}
	cur, err := coll.Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var got []ref
	if err := cur.All(ctx, &got); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b ref) int { return strings.Compare(a.ID, b.ID) })
	wantDocs := []ref{stored("absent", "new"), stored("blind", "new"), stored("fresh", "new"), stored("kept", "first"),
		stored("read", "new"), stored("same", "same")}
	if !reflect.DeepEqual(got, wantDocs) {
		t.Errorf("stored:\n got %+v\nwant %+v", got, wantDocs)
	}
}

// An event that fails half-way takes back its own writes only.
func TestLiveAbortKeepsTheEarlierEvents(t *testing.T) {
	ctx := testContext(t)
	tab := newLiveTable[ref](srv.DB(t).Collection("docs"), 100)
	tab.begin(ctx)
	tab.put("a", ref{ID: "a", Email: "1"})
	tab.begin(ctx)
	tab.put("a", ref{ID: "a", Email: "2"})
	tab.put("b", ref{ID: "b"})
	tab.del("a")
	tab.abort()
	if got, ok := tab.get("a"); !ok || got.Email != "1" {
		t.Errorf("a after abort: %+v %v, want the first event's version", got, ok)
	}
	if _, ok := tab.pending["b"]; ok || len(tab.order) != 1 {
		t.Errorf("pending after abort: %v, order %v", tab.pending, tab.order)
	}
}

// The org stamps are written after every other document of a flush: a
// reader never finds a stamp ahead of its rows.
func TestLiveWritesStampsAfterRows(t *testing.T) {
	ctx := testContext(t)
	db, log := monitored(t)
	p := NewUsers(db, Options{PrepareCollection: srv.PrepareCollection()})
	if err := p.Prepare(ctx, 1); err != nil {
		t.Fatal(err)
	}
	a := p.Live(1)
	mustApply(t, ctx, a, renumber(orgHistory("org-a", 20, 1), orgHistory("org-b", 20, 2)))
	mustFlush(t, ctx, a)
	cmds := log.take()
	lastOther, firstStamp, stamps := -1, len(cmds), 0
	for i, c := range cmds {
		for _, id := range c.ids {
			if strings.HasPrefix(id, orgKeyPrefix) {
				firstStamp = min(firstStamp, i)
				stamps++
			} else {
				lastOther = i
			}
		}
	}
	if stamps != 2 || firstStamp <= lastOther {
		t.Errorf("%d stamps written, the first by command %d, the last other document by command %d: %+v", stamps, firstStamp, lastOther, cmds)
	}
}

// A flush that fails part of the way (here: after its first command)
// loses the writes kept since the last checkpoint: the applier refuses to
// go on, and a new one fed the events after the checkpoint again stores
// what a clean run stores.
func TestLiveFlushFailureThenRedeliveryStoresTheSame(t *testing.T) {
	ctx := testContext(t)
	h := renumber(orgHistory("org-a", 40, 3), orgHistory("org-b", 20, 4))
	checkpoint := len(h) / 3
	opts := Options{PrepareCollection: srv.PrepareCollection()}
	failing, log := monitored(t)
	clean := srv.DB(t)
	for i, p := range Projections(failing, opts) {
		t.Run(p.Name(), func(t *testing.T) {
			handled := func(h history) (out history) {
				for _, e := range h {
					if p.Handles(e.Type) {
						out = append(out, e)
					}
				}
				return out
			}
			applyLive(t, ctx, p, 1, h[:checkpoint])
			a := p.Live(1)
			mustApply(t, ctx, a, handled(h[checkpoint:]))
			flushCtx, cancel := context.WithCancel(ctx)
			log.mu.Lock()
			log.afterWrite = func(writeCmd) { cancel() }
			log.mu.Unlock()
			err := a.(projections.Flusher).Flush(flushCtx)
			log.mu.Lock()
			log.afterWrite = nil
			log.mu.Unlock()
			cancel()
			if !errors.Is(err, projections.ErrRedeliver) {
				t.Fatalf("flush with a context cancelled after its first write: %v, want ErrRedeliver", err)
			}
			if err := a.Apply(ctx, h[len(h)-1]); !errors.Is(err, projections.ErrRedeliver) {
				t.Errorf("apply after a failed flush: %v, want ErrRedeliver", err)
			}
			applyLive(t, ctx, p, 1, h[checkpoint:])
			applyLive(t, ctx, Projections(clean, opts)[i], 1, h)
			for _, base := range []string{p.Base(), p.Base() + lookupSuffix} {
				got, want := dump(t, ctx, mongodb.Collection(failing, base, 1)), dump(t, ctx, mongodb.Collection(clean, base, 1))
				// A stamp written after the failure restarts its list of
				// recent rows (usersFold.catchUp), under a new number:
				// readers reload.
				for _, docs := range [][]bson.M{got, want} {
					for _, d := range docs {
						if id, _ := d["_id"].(string); strings.HasPrefix(id, orgKeyPrefix) || strings.HasPrefix(id, changesKeyPrefix) {
							delete(d, "recent")
							delete(d, "seq")
						}
					}
				}
				if len(want) == 0 || !reflect.DeepEqual(got, want) {
					t.Errorf("%s: %d documents after the failure and the redelivery, %d in a clean run", base, len(got), len(want))
					for i := range min(len(got), len(want)) {
						if !reflect.DeepEqual(got[i], want[i]) {
							t.Errorf("first difference:\n got  %v\n want %v", got[i], want[i])
							break
						}
					}
				}
			}
		})
	}
}

// A flush that replaces many stored documents completes on FerretDB, whose
// update command holds a database connection per statement until it ends
// (see bulkWriteChunk): 400 replacements in one command would wait for
// ever. It also checks that every replacement lands and how they are cut
// into commands.
func TestLiveFlushOfManyReplacementsCompletes(t *testing.T) {
	ctx := testContext(t)
	db, log := monitored(t)
	coll := db.Collection("docs")
	const n = 400
	var docs []any
	for i := range n {
		docs = append(docs, ref{ID: fmt.Sprintf("d%03d", i), Email: "old"})
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	log.take()

	tab := newLiveTable[ref](coll, 2*n)
	tab.begin(ctx)
	for i := range n {
		id := fmt.Sprintf("d%03d", i)
		tab.get(id) // known stored: replaced, not inserted
		tab.put(id, ref{ID: id, Email: "new"})
	}
	if tab.failed() != nil {
		t.Fatal(tab.failed())
	}
	fctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := tab.flush(fctx, false); err != nil {
		t.Fatal(err)
	}
	tab.flushed()

	updates := 0
	for _, c := range log.take() {
		if c.name != "update" {
			t.Errorf("unexpected %s command", c.name)
			continue
		}
		if len(c.ids) > bulkWriteChunk {
			t.Errorf("an update command of %d statements, want at most %d", len(c.ids), bulkWriteChunk)
		}
		updates += len(c.ids)
	}
	if updates != n {
		t.Errorf("%d replacements sent, want %d", updates, n)
	}
	left, err := coll.CountDocuments(ctx, bson.D{{Key: "email", Value: "old"}})
	if err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d documents not replaced", left)
	}
}
