package main

// The event history as the official client reads it from $all, and the
// cross-stream invariants the crash and fault tests check on it. A command
// writes to several streams one append after another (the event store has
// no transactions across streams), so a process that dies, or an event
// store that goes away, between two appends leaves part of a use case
// written. These checks say which parts the domain tolerates and which it
// must never show.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/orgportal/onboarding/adapters/eventstoredb"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// storedEvent is one domain event of $all, decoded by the portal's codec.
type storedEvent struct {
	Stream   string
	Position uint64 // commit position
	Type     string
	Event    domain.Event
	Meta     commands.Metadata
}

// eventHistory is everything the event store holds, by stream and by
// commit position.
type eventHistory struct {
	all       []storedEvent
	streams   map[string][]storedEvent
	positions map[uint64]storedEvent
}

func (h *eventHistory) stream(name domain.StreamName) []storedEvent { return h.streams[string(name)] }

// has reports whether stream holds an event for which match is true.
func (h *eventHistory) has(name domain.StreamName, match func(domain.Event) bool) bool {
	for _, e := range h.stream(name) {
		if match(e.Event) {
			return true
		}
	}
	return false
}

// dialEventStore connects the official client to connStr.
func dialEventStore(t *testing.T, connStr string) *esdb.Client {
	t.Helper()
	conf, err := esdb.ParseConnectionString(connStr)
	if err != nil {
		t.Fatalf("ParseConnectionString(%q): %v", connStr, err)
	}
	conf.Logger = esdb.NoopLogging()
	client, err := esdb.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// readHistory reads $all from the start through the official client and
// decodes every event with the portal's own codec: an event it cannot
// decode fails the test, as it would stall a projection.
func readHistory(t *testing.T, client *esdb.Client) *eventHistory {
	t.Helper()
	registry, err := domain.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	codec, err := eventstoredb.NewCodec(registry)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rs, err := client.ReadAll(ctx, esdb.ReadAllOptions{From: esdb.Start{}}, 100_000_000)
	if err != nil {
		t.Fatalf("read $all: %v", err)
	}
	defer rs.Close()
	h := &eventHistory{streams: map[string][]storedEvent{}, positions: map[uint64]storedEvent{}}
	for {
		resolved, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read $all: %v", err)
		}
		rec := resolved.OriginalEvent()
		if rec == nil || strings.HasPrefix(rec.StreamID, "$") || strings.HasPrefix(rec.EventType, "$") {
			continue // the server's own
		}
		ev, meta, err := codec.Decode(rec)
		if err != nil {
			t.Fatalf("$all position %d: %v", rec.Position.Commit, err)
		}
		se := storedEvent{Stream: rec.StreamID, Position: rec.Position.Commit, Type: rec.EventType, Event: ev, Meta: meta}
		if prev, dup := h.positions[se.Position]; dup {
			t.Fatalf("two events at commit position %d: %s in %s and %s in %s", se.Position, prev.Type, prev.Stream, se.Type, se.Stream)
		}
		h.all = append(h.all, se)
		h.streams[se.Stream] = append(h.streams[se.Stream], se)
		h.positions[se.Position] = se
	}
	return h
}

// headPositionOf is the commit position of the last event in $all, read
// backwards (one event).
func headPositionOf(t *testing.T, client *esdb.Client) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rs, err := client.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		t.Fatalf("read $all backwards: %v", err)
	}
	defer rs.Close()
	ev, err := rs.Recv()
	if errors.Is(err, io.EOF) {
		return 0
	}
	if err != nil {
		t.Fatalf("read $all backwards: %v", err)
	}
	return ev.OriginalEvent().Position.Commit
}

// readStream returns the events of one stream whose type is typ (all of
// them when typ is empty); a missing stream is empty.
func readStream(t *testing.T, client *esdb.Client, name domain.StreamName, typ string) []*esdb.RecordedEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rs, err := client.ReadStream(ctx, string(name), esdb.ReadStreamOptions{From: esdb.Start{}}, 100_000)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	defer rs.Close()
	var out []*esdb.RecordedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		var esErr *esdb.Error
		if errors.As(err, &esErr) && esErr.Code() == esdb.ErrorCodeResourceNotFound {
			return nil
		}
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		if typ == "" || ev.Event.EventType == typ {
			out = append(out, ev.Event)
		}
	}
}

// consistencyReport is what checkConsistency found: problems break a
// promise; the tolerated leftovers are logged and counted.
type consistencyReport struct {
	problems []string
	// abandonedHolds are addresses held for an invitation whose stream was
	// never written (the process died, or the store went away, between the
	// two appends of an invitation). The domain tolerates them: the next
	// invitation of the address takes the hold over after about a second
	// (commands.holdEnded).
	abandonedHolds []string
	members        int
	invitations    int
}

func (r *consistencyReport) problem(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// checkConsistency checks the invariants that must hold across streams
// whatever was interrupted, as long as every client repeated its command
// until it got an answer:
//
//   - every invitation has its membership hold, written before it;
//   - every accepted invitation and every verified registration made a
//     member (or, for a registration, was rejected afterwards): the
//     client's repeat resumes a join that stopped part-way;
//   - every member has an open account, is linked for sign-in, and holds
//     the reservation of their address;
//   - no (organization, normalized address) has two members at any point;
//   - no address is reserved for a user who is not a member (that would
//     lock the person out: every later join would be refused).
func checkConsistency(h *eventHistory) consistencyReport {
	var r consistencyReport
	type orgEmail struct {
		org   domain.OrgID
		email string
	}
	joined := map[domain.UserID]domain.MemberJoined{}
	removed := map[domain.UserID]bool{}
	for _, e := range h.all {
		switch ev := e.Event.(type) {
		case domain.UserInvited:
			r.invitations++
			email, err := domain.ParseEmail(ev.Email)
			if err != nil {
				r.problem("invitation %s: address %q does not parse: %v", ev.InvitationID, ev.Email, err)
				continue
			}
			held := false
			for _, m := range h.stream(domain.MembershipStream(ev.OrgID, email)) {
				if hold, ok := m.Event.(domain.MembershipInvitationHeld); ok && hold.InvitationID == ev.InvitationID && m.Position < e.Position {
					held = true
				}
			}
			if !held {
				r.problem("invitation %s of %s has no membership hold written before it", ev.InvitationID, ev.Email)
			}
		case domain.MembershipInvitationHeld:
			if len(h.stream(domain.InvitationStream(ev.InvitationID))) == 0 {
				r.abandonedHolds = append(r.abandonedHolds, fmt.Sprintf("%s (invitation %s never written)", e.Stream, ev.InvitationID))
			}
		case domain.MemberJoined:
			joined[ev.UserID] = ev
		case domain.MemberRemoved:
			removed[ev.UserID] = true
		}
	}

	// At most one member per organization and address, at every moment.
	active := map[orgEmail]map[domain.UserID]bool{}
	for _, e := range h.all {
		switch ev := e.Event.(type) {
		case domain.MemberJoined:
			k := orgEmail{ev.OrgID, ev.NormalizedEmail}
			if active[k] == nil {
				active[k] = map[domain.UserID]bool{}
			}
			active[k][ev.UserID] = true
			if len(active[k]) > 1 {
				r.problem("%s is a member of %s twice: users %v", ev.NormalizedEmail, ev.OrgID, sortedKeys(active[k]))
			}
		case domain.MemberRemoved:
			delete(active[orgEmail{ev.OrgID, ev.NormalizedEmail}], ev.UserID)
		}
	}

	for _, e := range h.all {
		switch ev := e.Event.(type) {
		case domain.InvitationAccepted:
			if _, ok := joined[ev.UserID]; !ok {
				r.problem("invitation %s was accepted by user %s, who never joined", ev.InvitationID, ev.UserID)
			}
		case domain.RegistrationEmailVerified:
			rejected := h.has(domain.RegistrationStream(ev.RegistrationID), func(x domain.Event) bool {
				_, ok := x.(domain.RegistrationRejected)
				return ok
			})
			if _, ok := joined[ev.UserID]; !ok && !rejected {
				r.problem("registration %s was verified for user %s, who never joined and was not rejected", ev.RegistrationID, ev.UserID)
			}
		}
	}

	for user, ev := range joined {
		if removed[user] {
			continue
		}
		r.members++
		account := domain.AccountState{}
		for _, a := range h.stream(domain.UserStream(user)) {
			account = domain.EvolveAccount(account, a.Event)
		}
		if !account.Exists() || account.Closed {
			r.problem("member %s (%s) has no open account (exists %v, closed %v)", user, ev.Email, account.Exists(), account.Closed)
		}
		email, err := domain.ParseEmail(ev.Email)
		if err != nil {
			r.problem("member %s: address %q does not parse: %v", user, ev.Email, err)
			continue
		}
		login := domain.LoginState{}
		for _, l := range h.stream(domain.LoginStream(email)) {
			login = domain.EvolveLogin(login, l.Event)
		}
		linked := false
		for _, acc := range login.Accounts {
			linked = linked || acc.UserID == user
		}
		if !linked {
			r.problem("member %s (%s) is not linked for sign-in", user, ev.Email)
		}
		guard := foldMembership(h, domain.MembershipStream(ev.OrgID, email))
		if guard.Status != domain.MembershipActive || guard.UserID != user {
			r.problem("member %s (%s): the address is reserved for %q (%s), not for them", user, ev.Email, guard.UserID, guard.Status)
		}
	}

	// Reservations for somebody who is not a member lock the address.
	for name := range h.streams {
		if domain.StreamName(name).Category() != domain.CategoryMembership {
			continue
		}
		guard := foldMembership(h, domain.StreamName(name))
		if guard.Status != domain.MembershipActive {
			continue
		}
		if _, ok := joined[guard.UserID]; !ok || removed[guard.UserID] {
			r.problem("%s is reserved for user %s, who is not a member: the address is locked", name, guard.UserID)
		}
	}
	sort.Strings(r.problems)
	sort.Strings(r.abandonedHolds)
	return r
}

func foldMembership(h *eventHistory, name domain.StreamName) domain.MembershipState {
	s := domain.MembershipState{}
	for _, e := range h.stream(name) {
		s = domain.EvolveMembership(s, e.Event)
	}
	return s
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// reportConsistency fails t for every problem and logs the tolerated
// leftovers.
func reportConsistency(t *testing.T, r consistencyReport) {
	t.Helper()
	for _, p := range r.problems {
		t.Error(p)
	}
	for _, a := range r.abandonedHolds {
		t.Logf("tolerated: abandoned invitation hold %s", a)
	}
}
