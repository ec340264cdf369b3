package projections_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections"
	"github.com/orgportal/onboarding/projections/priority"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// Commands through the real write side show up in all three read models.
func TestRunnerProjectsTheWriteSide(t *testing.T) {
	w := newWorld(t)
	r, _ := w.runner("replica-a", w.db)
	eventually(t, "runner running", func() bool { return allIn(r, projections.StateRunning) })
	o := w.history(w.bootstrap("Acme", "owner@acme.example"))
	w.caughtUp(o.position)

	page, err := w.reader.Users(w.ctx, readmodels.UsersQuery{OrgID: o.id})
	if err != nil {
		t.Fatal(err)
	}
	byEmail := map[string]readmodels.User{}
	for _, u := range page.Items {
		byEmail[u.NormalizedEmail] = u
	}
	if len(byEmail) != 4 { // owner, ann, cy (invited), dave (removed); bob's revoked invitation left no row
		t.Fatalf("rows: %v", keys(byEmail))
	}
	ann := byEmail["ann@example.org"]
	if ann.Status != readmodels.StatusActive || ann.Role != domain.RoleAdmin || ann.JoinedVia != domain.JoinedViaInvitation ||
		ann.InvitedBy == nil || ann.InvitedBy.UserID != o.owner || ann.InvitedBy.Email != "owner@acme.example" || ann.InvitedAt == nil || ann.JoinedAt == nil {
		t.Errorf("ann: %+v", ann)
	}
	if cy := byEmail["cy@example.org"]; cy.Status != readmodels.StatusInvited || cy.InvitationID != o.pending {
		t.Errorf("cy: %+v", cy)
	}
	if dave := byEmail["dave@example.org"]; dave.Status != readmodels.StatusRemoved || dave.JoinedVia != domain.JoinedViaManual ||
		dave.InvitedBy == nil || dave.InvitedBy.UserID != o.ann || dave.InvitedBy.Email != "ann@example.org" {
		t.Errorf("dave: %+v", dave)
	}
	if owner := byEmail["owner@acme.example"]; owner.JoinedVia != domain.JoinedViaBootstrap || owner.Role != domain.RoleOwner {
		t.Errorf("owner: %+v", owner)
	}
	if page.Counts[readmodels.StatusActive] != 2 || page.Counts[readmodels.StatusInvited] != 1 || page.Counts[readmodels.StatusRemoved] != 1 {
		t.Errorf("counts: %v", page.Counts)
	}

	invs, err := w.reader.Invitations(w.ctx, readmodels.InvitationsQuery{OrgID: o.id, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	statuses := map[domain.InvitationID]readmodels.InvitationStatus{}
	for _, inv := range invs.Items {
		statuses[inv.ID] = inv.Status
		if inv.InvitedBy.Email != "owner@acme.example" {
			t.Errorf("invitation %s: inviter %+v", inv.ID, inv.InvitedBy)
		}
	}
	if len(statuses) != 3 || statuses[o.revoked] != readmodels.InvitationRevoked || statuses[o.pending] != readmodels.InvitationPending {
		t.Errorf("invitations: %v", statuses)
	}

	audit, err := w.reader.Audit(w.ctx, readmodels.AuditQuery{OrgID: o.id, Limit: readmodels.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]int{}
	for _, e := range audit.Items {
		actions[e.Action]++
		if e.CorrelationID == "" {
			t.Errorf("audit entry without correlation id: %+v", e)
		}
		for k := range e.Details {
			if strings.Contains(strings.ToLower(k), "password") {
				t.Errorf("audit entry %s keeps %s", e.Action, k)
			}
		}
	}
	for _, a := range []string{domain.TypeOrganizationCreated, domain.TypeUserInvited, domain.TypeInvitationRevoked, domain.TypeInvitationAccepted,
		domain.TypeMemberJoined, domain.TypeAccountCreated, domain.TypeMemberRoleChanged, domain.TypeMemberRemoved} {
		if actions[a] == 0 {
			t.Errorf("no audit entry for %s: %v", a, actions)
		}
	}
	if actions[domain.TypeMembershipReserved] != 0 {
		t.Error("the membership guard's bookkeeping reached the audit trail")
	}

	for _, st := range r.Statuses() {
		if st.State != projections.StateRunning || st.Version != 1 || st.Position < uint64(o.position) || st.EventsApplied == 0 {
			t.Errorf("status: %+v", st)
		}
	}
	if err := r.Ready(); err != nil {
		t.Errorf("ready: %v", err)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A runner that starts over from older checkpoints (a crash before they
// were saved) redelivers events; the documents do not change.
func TestRunnerRedeliveryIsIdempotent(t *testing.T) {
	w := newWorld(t)
	_, stop := w.runner("replica-a", w.db)
	o := w.history(w.bootstrap("Acme", "owner@acme.example"))
	w.caughtUp(o.position)
	stop()
	before := map[string][]bson.M{}
	for _, base := range readmodels.Names() {
		before[base] = dump(t, w.ctx, mongodb.Collection(w.db, base, 1))
	}
	// Forget where the projections were: everything comes again.
	if _, err := w.db.Collection(mongodb.CheckpointsCollection).DeleteMany(w.ctx, bson.D{}); err != nil {
		t.Fatal(err)
	}
	r, _ := w.runner("replica-b", w.db)
	w.caughtUp(o.position)
	eventually(t, "every event applied again", func() bool {
		for _, st := range r.Statuses() {
			if st.EventsApplied == 0 || st.Position < uint64(o.position) {
				return false
			}
		}
		return true
	})
	for _, base := range readmodels.Names() {
		if after := dump(t, w.ctx, mongodb.Collection(w.db, base, 1)); !reflect.DeepEqual(before[base], after) {
			t.Errorf("%s changed under redelivery:\nbefore %v\nafter  %v", base, before[base], after)
		}
	}
}

// An event that does not decode stops its projections at that event: they
// report it, apply nothing after it, and go on once it decodes (here: a
// decoder that understands the old payload, as an upcaster would).
func TestRunnerStallsOnAPoisonEventAndResumes(t *testing.T) {
	w := newWorld(t)
	r, _ := w.runner("replica-a", w.db)
	eventually(t, "runner running", func() bool { return allIn(r, projections.StateRunning) })
	o := w.bootstrap("Acme", "owner@acme.example")

	// A UserInvited whose generation is text: the codec cannot decode it.
	meta := map[string]any{"actor": string(o.owner), "correlationId": "c-poison", "causationId": "c-poison", "requestTime": time.Now().UTC(), "schemaVersion": 1}
	poisonID, poisonPos := w.appendRaw("invitation-poisoned", domain.TypeUserInvited,
		[]byte(`{"invitationId":"poisoned","orgId":"`+string(o.id)+`","email":"pat@example.org","normalizedEmail":"pat@example.org",`+
			`"role":"member","invitedBy":"`+string(o.owner)+`","generation":"one","expiresAt":"2030-01-01T00:00:00Z"}`), meta)
	after, err := w.handlers.InviteUsers(w.ctx, commands.Request{Actor: domain.UserActor(o.owner)},
		commands.InviteUsersInput{OrgID: o.id, Emails: []string{"quinn@example.org"}})
	if err != nil {
		t.Fatal(err)
	}

	eventually(t, "all three projections stalled on the poison event", func() bool {
		for _, st := range r.Statuses() {
			if st.State != projections.StateStalled {
				return false
			}
		}
		return true
	})
	for _, st := range r.Statuses() {
		if f := st.Failing; f == nil || f.EventID != poisonID.String() || f.EventType != domain.TypeUserInvited || f.Position != poisonPos ||
			!strings.Contains(f.Error, "generation") {
			t.Errorf("%s: failing %+v", st.Name, st.Failing)
		}
		if st.Position >= poisonPos {
			t.Errorf("%s: position %d is past the poison event at %d", st.Name, st.Position, poisonPos)
		}
	}
	if err := r.Ready(); err == nil || !strings.Contains(err.Error(), poisonID.String()) {
		t.Errorf("ready: %v, want an error naming the event", err)
	}
	if pos, err := w.reader.Position(w.ctx); err != nil || pos >= poisonPos {
		t.Errorf("read models claim position %d (%v), past the poison event at %d", pos, err, poisonPos)
	}
	// Nothing after it was applied: quinn is not on the Users page.
	page, err := w.reader.Users(w.ctx, readmodels.UsersQuery{OrgID: o.id, Q: "quinn"})
	if err != nil || len(page.Items) != 0 {
		t.Errorf("an event after the stall was applied: %v %v", page.Items, err)
	}
	// Still stalled after a while: never skipped.
	time.Sleep(300 * time.Millisecond)
	if st, _ := r.Status(readmodels.UsersBase); st.State != projections.StateStalled {
		t.Fatalf("users: %s, want still stalled", st.State)
	}
	if err := r.Resume("nosuch"); !errors.Is(err, projections.ErrUnknownProjection) {
		t.Errorf("resume unknown: %v", err)
	}

	// The fix: a decoder that reads "one" as 1.
	w.setDecoder(func(msg *message.Message) (domain.Event, commands.Metadata, error) {
		if msg.UUID == poisonID.String() {
			fixed := msg.Copy()
			fixed.Payload = []byte(strings.Replace(string(msg.Payload), `"generation":"one"`, `"generation":1`, 1))
			return w.codec.DecodeMessage(fixed)
		}
		return w.codec.DecodeMessage(msg)
	})
	for _, name := range r.Names() {
		if err := r.Resume(name); err != nil {
			t.Fatal(err)
		}
	}
	w.caughtUp(after.Position)
	page, err = w.reader.Users(w.ctx, readmodels.UsersQuery{OrgID: o.id, Status: readmodels.StatusInvited})
	if err != nil {
		t.Fatal(err)
	}
	var emails []string
	for _, u := range page.Items {
		emails = append(emails, u.NormalizedEmail)
	}
	if strings.Join(emails, ",") != "pat@example.org,quinn@example.org" {
		t.Errorf("after the fix, invited: %v; want the poison event's pat and quinn after it", emails)
	}
	for _, st := range r.Statuses() {
		if st.State != projections.StateRunning || st.Failing != nil || st.Failures == 0 {
			t.Errorf("%s after resume: %+v", st.Name, st)
		}
	}
	if err := r.Resume(readmodels.UsersBase); !errors.Is(err, projections.ErrNotStalled) {
		t.Errorf("resume of a running projection: %v", err)
	}
}

// A rebuild fills a new version from history while the old one serves,
// switches, and the live runner carries on in the new version; the
// rebuilt documents equal the live ones.
func TestRunnerRebuildSwitchesVersions(t *testing.T) {
	w := newWorld(t)
	r, _ := w.runner("replica-a", w.db)
	o := w.history(w.bootstrap("Acme", "owner@acme.example"))
	w.caughtUp(o.position)
	live := map[string][]bson.M{}
	for _, base := range readmodels.Names() {
		live[base] = dump(t, w.ctx, mongodb.Collection(w.db, base, 1))
		live[base+"_lookup"] = dump(t, w.ctx, mongodb.Collection(w.db, base+"_lookup", 1))
	}

	if err := r.StartRebuild(r.Names()...); err != nil {
		t.Fatal(err)
	}
	if err := r.StartRebuild(readmodels.UsersBase); !errors.Is(err, projections.ErrRebuildRunning) {
		t.Errorf("a second rebuild while one runs: %v", err)
	}
	eventually(t, "rebuild done and the runner on version 2", func() bool {
		for _, st := range r.Statuses() {
			if st.Rebuild == nil || st.Rebuild.State != projections.RebuildDone || st.Version != 2 || st.State != projections.StateRunning {
				return false
			}
		}
		return true
	})
	versions := mongodb.NewVersions(w.db, time.Now)
	for _, name := range readmodels.Names() {
		if a, _, err := versions.Active(w.ctx, name); err != nil || a.Version != 2 {
			t.Errorf("%s: active %+v %v", name, a, err)
		}
		for _, base := range []string{name, name + "_lookup"} {
			if rebuilt := dump(t, w.ctx, mongodb.Collection(w.db, base, 2)); !reflect.DeepEqual(live[base], rebuilt) {
				t.Errorf("%s: rebuilt version differs from the live one:\nlive    %v\nrebuilt %v", base, live[base], rebuilt)
			}
		}
		st, _ := r.Status(name)
		if st.Rebuild.Events == 0 || st.Rebuild.Applied == 0 || st.Rebuild.Position == 0 {
			t.Errorf("%s: rebuild status %+v", name, st.Rebuild)
		}
	}
	// The live runner goes on in version 2.
	more, err := w.handlers.InviteUsers(w.ctx, commands.Request{Actor: domain.UserActor(o.owner)},
		commands.InviteUsersInput{OrgID: o.id, Emails: []string{"erin@example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	w.caughtUp(more.Position)
	page, err := w.reader.Users(w.ctx, readmodels.UsersQuery{OrgID: o.id, Q: "erin"})
	if err != nil || len(page.Items) != 1 {
		t.Errorf("a write after the switch: %v %v", page.Items, err)
	}
	if n, _ := mongodb.Collection(w.db, readmodels.UsersBase, 1).CountDocuments(w.ctx, bson.D{{Key: "normalizedEmail", Value: "erin@example.org"}}); n != 0 {
		t.Error("the old version was written after the switch")
	}
}

// Two replicas run the same projections: one is active, the other stands
// by and takes over when the first stops.
func TestRunnerOneActiveReplicaPerProjection(t *testing.T) {
	w := newWorld(t)
	a, stopA := w.runner("replica-a", w.db)
	eventually(t, "replica a running", func() bool { return allIn(a, projections.StateRunning) })
	b, _ := w.runner("replica-b", w.db)
	o := w.history(w.bootstrap("Acme", "owner@acme.example"))
	w.caughtUp(o.position)
	time.Sleep(200 * time.Millisecond)
	if !allIn(b, projections.StateStandby) {
		t.Fatalf("replica b: %+v", b.Statuses())
	}
	for _, st := range b.Statuses() {
		if st.EventsApplied != 0 {
			t.Errorf("standby replica b applied events: %+v", st)
		}
	}
	if err := b.Resume(readmodels.UsersBase); !errors.Is(err, projections.ErrNotStalled) {
		t.Errorf("resume on a standby replica: %v", err)
	}
	stopA()
	more, err := w.handlers.InviteUsers(w.ctx, commands.Request{Actor: domain.UserActor(o.owner)},
		commands.InviteUsersInput{OrgID: o.id, Emails: []string{"fay@example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "replica b takes over", func() bool { return allIn(b, projections.StateRunning) })
	w.caughtUp(more.Position)
	if !allIn(a, projections.StateStandby) {
		t.Errorf("stopped replica a: %+v", a.Statuses())
	}
}

// An observing runner never takes a lease, not even once no replica runs
// the projections: it shows what the running replica saved, and refuses
// to rebuild.
func TestRunnerObserverNeverProjects(t *testing.T) {
	w := newWorld(t)
	observe := func(cfg *projections.RunnerConfig) { cfg.Observe = true }
	obs, _ := w.runnerOf("replica-api", w.db, readmodels.Projections(w.db, readmodels.Options{PrepareCollection: srv.PrepareCollection()}), observe)
	o := w.history(w.bootstrap("Acme", "owner@acme.example"))
	time.Sleep(300 * time.Millisecond)
	if !allIn(obs, projections.StateStandby) {
		t.Fatalf("observer before any replica runs the projections: %+v", obs.Statuses())
	}
	a, stopA := w.runner("replica-a", w.db)
	eventually(t, "replica a takes every lease", func() bool { return allIn(a, projections.StateRunning) })
	w.caughtUp(o.position)
	eventually(t, "the observer shows the saved checkpoints", func() bool {
		for _, st := range obs.Statuses() {
			if st.State != projections.StateStandby || st.Version < 1 || st.Position < uint64(o.position) {
				return false
			}
		}
		return true
	})
	if err := obs.StartRebuild(readmodels.UsersBase); !errors.Is(err, projections.ErrObserving) {
		t.Errorf("rebuild on an observer: %v, want ErrObserving", err)
	}
	if err := obs.Ready(); err != nil {
		t.Errorf("observer not ready: %v", err)
	}

	stopA() // releases the leases: a standby replica would take them now
	more, err := w.handlers.InviteUsers(w.ctx, commands.Request{Actor: domain.UserActor(o.owner)},
		commands.InviteUsersInput{OrgID: o.id, Emails: []string{"fay@example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	for _, st := range obs.Statuses() {
		if st.State != projections.StateStandby || st.EventsApplied != 0 || st.Position >= uint64(more.Position) {
			t.Errorf("observer after the running replica stopped: %+v; want standby, nothing applied, the invitation not projected", st)
		}
	}
}

func allIn(r *projections.Runner, state projections.State) bool {
	for _, st := range r.Statuses() {
		if st.State != state {
			return false
		}
	}
	return true
}

// A poison event in the history a first version is built from stalls the
// projection the same way.
func TestRunnerStallsBuildingTheFirstVersion(t *testing.T) {
	w := newWorld(t)
	o := w.bootstrap("Acme", "owner@acme.example")
	poisonID, _ := w.appendRaw("organization-"+string(o.id), domain.TypeMemberRoleChanged, []byte(`{"orgId":`), map[string]any{"actor": "system"})
	r, _ := w.runner("replica-a", w.db)
	eventually(t, "stalled on the broken event", func() bool {
		for _, st := range r.Statuses() {
			if st.State != projections.StateStalled || st.Failing == nil || st.Failing.EventID != poisonID.String() {
				return false
			}
		}
		return true
	})
	if err := r.Ready(); err == nil {
		t.Error("ready while stalled")
	}
	// The fix: the broken event turns out to be a role change to the same role.
	w.setDecoder(func(msg *message.Message) (domain.Event, commands.Metadata, error) {
		if msg.UUID == poisonID.String() {
			return domain.MemberRoleChanged{OrgID: o.id, UserID: o.owner, From: domain.RoleOwner, To: domain.RoleOwner}, commands.Metadata{Actor: "system"}, nil
		}
		return w.codec.DecodeMessage(msg)
	})
	for _, name := range r.Names() {
		if err := r.Resume(name); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "running after the fix", func() bool { return allIn(r, projections.StateRunning) })
	page, err := w.reader.Users(w.ctx, readmodels.UsersQuery{OrgID: o.id})
	if err != nil || len(page.Items) != 1 || page.Items[0].UserID != o.owner {
		t.Errorf("users after the fix: %v %v", page.Items, err)
	}
}

// With a priority gate, the projections wait for the commands in flight
// before each event they handle, and no longer than the gate's bound.
func TestRunnerYieldsToCommands(t *testing.T) {
	w := newWorld(t)
	var gate atomic.Pointer[priority.Gate]
	gate.Store(priority.New(time.Hour))
	yield := func(cfg *projections.RunnerConfig) {
		cfg.Yield = func(ctx context.Context, written time.Time) { gate.Load().Yield(ctx, written) }
	}
	r, _ := w.runnerOf("replica-a", w.db, readmodels.Projections(w.db, readmodels.Options{PrepareCollection: srv.PrepareCollection()}), yield)
	o := w.bootstrap("Acme", "owner@acme.example")
	eventually(t, "the projections run", func() bool { return allIn(r, projections.StateRunning) })
	as := commands.Request{Actor: domain.UserActor(o.owner)}
	invite := func(email string) commands.Position {
		t.Helper()
		res, err := w.handlers.InviteUsers(w.ctx, as, commands.InviteUsersInput{OrgID: o.id, Emails: []string{email}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Position
	}
	w.caughtUp(invite("ann@example.org"))

	// A command in flight holds the next invitation back...
	gate.Load().Begin()
	held := invite("bob@example.org")
	time.Sleep(500 * time.Millisecond)
	for _, st := range r.Statuses() {
		if st.Position >= uint64(held) {
			t.Errorf("%s reached %d while a command was in flight, want it before %d", st.Name, st.Position, held)
		}
	}
	// ...until it ends.
	gate.Load().End()
	w.caughtUp(held)
	if n, waited := gate.Load().Stats(); n == 0 || waited <= 0 {
		t.Errorf("gate counted %d yields, %v waited", n, waited)
	}

	// A command that never ends holds nothing back for longer than the
	// bound.
	short := priority.New(200 * time.Millisecond)
	short.Begin()
	defer short.End()
	gate.Store(short)
	w.caughtUp(invite("cy@example.org"))
	if n, _ := short.Stats(); n == 0 {
		t.Error("the projections handled the event without waiting for the command in flight")
	}
}
