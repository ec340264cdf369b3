package readmodels

import (
	"testing"
	"time"

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
