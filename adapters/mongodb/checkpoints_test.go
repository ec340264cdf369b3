package mongodb_test

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/orgportal/onboarding/adapters/mongodb"
)

func TestCheckpointSaveLoad(t *testing.T) {
	ctx := testContext(t)
	store := mongodb.NewCheckpointStore(testDB(t))

	if pos, ok, err := store.Load(ctx, "users"); err != nil || ok || pos != 0 {
		t.Fatalf("Load before any Save = %d, %v, %v; want 0, false, nil", pos, ok, err)
	}
	for _, step := range []struct {
		save, want uint64
	}{
		{0, 0},     // the first event of $all sits at position 0
		{100, 100}, //
		{250, 250}, //
		{120, 250}, // backwards: ignored
		{250, 250}, // same: fine
		{1 << 40, 1 << 40},
	} {
		if err := store.Save(ctx, "users", step.save); err != nil {
			t.Fatalf("Save(%d): %v", step.save, err)
		}
		pos, ok, err := store.Load(ctx, "users")
		if err != nil || !ok || pos != step.want {
			t.Fatalf("after Save(%d): Load = %d, %v, %v; want %d", step.save, pos, ok, err, step.want)
		}
	}
	// Names are independent.
	if _, ok, _ := store.Load(ctx, "audit"); ok {
		t.Error("audit has a checkpoint it never saved")
	}
	if err := store.Save(ctx, "users", math.MaxInt64+1); err == nil {
		t.Error("Save of a position beyond int64 succeeded")
	}
}

func TestCheckpointConcurrentSavesKeepTheHighest(t *testing.T) {
	ctx := testContext(t)
	db := testDB(t)
	store := mongodb.NewCheckpointStore(db)

	// Savers race on a fresh name (concurrent first inserts) and then on
	// an existing document, each with its own shuffled positions.
	const savers, each = 6, 15
	var wg sync.WaitGroup
	errs := make(chan error, savers*each)
	for s := range savers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, i := range rand.Perm(each) {
				if err := store.Save(ctx, "audit", uint64(i*savers+s)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	want := uint64(each*savers - 1)
	if pos, ok, err := store.Load(ctx, "audit"); err != nil || !ok || pos != want {
		t.Fatalf("Load = %d, %v, %v; want %d", pos, ok, err, want)
	}
}

func TestCheckpointLoadManyMatchesLoad(t *testing.T) {
	ctx := testContext(t)
	store := mongodb.NewCheckpointStore(testDB(t))
	for name, pos := range map[string]uint64{"users/users/1": 10, "audit/audit/1": 0, "mail": 99} {
		if err := store.Save(ctx, name, pos); err != nil {
			t.Fatal(err)
		}
	}
	got, err := store.LoadMany(ctx, []string{"users/users/1", "audit/audit/1", "never-saved"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"users/users/1": 10, "audit/audit/1": 0}
	if len(got) != len(want) {
		t.Fatalf("LoadMany = %v, want %v (the unsaved name absent, mail not asked for)", got, want)
	}
	for name, pos := range want {
		if p, ok := got[name]; !ok || p != pos {
			t.Errorf("LoadMany[%q] = %d, %v; want %d", name, p, ok, pos)
		}
	}
	if got, err := store.LoadMany(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("LoadMany(nil) = %v, %v; want none", got, err)
	}
}

// The store remembers what it saved or was announced (Reached, where this
// process has got, at no read) and signals each save or announcement that
// moved it (Changed); a save that failed or went backwards changes
// neither, and an announcement writes nothing.
func TestCheckpointReachedAndChanged(t *testing.T) {
	ctx := testContext(t)
	db := testDB(t)
	store := mongodb.NewCheckpointStore(db)
	other := mongodb.NewCheckpointStore(db) // another process

	if pos, ok := store.Reached("users"); ok || pos != 0 {
		t.Fatalf("Reached before any save = %d, %v", pos, ok)
	}
	changed := store.Changed()
	if err := store.Save(ctx, "users", 100); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Fatal("Changed not closed by a save")
	}
	if pos, ok := store.Reached("users"); !ok || pos != 100 {
		t.Fatalf("Reached = %d, %v; want 100", pos, ok)
	}

	// Another process saves further: this store's bound stays where it
	// saved, below the stored position.
	if err := other.Save(ctx, "users", 500); err != nil {
		t.Fatal(err)
	}
	changed = store.Changed()
	if err := store.Save(ctx, "users", 300); err != nil { // $max keeps 500
		t.Fatal(err)
	}
	if pos, _ := store.Reached("users"); pos != 300 {
		t.Errorf("Reached after saving 300 = %d, want 300", pos)
	}
	if stored, _, _ := store.Load(ctx, "users"); stored != 500 {
		t.Errorf("stored = %d, want 500", stored)
	}
	<-changed

	changed = store.Changed()
	if err := store.Save(ctx, "users", 200); err != nil { // backwards
		t.Fatal(err)
	}
	if err := store.Save(ctx, "users", math.MaxInt64+1); err == nil {
		t.Fatal("Save beyond int64 succeeded")
	}
	select {
	case <-changed:
		t.Error("Changed closed by a save that moved nothing")
	default:
	}
	if pos, _ := store.Reached("users"); pos != 300 {
		t.Errorf("Reached after a backward and a failed save = %d, want 300", pos)
	}
	if _, ok := other.Reached("audit"); ok {
		t.Error("Reached reports a name the store never saved")
	}

	// An announcement moves Reached and wakes Changed, and stores nothing.
	changed = store.Changed()
	store.Announce("users", 900)
	select {
	case <-changed:
	default:
		t.Error("Changed not closed by an announcement")
	}
	if pos, _ := store.Reached("users"); pos != 900 {
		t.Errorf("Reached after announcing 900 = %d, want 900", pos)
	}
	if stored, _, _ := store.Load(ctx, "users"); stored != 500 {
		t.Errorf("stored after an announcement = %d, want 500 still", stored)
	}
	changed = store.Changed()
	store.Announce("users", 800) // backwards
	select {
	case <-changed:
		t.Error("Changed closed by an announcement that moved nothing")
	default:
	}
}
