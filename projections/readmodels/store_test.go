package readmodels

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// orgHistory is a plausible history of one organization with n people:
// invited (by the owner or an admin), accepted, registered through the
// link, added by hand, revoked, removed, promoted, with mails recorded.
func orgHistory(orgID domain.OrgID, n int, seed uint64) history {
	rnd := rand.New(rand.NewPCG(seed, 7))
	ownerID := domain.UserID(string(orgID) + "-owner")
	h := history{}.add("system",
		domain.OrganizationCreated{OrgID: orgID, Name: "Org " + string(orgID), LinkGeneration: 1},
		domain.MemberJoined{OrgID: orgID, UserID: ownerID, Email: "owner@" + string(orgID) + ".example", NormalizedEmail: "owner@" + string(orgID) + ".example",
			Name: "Owner", Role: domain.RoleOwner, Via: domain.JoinedViaBootstrap})
	inviters := []domain.UserID{ownerID}
	names := []string{"Ann", "bob", "Carla", "dave", "Émile", "Zoë", "ann-marie", "Bo"}
	for i := range n {
		email := fmt.Sprintf("%s.%03d@Example.org", names[i%len(names)], i)
		norm := fmt.Sprintf("%s.%03d@example.org", lower(names[i%len(names)]), i)
		name := fmt.Sprintf("%s %03d", names[i%len(names)], i)
		user := domain.UserID(fmt.Sprintf("%s-u%03d", orgID, i))
		inviter := inviters[rnd.IntN(len(inviters))]
		switch rnd.IntN(5) {
		case 0, 1: // invited, maybe accepted, maybe mailed
			inv := domain.InvitationID(fmt.Sprintf("%s-inv%03d", orgID, i))
			h = h.add(string(inviter), domain.UserInvited{InvitationID: inv, OrgID: orgID, Email: email, NormalizedEmail: norm,
				Role: domain.RoleMember, InvitedBy: inviter, Generation: 1, ExpiresAt: t0.Add(time.Duration(rnd.IntN(48)) * time.Hour)})
			if rnd.IntN(2) == 0 {
				h = h.add("system", domain.InvitationEmailSent{InvitationID: inv, OrgID: orgID, Generation: 1})
			}
			switch rnd.IntN(4) {
			case 0:
				h = h.add(string(user), domain.InvitationAccepted{InvitationID: inv, OrgID: orgID, UserID: user, Generation: 1},
					domain.MemberJoined{OrgID: orgID, UserID: user, Email: email, NormalizedEmail: norm, Name: name, Role: domain.RoleMember,
						Via: domain.JoinedViaInvitation, InvitedBy: inviter, InvitationID: inv})
				if rnd.IntN(3) == 0 {
					h = h.add(string(ownerID), domain.MemberRoleChanged{OrgID: orgID, UserID: user, From: domain.RoleMember, To: domain.RoleAdmin})
					inviters = append(inviters, user)
				}
			case 1:
				h = h.add(string(inviter), domain.InvitationRevoked{InvitationID: inv, OrgID: orgID})
			case 2:
				h = h.add(string(inviter), domain.InvitationResent{InvitationID: inv, OrgID: orgID, Generation: 2, ExpiresAt: t0.Add(96 * time.Hour)})
			}
		case 2: // self-service
			reg := domain.RegistrationID(fmt.Sprintf("%s-reg%03d", orgID, i))
			h = h.add("self-service-link", domain.RegistrationStarted{RegistrationID: reg, OrgID: orgID, Email: email, NormalizedEmail: norm,
				Name: name, PasswordHash: "$argon2id$x", Generation: 1, ExpiresAt: t0.Add(time.Hour)})
			if rnd.IntN(2) == 0 {
				h = h.add(string(user), domain.MemberJoined{OrgID: orgID, UserID: user, Email: email, NormalizedEmail: norm, Name: name,
					Role: domain.RoleMember, Via: domain.JoinedViaSelfServiceLink, RegistrationID: reg})
			}
		case 3: // added by hand, some removed later
			h = h.add(string(inviter), domain.MemberJoined{OrgID: orgID, UserID: user, Email: email, NormalizedEmail: norm, Name: name,
				Role: domain.RoleMember, Via: domain.JoinedViaManual, InvitedBy: inviter})
			if rnd.IntN(3) == 0 {
				h = h.add(string(ownerID), domain.MemberRemoved{OrgID: orgID, UserID: user, NormalizedEmail: norm})
			}
		default: // sessions and other noise the Users page ignores
			h = h.add(string(inviter), domain.SessionStarted{SessionID: domain.SessionID(fmt.Sprintf("s%d", i)), UserID: inviter, OrgID: orgID})
		}
	}
	return h
}

func lower(s string) string { return string([]rune(foldName(s))) }

// renumber gives a concatenation of histories increasing positions.
func renumber(hs ...history) history {
	var out history
	for _, h := range hs {
		for _, e := range h {
			e.Position = uint64(len(out)+1) * 100
			e.EventID = fmt.Sprintf("ev-%06d", len(out)+1)
			out = append(out, e)
		}
	}
	return out
}

// applyLive feeds h to p's live applier of version, with every event that
// p handles, then flushes it as the runner does before a checkpoint.
func applyLive(t *testing.T, ctx context.Context, p projections.Projection, version int, h history) {
	t.Helper()
	a := applyLiveNoFlush(t, ctx, p, version, h)
	if f, ok := a.(projections.Flusher); ok {
		if err := f.Flush(ctx); err != nil {
			t.Fatalf("%s: flush: %v", p.Name(), err)
		}
	}
}

// applyLiveNoFlush is applyLive for a runner that dies before its next
// checkpoint: the writes kept for it are lost.
func applyLiveNoFlush(t *testing.T, ctx context.Context, p projections.Projection, version int, h history) projections.Applier {
	t.Helper()
	if err := p.Prepare(ctx, version); err != nil {
		t.Fatal(err)
	}
	a := p.Live(version)
	for _, e := range h {
		if p.Handles(e.Type) {
			if err := a.Apply(ctx, e); err != nil {
				t.Fatalf("%s: apply %s at %d: %v", p.Name(), e.Type, e.Position, err)
			}
		}
	}
	return a
}

func rebuild(t testing.TB, ctx context.Context, p projections.Projection, version int, h history) {
	t.Helper()
	b, err := p.Rebuild(ctx, version)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range h {
		if p.Handles(e.Type) {
			if err := b.Apply(ctx, e); err != nil {
				t.Fatalf("%s: rebuild %s at %d: %v", p.Name(), e.Type, e.Position, err)
			}
		}
	}
	if err := b.Finish(ctx); err != nil {
		t.Fatal(err)
	}
}

// dump reads a whole collection, sorted by _id, as raw documents.
func dump(t *testing.T, ctx context.Context, coll *mongo.Collection) []bson.M {
	t.Helper()
	cur, err := coll.Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.M
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(docs, func(a, b bson.M) int { return compareIDs(a["_id"], b["_id"]) })
	return docs
}

func compareIDs(a, b any) int {
	as, bs := fmt.Sprint(a), fmt.Sprint(b)
	switch {
	case as < bs:
		return -1
	case as > bs:
		return 1
	}
	return 0
}

// Live apply (one event at a time, by _id, with redeliveries) and a
// rebuild (in memory, bulk insert) write the same documents.
func TestLiveAndRebuildWriteTheSameDocuments(t *testing.T) {
	ctx := testContext(t)
	db := srv.DB(t)
	h := renumber(orgHistory("org-a", 60, 1), orgHistory("org-b", 30, 2))
	opts := Options{PrepareCollection: srv.PrepareCollection()}
	for _, p := range Projections(db, opts) {
		t.Run(p.Name(), func(t *testing.T) {
			// A runner that dies before its checkpoint loses the writes
			// it kept for it (all but those it flushed early by itself);
			// the redelivery from the checkpoint puts them right.
			applyLive(t, ctx, p, 1, h[:len(h)/2])
			applyLiveNoFlush(t, ctx, p, 1, h[len(h)/2:])
			applyLive(t, ctx, p, 1, h[len(h)/2:])
			applyLive(t, ctx, p, 1, h)
			// A runner restarted from an older checkpoint redelivers.
			applyLive(t, ctx, p, 1, h[len(h)/2:])
			// A fresh applier (a new lease term) has an empty cache.
			applyLive(t, ctx, p.(projections.Projection), 1, h[len(h)/3:])
			rebuild(t, ctx, p, 2, h)
			for _, base := range []string{p.Base(), p.Base() + lookupSuffix} {
				live, rebuilt := dump(t, ctx, mongodb.Collection(db, base, 1)), dump(t, ctx, mongodb.Collection(db, base, 2))
				if len(live) == 0 {
					t.Fatalf("%s: nothing written", base)
				}
				if !reflect.DeepEqual(live, rebuilt) {
					t.Errorf("%s: live and rebuilt differ: %d and %d documents", base, len(live), len(rebuilt))
					for i := range min(len(live), len(rebuilt)) {
						if !reflect.DeepEqual(live[i], rebuilt[i]) {
							t.Errorf("first difference:\n live    %v\n rebuilt %v", live[i], rebuilt[i])
							break
						}
					}
				}
			}
		})
	}
	// The in-memory fold of the same history is what is stored.
	rows, _ := foldAllUsers(t, h)
	var stored []User
	cur, err := mongodb.Collection(db, UsersBase, 1).Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cur.All(ctx, &stored); err != nil {
		t.Fatal(err)
	}
	if len(stored) != len(rows) {
		t.Fatalf("%d rows stored, %d folded", len(stored), len(rows))
	}
	for _, u := range stored {
		if want := rows[u.ID]; !reflect.DeepEqual(u, want) {
			t.Errorf("stored row differs from the fold:\n got %s\nwant %s", show(u), show(want))
		}
	}
}
