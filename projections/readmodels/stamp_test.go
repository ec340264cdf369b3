package readmodels

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/orgportal/onboarding/domain"
)

func TestRecentRowsListsAndTrims(t *testing.T) {
	var r *recentRows
	if _, ok := r.since(0); ok {
		t.Fatal("a stamp without a list claims to be complete")
	}
	stampPos := int64(0)
	for i := range recentMax + 10 {
		pos := int64(i+1) * 100
		r = r.add(stampPos, pos, fmt.Sprintf("p%03d@example.org", i%50), true)
		stampPos = pos
	}
	if len(r.changes) != recentMax {
		t.Fatalf("%d changes kept, want %d", len(r.changes), recentMax)
	}
	if want := int64(10) * 100; r.from != want {
		t.Errorf("complete from %d, want %d (the last change dropped)", r.from, want)
	}
	if _, ok := r.since(r.from - 1); ok {
		t.Error("complete before from")
	}
	keys, ok := r.since(stampPos - 300)
	if !ok || !slices.Equal(keys, []string{"p013@example.org", "p014@example.org", "p015@example.org"}) {
		t.Errorf("since the last three changes: %v %v", keys, ok)
	}
	if keys, ok := r.since(r.from); !ok || len(keys) != 50 {
		t.Errorf("since from: %d distinct keys (%v), want 50", len(keys), ok)
	}
	if keys, ok := r.since(stampPos); !ok || len(keys) != 0 {
		t.Errorf("since the stamp: %v %v, want nothing", keys, ok)
	}

	// A key the list cannot hold empties it, complete from the change.
	bad := r.add(stampPos, stampPos+100, "", false)
	if _, ok := bad.since(stampPos); ok || len(bad.changes) != 0 || bad.from != stampPos+100 {
		t.Errorf("after an unstorable key: %+v", bad)
	}
	// The list it came from is as it was (tables may still hold it).
	if len(r.changes) != recentMax || r.changes[recentMax-1].pos != stampPos {
		t.Error("add changed the list it extended")
	}
}

func TestRecentRowsBSON(t *testing.T) {
	r := (&recentRows{from: 1_000_000_000_000}).add(1_000_000_000_000, 1_000_000_000_100, "ann@example.org", true)
	r = r.add(1_000_000_000_100, 1_000_000_000_350, "bob@example.org", true)
	for _, stamp := range []ref{
		{ID: "org:a", Position: 1_000_000_000_350, Recent: r},
		{ID: "org:b", Position: 7, Recent: &recentRows{from: 7}},
		{ID: "org:c", Position: 7}, // written before the list existed
	} {
		data, err := bson.Marshal(stamp)
		if err != nil {
			t.Fatal(err)
		}
		var back ref
		if err := bson.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, stamp) {
			t.Errorf("round trip of %+v: %+v", stamp, back)
		}
	}
	raw, _ := bson.Marshal(r)
	if got := bson.Raw(raw).Lookup("rows").StringValue(); got != "100 ann@example.org\n250 bob@example.org\n" {
		t.Errorf("stored rows %q", got)
	}
	// An unreadable list reads as untracked, not as an error.
	for _, doc := range []bson.D{
		{{Key: "_id", Value: "org:x"}, {Key: "position", Value: 5}, {Key: "recent", Value: bson.D{{Key: "from", Value: 1}, {Key: "rows", Value: "x y\n"}}}},
		{{Key: "_id", Value: "org:x"}, {Key: "position", Value: 5}, {Key: "recent", Value: "nonsense"}},
	} {
		data, _ := bson.Marshal(doc)
		var back ref
		if err := bson.Unmarshal(data, &back); err != nil {
			t.Fatalf("%v: %v", doc, err)
		}
		if back.Position != 5 || back.Recent == nil || back.Recent.from != untracked {
			t.Errorf("%v read as %+v", doc, back.Recent)
		}
		if _, ok := back.Recent.since(4); ok {
			t.Error("an unreadable list claims to be complete")
		}
		// The fold restarts it from the stamp.
		if next := back.Recent.add(5, 6, "k", true); next.from != 5 || len(next.changes) != 1 {
			t.Errorf("restarted list: %+v", next)
		}
	}
}

func TestRowKey(t *testing.T) {
	if k, ok := rowKey("org-1", UserDocID("org-1", "ann@example.org")); !ok || k != "ann@example.org" {
		t.Errorf("rowKey = %q %v", k, ok)
	}
	for _, id := range []string{UserDocID("org-2", "ann@example.org"), "org-1/a\nb"} {
		if _, ok := rowKey("org-1", id); ok {
			t.Errorf("rowKey(%q) ok", id)
		}
	}
}

// The change list names every row a change touched, deleted ones
// included; the stamp is a position alone, at the list's; and a
// redelivery that finds the stamp behind its rows restarts the list.
func TestFoldUsersStampListsChangedRows(t *testing.T) {
	const inv2 domain.InvitationID = "inv-bob"
	h := bootstrapped().add(string(owner),
		domain.UserInvited{InvitationID: invAnn, OrgID: org, Email: "ann@example.org", NormalizedEmail: "ann@example.org", Role: domain.RoleMember, InvitedBy: owner},
		domain.UserInvited{InvitationID: inv2, OrgID: org, Email: "bob@example.org", NormalizedEmail: "bob@example.org", Role: domain.RoleMember, InvitedBy: owner},
		domain.InvitationRevoked{InvitationID: inv2, OrgID: org}, // never joined: the row goes
	)
	rows, refs := foldAllUsers(t, h)
	if _, ok := rows[UserDocID(org, "bob@example.org")]; ok {
		t.Fatal("the revoked row is still there")
	}
	stamp, list := refs[orgKey(org)], refs[changesKey(org)]
	last := int64(h[len(h)-1].Position)
	if stamp.Position != last || list.Position != last {
		t.Fatalf("stamp at %d, list at %d, want both at %d", stamp.Position, list.Position, last)
	}
	if stamp.Recent != nil {
		t.Errorf("the stamp carries the list (%+v): every page would read it", stamp.Recent)
	}
	keys, ok := list.Recent.since(last - 200)
	if !ok || !slices.Equal(keys, []string{"bob@example.org"}) {
		t.Errorf("changed in the last two events: %v %v, want bob's row (invited, then deleted)", keys, ok)
	}
	if keys, ok := list.Recent.since(0); !ok || len(keys) != 3 {
		t.Errorf("changed since the start: %v %v, want owner, ann and bob", keys, ok)
	}

	// The stamp write was lost (a crash before the flush), the rows and
	// the list were not: the redelivery cannot tell what changed between
	// the stamp and the list, so the list restarts.
	refs[orgKey(org)] = ref{ID: orgKey(org), Position: 200}
	for _, e := range h[2:] {
		if err := foldUsers(rows, refs, e); err != nil {
			t.Fatal(err)
		}
	}
	stamp, list = refs[orgKey(org)], refs[changesKey(org)]
	if stamp.Position != last || list.Position != last {
		t.Errorf("after the redelivery the stamp is at %d and the list at %d, want %d", stamp.Position, list.Position, last)
	}
	if _, ok := list.Recent.since(200); ok {
		t.Errorf("the list claims changes since 200 are known: %+v", list.Recent)
	}
	if keys, ok := list.Recent.since(list.Recent.from); !ok || list.Recent.from > last {
		t.Errorf("the restarted list is unusable: %+v %v %v", list.Recent, keys, ok)
	}
}

// A stamp written before the list had a document of its own carries the
// list: the next change continues it in the list's document.
func TestFoldUsersContinuesTheListOfAnOldStamp(t *testing.T) {
	h := bootstrapped()
	rows, refs := foldAllUsers(t, h)
	at := int64(h[len(h)-1].Position)
	old := (*recentRows)(nil).add(0, at, "owner@acme.example", true)
	refs[orgKey(org)] = ref{ID: orgKey(org), Position: at, Recent: old}
	delete(refs, changesKey(org))
	next := h.add(string(owner), domain.UserInvited{InvitationID: invAnn, OrgID: org, Email: "ann@example.org", NormalizedEmail: "ann@example.org", Role: domain.RoleMember, InvitedBy: owner})
	if err := foldUsers(rows, refs, next[len(next)-1]); err != nil {
		t.Fatal(err)
	}
	stamp, list := refs[orgKey(org)], refs[changesKey(org)]
	if stamp.Recent != nil || stamp.Position != list.Position {
		t.Fatalf("stamp %+v, list at %d: want a bare stamp at the list's position", stamp, list.Position)
	}
	if keys, ok := list.Recent.since(0); !ok || !slices.Equal(keys, []string{"ann@example.org", "owner@acme.example"}) {
		t.Errorf("the list since the start: %v %v, want the old stamp's entry and ann's", keys, ok)
	}
}

// A full change list is archived under its number and a new live list
// begins where it ends, so that a reader can join them back to back; a
// list restarted after a lost stamp takes a new number, which no archived
// list continues.
func TestFoldUsersArchivesFullLists(t *testing.T) {
	h := bootstrapped()
	for i := range 2*recentMax + 5 {
		email := fmt.Sprintf("p%04d@example.org", i)
		h = h.add(string(owner), domain.UserInvited{InvitationID: domain.InvitationID("inv-" + email), OrgID: org, Email: email, NormalizedEmail: email, Role: domain.RoleMember, InvitedBy: owner})
	}
	rows, refs := foldAllUsers(t, h)
	live := refs[changesKey(org)]
	if live.Seq < 2 || len(live.Recent.changes) == 0 || len(live.Recent.changes) >= recentMax {
		t.Fatalf("live list number %d with %d changes, want number 2 or more, not full", live.Seq, len(live.Recent.changes))
	}
	joined := live.Recent
	for seq := live.Seq - 1; seq >= live.Seq-2; seq-- {
		a, ok := refs[archiveKey(org, seq)]
		if !ok || a.Seq != seq || a.Position != joined.from || len(a.Recent.changes) != recentMax {
			t.Fatalf("archived list %d: %v, number %d at %d with %d changes; want number %d ending at %d with %d",
				seq, ok, a.Seq, a.Position, len(a.Recent.changes), seq, joined.from, recentMax)
		}
		joined = a.Recent.join(joined)
	}
	keys, ok := joined.since(joined.from)
	if !ok || len(keys) != len(joined.changes) || len(keys) < 2*recentMax {
		t.Errorf("the joined lists name %d rows (complete %v) for %d changes", len(keys), ok, len(joined.changes))
	}

	// The stamp write was lost: the list restarts under a new number.
	before := live.Seq
	refs[orgKey(org)] = ref{ID: orgKey(org), Position: live.Position - 100}
	last := h[len(h)-1]
	email := "late@example.org"
	next := h.add(string(owner), domain.UserInvited{InvitationID: "inv-late", OrgID: org, Email: email, NormalizedEmail: email, Role: domain.RoleMember, InvitedBy: owner})
	if err := foldUsers(rows, refs, next[len(next)-1]); err != nil {
		t.Fatal(err)
	}
	if got := refs[changesKey(org)]; got.Seq <= before || got.Recent.from != int64(last.Position)-100 {
		t.Errorf("restarted list number %d from %d, want a number above %d, from the stamp's %d", got.Seq, got.Recent.from, before, int64(last.Position)-100)
	}
}
