package mongodb_test

import (
	"errors"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/orgportal/onboarding/adapters/mongodb"
)

func TestCollectionNames(t *testing.T) {
	if got := mongodb.CollectionName("users", 3); got != "users_v3" {
		t.Errorf("CollectionName = %q", got)
	}
	for name, want := range map[string]int{"users_v1": 1, "users_v12": 12, "users_v": 0, "users_v01": 0, "users_v0": 0, "users_vx": 0, "audit_v1": 0, "users_v1_tmp": 0} {
		got, ok := mongodb.ParseCollectionName("users", name)
		if ok != (want > 0) || got != want {
			t.Errorf("ParseCollectionName(users, %q) = %d, %v; want %d", name, got, ok, want)
		}
	}
}

func TestVersionsSwitchForwardOnly(t *testing.T) {
	ctx := testContext(t)
	db := testDB(t)
	clock := newFakeClock()
	v := mongodb.NewVersions(db, clock.Now)

	if _, found, err := v.Active(ctx, "users"); err != nil || found {
		t.Fatalf("Active before any switch: found %v, %v", found, err)
	}
	for _, ver := range []int{1, 2, 4} {
		if _, err := mongodb.Collection(db, "users", ver).InsertOne(ctx, bson.D{{Key: "_id", Value: "u1"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Collection("users_v2_tmp").InsertOne(ctx, bson.D{{Key: "_id", Value: "x"}}); err != nil {
		t.Fatal(err)
	}
	stored, err := v.Stored(ctx, "users")
	if err != nil || !slices.Equal(stored, []int{1, 2, 4}) {
		t.Fatalf("Stored = %v, %v; want [1 2 4]", stored, err)
	}

	if err := v.Switch(ctx, "users", 2); err != nil {
		t.Fatal(err)
	}
	clock.Advance(1)
	if err := v.Switch(ctx, "users", 2); err != nil {
		t.Fatalf("switch to the active version again: %v", err)
	}
	if err := v.Switch(ctx, "users", 1); !errors.Is(err, mongodb.ErrVersionBehind) {
		t.Fatalf("switch back: %v, want ErrVersionBehind", err)
	}
	if err := v.Switch(ctx, "users", 4); err != nil {
		t.Fatal(err)
	}
	got, found, err := v.Active(ctx, "users")
	if err != nil || !found || got.Version != 4 || got.ReadModel != "users" || !got.SwitchedAt.Equal(clock.Now().Truncate(1e6)) {
		t.Fatalf("Active = %+v, %v, %v", got, found, err)
	}
	if _, found, _ := v.Active(ctx, "audit"); found {
		t.Error("audit has an active version it never switched to")
	}
}

func TestVersionsActiveAllMatchesActive(t *testing.T) {
	ctx := testContext(t)
	v := mongodb.NewVersions(testDB(t), newFakeClock().Now)
	for base, ver := range map[string]int{"users": 3, "audit": 1, "invitations": 2} {
		if err := v.Switch(ctx, base, ver); err != nil {
			t.Fatal(err)
		}
	}
	got, err := v.ActiveAll(ctx, []string{"users", "audit", "unknown"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["users"].Version != 3 || got["audit"].Version != 1 {
		t.Fatalf("ActiveAll = %+v; want users 3 and audit 1 only (unknown has none, invitations not asked for)", got)
	}
	one, _, err := v.Active(ctx, "users")
	if err != nil || one != got["users"] {
		t.Errorf("Active(users) = %+v, %v; ActiveAll gave %+v", one, err, got["users"])
	}
}
