package readmodels

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections"
)

// The reader's state (active versions and the lowest of their checkpoints)
// is one shared read: pages take their active version from it instead of a
// lookup of their own, and a new reader sees a switch at once.
func TestReaderStateServesPositionAndActiveVersions(t *testing.T) {
	ctx := testContext(t)
	db := srv.DB(t)
	versions := mongodb.NewVersions(db, time.Now)
	checkpoints := mongodb.NewCheckpointStore(db)
	for base, v := range map[string]int{UsersBase: 1, InvitationsBase: 2} {
		if err := versions.Switch(ctx, base, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := checkpoints.Save(ctx, projections.CheckpointName(UsersBase, UsersBase, 1), 700); err != nil {
		t.Fatal(err)
	}
	if err := checkpoints.Save(ctx, projections.CheckpointName(InvitationsBase, InvitationsBase, 2), 500); err != nil {
		t.Fatal(err)
	}
	// A checkpoint of a version that is not active does not count.
	if err := checkpoints.Save(ctx, projections.CheckpointName(InvitationsBase, InvitationsBase, 1), 100); err != nil {
		t.Fatal(err)
	}

	two := NewReader(db, ReaderOptions{PositionTTL: time.Hour, Projections: []string{UsersBase, InvitationsBase}})
	if pos, err := two.Position(ctx); err != nil || pos != 500 {
		t.Fatalf("Position = %d, %v; want 500, the lower of the two active versions' checkpoints", pos, err)
	}
	org := domain.OrgID("org-state")
	for range 3 {
		if _, err := two.Users(ctx, UsersQuery{OrgID: org}); err != nil {
			t.Fatal(err)
		}
		if _, err := two.Invitations(ctx, InvitationsQuery{OrgID: org}); err != nil {
			t.Fatal(err)
		}
	}
	if n := two.posReads.Load(); n != 1 {
		t.Errorf("%d state reads for a position and six pages within the TTL, want 1", n)
	}
	// The position of some read models is the lowest of theirs only; a
	// name the reader does not cover counts for nothing.
	for _, c := range []struct {
		models []string
		want   uint64
	}{
		{[]string{UsersBase}, 700}, {[]string{InvitationsBase}, 500}, {[]string{UsersBase, InvitationsBase}, 500},
		{[]string{UsersBase, AuditBase}, 700}, {[]string{AuditBase}, 500},
	} {
		if pos, err := two.Position(ctx, c.models...); err != nil || pos != c.want {
			t.Errorf("Position(%q) = %d, %v; want %d", c.models, pos, err, c.want)
		}
	}
	waitCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	pos, err := two.AwaitPosition(waitCtx, 600, UsersBase)
	if err != nil || pos != 700 {
		t.Errorf("AwaitPosition(600, users) = %d, %v; want 700 at once", pos, err)
	}
	if pos, err := two.AwaitPosition(waitCtx, 600); !errors.Is(err, context.DeadlineExceeded) || pos != 500 {
		t.Errorf("AwaitPosition(600) of both = %d, %v; want to wait for invitations (at 500) until the context ends", pos, err)
	}
	cancel()

	// The audit trail has no active version: the position is 0 until it has.
	all := NewReader(db, ReaderOptions{})
	if pos, err := all.Position(ctx); err != nil || pos != 0 {
		t.Errorf("Position with audit not started = %d, %v; want 0", pos, err)
	}

	if err := versions.Switch(ctx, UsersBase, 2); err != nil {
		t.Fatal(err)
	}
	fresh := NewReader(db, ReaderOptions{Projections: []string{UsersBase}})
	if v, err := fresh.active(ctx, UsersBase); err != nil || v != 2 {
		t.Errorf("active after the switch = %d, %v; want 2", v, err)
	}
	if pos, err := fresh.Position(ctx); err != nil || pos != 0 {
		t.Errorf("Position after switching to a version without a checkpoint = %d, %v; want 0", pos, err)
	}
	if v, err := two.active(ctx, UsersBase); err != nil || v != 1 {
		t.Errorf("active within the TTL of the last read = %d, %v; want the 1 it read", v, err)
	}
	// A read model Position does not cover is looked up directly.
	if v, err := fresh.active(ctx, InvitationsBase); err != nil || v != 2 {
		t.Errorf("active(invitations) of a users-only reader = %d, %v; want 2", v, err)
	}
}

// Waiting requests share one poller that wakes each as the position passes
// its token; one whose context ends leaves the queue; the poller stops
// when nobody waits.
func TestReaderAwaitPosition(t *testing.T) {
	ctx := testContext(t)
	db := srv.DB(t)
	versions := mongodb.NewVersions(db, time.Now)
	checkpoints := mongodb.NewCheckpointStore(db)
	if err := versions.Switch(ctx, UsersBase, 1); err != nil {
		t.Fatal(err)
	}
	name := projections.CheckpointName(UsersBase, UsersBase, 1)
	if err := checkpoints.Save(ctx, name, 100); err != nil {
		t.Fatal(err)
	}
	r := NewReader(db, ReaderOptions{Projections: []string{UsersBase}})

	if pos, err := r.AwaitPosition(ctx, 50); err != nil || pos != 100 {
		t.Fatalf("a token already passed: %d, %v", pos, err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if pos, err := r.AwaitPosition(short, 1_000_000); !errors.Is(err, context.DeadlineExceeded) || pos != 100 {
		t.Errorf("a token never reached: %d, %v; want 100 and the deadline", pos, err)
	}

	reads0 := r.posReads.Load()
	const n = 40
	got := make([]uint64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			pos, err := r.AwaitPosition(ctx, 200+uint64(i%2)*100) // half want 200, half 300
			if err != nil {
				t.Error(err)
			}
			got[i] = pos
		})
	}
	time.Sleep(50 * time.Millisecond)
	if err := checkpoints.Save(ctx, name, 250); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := checkpoints.Save(ctx, name, 300); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, pos := range got {
		if want := 200 + uint64(i%2)*100; pos < want {
			t.Errorf("waiter %d woke at %d, before its token %d", i, pos, want)
		}
	}
	// About one read per PositionTTL (10 ms) however many wait.
	if reads := r.posReads.Load() - reads0; reads > 60 {
		t.Errorf("%d state reads while 40 requests waited about 100 ms", reads)
	}
	r.waitMu.Lock()
	left, polling := len(r.waiters), r.polling
	r.waitMu.Unlock()
	if left != 0 {
		t.Errorf("%d groups of waiters left", left)
	}
	for deadline := time.Now().Add(time.Second); polling && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		r.waitMu.Lock()
		polling = r.polling
		r.waitMu.Unlock()
	}
	if polling {
		t.Error("the poller still runs with nobody waiting")
	}
}

// A reader sharing the process's checkpoint store counts what it saved at
// once, reads the state only every LocalStateTTL while it saved the
// checkpoints of every projection it covers (and every PositionTTL while
// it did not), wakes waiting requests at each save, and still sees what
// only the database shows (a switch, another process's saves) within
// LocalStateTTL.
func TestReaderCountsCheckpointsSavedInProcess(t *testing.T) {
	ctx := testContext(t)
	db := srv.DB(t)
	versions := mongodb.NewVersions(db, time.Now)
	local := mongodb.NewCheckpointStore(db)
	other := mongodb.NewCheckpointStore(db) // another replica's projections
	bases := []string{UsersBase, InvitationsBase}
	cp := func(base string, v int) string { return projections.CheckpointName(base, base, v) }
	for _, base := range bases {
		if err := versions.Switch(ctx, base, 1); err != nil {
			t.Fatal(err)
		}
		if err := other.Save(ctx, cp(base, 1), 100); err != nil {
			t.Fatal(err)
		}
	}
	save := func(s *mongodb.CheckpointStore, base string, v int, pos uint64) {
		t.Helper()
		if err := s.Save(ctx, cp(base, v), pos); err != nil {
			t.Fatal(err)
		}
	}
	position := func(r *MongoReader, want uint64, reads int64, what string) {
		t.Helper()
		if pos, err := r.Position(ctx); err != nil || pos != want {
			t.Errorf("%s: Position = %d, %v; want %d", what, pos, err, want)
		}
		if n := r.posReads.Load(); n != reads {
			t.Errorf("%s: %d state reads, want %d", what, n, reads)
		}
	}

	r := NewReader(db, ReaderOptions{Projections: bases, Checkpoints: local, PositionTTL: time.Nanosecond, LocalStateTTL: time.Hour})
	position(r, 100, 1, "nothing saved here")
	save(local, UsersBase, 1, 200)
	position(r, 100, 2, "users saved here, invitations elsewhere (read every PositionTTL)")
	save(local, InvitationsBase, 1, 300)
	position(r, 200, 2, "both saved here: no read")
	save(other, UsersBase, 1, 1000)
	position(r, 200, 2, "another replica's save is not seen within LocalStateTTL")
	for range 5 {
		if _, err := r.Users(ctx, UsersQuery{OrgID: "org-local"}); err != nil {
			t.Fatal(err)
		}
	}
	position(r, 200, 2, "pages take the active version from the same state")

	// Waiting requests wake at the saves, not at the next tick (an hour).
	waiting := NewReader(db, ReaderOptions{Projections: bases, Checkpoints: local, PositionTTL: time.Hour, LocalStateTTL: time.Hour})
	position(waiting, 300, 1, "a new reader reads the other replica's 1000 for users")
	woke := make(chan uint64, 1)
	go func() {
		pos, err := waiting.AwaitPosition(ctx, 400)
		if err != nil {
			t.Error(err)
		}
		woke <- pos
	}()
	save(local, UsersBase, 1, 450)
	save(local, InvitationsBase, 1, 400)
	select {
	case pos := <-woke:
		if pos < 400 {
			t.Errorf("woke at %d, before the token 400", pos)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a waiting request did not wake at the saves that passed its token")
	}

	// What only the database shows arrives within LocalStateTTL: here a
	// switch of users to a version without a checkpoint yet.
	short := NewReader(db, ReaderOptions{Projections: bases, Checkpoints: local, PositionTTL: time.Nanosecond, LocalStateTTL: 20 * time.Millisecond})
	position(short, 400, 1, "a reader with a short LocalStateTTL")
	if err := versions.Switch(ctx, UsersBase, 2); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, err := short.active(ctx, UsersBase)
		if err != nil {
			t.Fatal(err)
		}
		if v == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the switch to users v2 not seen after LocalStateTTL")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if pos, err := short.Position(ctx); err != nil || pos != 0 {
		t.Errorf("Position after the switch = %d, %v; want 0 (v2 has no checkpoint)", pos, err)
	}

	// A rebuild here saves the next version's checkpoint just before it
	// switches: the reader then reads the state again at once, not after
	// LocalStateTTL.
	sw := NewReader(db, ReaderOptions{Projections: bases, Checkpoints: local, PositionTTL: time.Nanosecond, LocalStateTTL: time.Hour})
	save(local, UsersBase, 2, 60)
	position(sw, 60, 1, "users v2 saved here")
	position(sw, 60, 1, "all saved here: no read")
	save(local, UsersBase, 3, 70)
	if err := versions.Switch(ctx, UsersBase, 3); err != nil {
		t.Fatal(err)
	}
	if v, err := sw.active(ctx, UsersBase); err != nil || v != 3 {
		t.Errorf("active right after a rebuild here switched = %d, %v; want 3", v, err)
	}
	position(sw, 70, 2, "after the switch to users v3")
}

// Requests waiting for different read models wait apart: one waiting for
// the users read model wakes when users passes its token, while one
// waiting for all of them goes on waiting for the slowest.
func TestReaderAwaitPositionOfSomeReadModels(t *testing.T) {
	ctx := testContext(t)
	db := srv.DB(t)
	versions := mongodb.NewVersions(db, time.Now)
	checkpoints := mongodb.NewCheckpointStore(db)
	users, invitations := projections.CheckpointName(UsersBase, UsersBase, 1), projections.CheckpointName(InvitationsBase, InvitationsBase, 1)
	for _, base := range []string{UsersBase, InvitationsBase} {
		if err := versions.Switch(ctx, base, 1); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(db, ReaderOptions{Projections: []string{UsersBase, InvitationsBase}, Checkpoints: checkpoints})
	type answer struct {
		pos uint64
		err error
	}
	await := func(models ...string) <-chan answer {
		got := make(chan answer, 1)
		go func() {
			pos, err := r.AwaitPosition(ctx, 800, models...)
			got <- answer{pos, err}
		}()
		return got
	}
	// woke expects waiter to answer 800 within 10 s.
	woke := func(waiter string, got <-chan answer) {
		t.Helper()
		select {
		case a := <-got:
			if a.err != nil || a.pos != 800 {
				t.Errorf("the %s woke with %d, %v; want 800", waiter, a.pos, a.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the %s still waits after its read models passed its token", waiter)
		}
	}
	onlyUsers, all := await(UsersBase), await()
	checkpoints.Announce(users, 800)
	woke("users waiter", onlyUsers)
	select {
	case a := <-all:
		t.Fatalf("the waiter for all woke at %d, %v, before invitations passed the token", a.pos, a.err)
	default:
	}
	checkpoints.Announce(invitations, 900)
	woke("waiter for all (800, the lower of the two)", all)
}

// A reader in a process that does not project the Users rows sees a
// write in an organization's rows from the organization's stamp, written
// with them, before the checkpoint another replica saves later; an
// organization whose stamp has not passed the token waits for the
// checkpoint. A reader in the projecting process waits for its own
// checkpoints and reads no stamp.
func TestReaderAwaitUsersOfAnOrganization(t *testing.T) {
	ctx := testContext(t)
	db := srv.DB(t)
	versions := mongodb.NewVersions(db, time.Now)
	if err := versions.Switch(ctx, UsersBase, 1); err != nil {
		t.Fatal(err)
	}
	name := projections.CheckpointName(UsersBase, UsersBase, 1)
	other := mongodb.NewCheckpointStore(db) // the projecting replica's
	if err := other.Save(ctx, name, 100); err != nil {
		t.Fatal(err)
	}
	const written, quiet = domain.OrgID("org-written"), domain.OrgID("org-quiet")
	stamps := mongodb.Collection(db, UsersBase+lookupSuffix, 1)
	for org, pos := range map[domain.OrgID]int64{written: 500, quiet: 90} {
		if _, err := stamps.InsertOne(ctx, ref{ID: orgKey(org), Position: pos}); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(db, ReaderOptions{Projections: []string{UsersBase}})
	short := func() context.Context {
		c, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		t.Cleanup(cancel)
		return c
	}

	if pos, err := r.AwaitUsers(short(), written, 400); err != nil || pos != 500 {
		t.Errorf("the organization's stamp passed the token: %d, %v; want 500 at once", pos, err)
	}
	if pos, err := r.AwaitUsers(short(), quiet, 400); !errors.Is(err, context.DeadlineExceeded) || pos != 100 {
		t.Errorf("neither stamp nor checkpoint passed the token: %d, %v; want 100 and the deadline", pos, err)
	}
	if pos, err := r.AwaitUsers(short(), quiet, 100); err != nil || pos != 100 {
		t.Errorf("the checkpoint passed the token: %d, %v", pos, err)
	}
	// The checkpoint passes the token while the request waits.
	done := make(chan error, 1)
	go func() {
		_, err := r.AwaitUsers(ctx, quiet, 600)
		done <- err
	}()
	time.Sleep(30 * time.Millisecond)
	if err := other.Save(ctx, name, 650); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("wait for the checkpoint: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the wait did not end when the checkpoint passed the token")
	}

	// Requests waiting for one organization share the poller's stamp
	// reads: about one per PositionTTL (10 ms), not one per request.
	reads0 := r.stampReads.Load()
	const n = 40
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if pos, err := r.AwaitUsers(ctx, written, 900); err != nil || pos < 900 {
				t.Errorf("a waiter woke at %d, %v; want the stamp at 900", pos, err)
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := stamps.UpdateOne(ctx, bson.D{{Key: "_id", Value: orgKey(written)}}, bson.D{{Key: "$set", Value: bson.D{{Key: "position", Value: int64(900)}}}}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if reads := r.stampReads.Load() - reads0; reads > 30 {
		t.Errorf("%d stamp reads while %d requests waited about 100 ms", reads, n)
	}

	// The projecting process: its own announcements count, no stamp read.
	local := mongodb.NewCheckpointStore(db)
	local.Announce(name, 700)
	lr := NewReader(db, ReaderOptions{Projections: []string{UsersBase}, Checkpoints: local})
	if pos, err := lr.AwaitUsers(short(), written, 690); err != nil || pos != 700 {
		t.Errorf("in the projecting process: %d, %v; want 700", pos, err)
	}
	if _, err := lr.AwaitUsers(short(), written, 800); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("in the projecting process, a token ahead of its checkpoint: %v", err)
	}
	if n := lr.stampReads.Load(); n != 0 {
		t.Errorf("the projecting process read the org stamp %d times", n)
	}
}
