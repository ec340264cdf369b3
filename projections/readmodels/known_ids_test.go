package readmodels

import (
	"context"
	"fmt"
	"testing"
)

// A Users row of an organization whose rows are listed is known absent
// without a read; the list follows the table's own writes, and a failed
// flush makes it be listed again.
func TestKnownIDsAnswerAbsentRowsWithoutARead(t *testing.T) {
	ctx := testContext(t)
	coll, finds := countingFinds(t, ctx, "users_known")
	for _, u := range []User{{ID: "org-a/stored@example.org", OrgID: "org-a"}, {ID: "org-b/other@example.org", OrgID: "org-b"}} {
		if _, err := coll.InsertOne(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	// No cache: every get below that is not answered by the list reads.
	tab := newLiveTable[User](coll, 0)
	tab.ids = newKnownIDs(orgOfRow, listOrgRows(coll))
	get := func(id string, wantExists bool, wantReads int64) {
		t.Helper()
		finds.Store(0)
		tab.begin(ctx)
		if _, ok := tab.get(id); ok != wantExists || tab.failed() != nil {
			t.Fatalf("get %s: exists %v (%v), want %v", id, ok, tab.failed(), wantExists)
		}
		if n := finds.Load(); n != wantReads {
			t.Fatalf("get %s made %d reads, want %d", id, n, wantReads)
		}
	}
	get("org-a/new@example.org", false, 1)  // lists org-a
	get("org-a/new2@example.org", false, 0) // known absent
	get("org-a/stored@example.org", true, 1)
	get("org-b/other@example.org", true, 2) // lists org-b, then reads the row

	// The table's writes keep the list: a written row is read, a deleted
	// one known absent.
	tab.begin(ctx)
	tab.put("org-a/new@example.org", User{ID: "org-a/new@example.org", OrgID: "org-a"})
	tab.del("org-a/stored@example.org")
	if err := tab.flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	tab.flushed()
	get("org-a/new@example.org", true, 1)
	get("org-a/stored@example.org", false, 0)

	// A flush that fails may have stored part of its writes: the lists of
	// what it touched are forgotten.
	tab.begin(ctx)
	tab.put("org-a/new3@example.org", User{ID: "org-a/new3@example.org", OrgID: "org-a"})
	tab.discard()
	get("org-a/new4@example.org", false, 1) // listed again
	get("org-b/absent@example.org", false, 0)
}

// Partitions too large to list, and ids outside any partition, are read.
func TestKnownIDsFallBackToReading(t *testing.T) {
	listed := 0
	k := newKnownIDs(orgOfRow, func(_ context.Context, org string) ([]string, error) {
		listed++
		if org == "big" {
			return make([]string, 60), nil
		}
		return []string{org + "/a"}, nil
	})
	k.max = 100 // a partition of more than 50 is too large
	ctx := context.Background()
	if k.absent(ctx, "big/x") || k.absent(ctx, "big/y") || listed != 1 {
		t.Errorf("a partition too large to list answered absent, or was listed %d times", listed)
	}
	if k.absent(ctx, "no-partition") {
		t.Error("an id outside any partition answered absent")
	}
	if !k.absent(ctx, "small/b") || k.absent(ctx, "small/a") {
		t.Error("a listed partition answered wrong")
	}
	// Past the bound, every list is dropped and taken again on demand.
	for i := range 120 {
		k.absent(ctx, string(rune('A'+i%60))+"x/id")
	}
	if k.size > k.max {
		t.Errorf("%d ids listed, bound %d", k.size, k.max)
	}
	// Rows the table writes count against the bound too.
	k.absent(ctx, "small/b")
	for i := range 2 * k.max {
		k.stored(fmt.Sprintf("small/new%d", i), true)
		if k.size > k.max {
			t.Fatalf("after %d written rows %d ids listed, bound %d", i+1, k.size, k.max)
		}
	}
}

// An organization of 200,000 rows is listed under the default bound (it
// fell back to a read per new invitee past 62,500 before the lists held
// hashes), and the list tells its rows from absent ones.
func TestKnownIDsListALargeOrganization(t *testing.T) {
	const n = 200_000
	k := newKnownIDs(orgOfRow, func(_ context.Context, org string) ([]string, error) {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("%s/person%d@example.org", org, i)
		}
		return ids, nil
	})
	ctx := context.Background()
	for i := 0; i < n; i += 997 {
		if k.absent(ctx, fmt.Sprintf("big/person%d@example.org", i)) {
			t.Fatalf("row %d of %d answered absent", i, n)
		}
		if !k.absent(ctx, fmt.Sprintf("big/newcomer%d@example.org", i)) {
			t.Fatalf("newcomer %d answered stored", i)
		}
	}
	if k.tooLarge["big"] || k.size != n {
		t.Errorf("too large %v, %d ids listed", k.tooLarge["big"], k.size)
	}
	k.stored("big/person7@example.org", false)
	if !k.absent(ctx, "big/person7@example.org") || k.size != n-1 {
		t.Errorf("a deleted row is not known absent (%d listed)", k.size)
	}
}
