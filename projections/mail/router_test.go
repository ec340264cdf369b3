package mail_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/orgportal/onboarding/adapters/eventstoredb"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/mail"
	"github.com/orgportal/onboarding/projections/priority"
)

// runRouter runs the reactor behind the real subscriber until the returned
// stop is called; configure, when given, changes the router's
// configuration first.
func (f *fixture) runRouter(m mail.Mailer, checkpoints eventstoredb.CheckpointStore, configure ...func(*mail.RouterConfig)) (stop func()) {
	f.t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	sub, err := eventstoredb.NewSubscriber(f.conn, eventstoredb.SubscriberConfig{
		ConsumerGroup: mail.HandlerName, Checkpoints: checkpoints,
		Events: &eventstoredb.EventFilter{Types: mail.EventTypes()}, Logger: quiet,
		NackDelay: 10 * time.Millisecond,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	cfg := mail.RouterConfig{
		Subscriber: sub, Decode: f.codec.DecodeMessage, Logger: quiet,
		Retry: mail.Retry{MaxRetries: 5, InitialInterval: 10 * time.Millisecond, MaxInterval: 50 * time.Millisecond},
	}
	for _, c := range configure {
		c(&cfg)
	}
	router, err := mail.NewRouter(f.newReactor(m), cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- router.Run(ctx) }()
	select {
	case <-router.Running():
	case err := <-done:
		f.t.Fatalf("router stopped: %v", err)
	}
	return func() {
		cancel()
		if err := <-done; err != nil {
			f.t.Errorf("router: %v", err)
		}
		_ = sub.Close()
	}
}

// waitSent waits until the invitation's delivery of generation is recorded.
func (f *fixture) waitSent(id domain.InvitationID, generation int) {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		sent, failed := sentEvents(f.events(domain.InvitationStream(id)))
		for _, s := range sent {
			if s.Generation == generation {
				return
			}
		}
		for _, s := range failed {
			if s.Generation == generation {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.t.Fatalf("invitation %s generation %d: no delivery recorded", id, generation)
}

func TestRouterRetriesTransientFailuresAndDeliversOnce(t *testing.T) {
	f := newFixture(t)
	f.mailer.failTransient = 2
	checkpoints := eventstoredb.NewMemoryCheckpoints()
	stop := f.runRouter(f.mailer, checkpoints)
	inv := f.invite("flaky@example.test", time.Hour)
	f.waitSent(inv.InvitationID, 1)
	stop()
	if attempts, delivered := f.mailer.counts(); attempts != 3 || delivered != 1 {
		t.Fatalf("attempts %d, delivered %d; want 3 attempts and one delivery", attempts, delivered)
	}
	if files := f.files(); len(files) != 1 {
		t.Fatalf("outbox has %v", files)
	}
}

// With a priority gate, the reactor sends nothing while a command is in
// flight (within the gate's bound), and sends once it ends.
func TestRouterYieldsToCommands(t *testing.T) {
	f := newFixture(t)
	gate := priority.New(time.Hour)
	stop := f.runRouter(f.mailer, eventstoredb.NewMemoryCheckpoints(), func(cfg *mail.RouterConfig) {
		cfg.Yield = func(msg *message.Message) { gate.Yield(msg.Context(), eventstoredb.MessageWritten(msg)) }
	})
	defer stop()
	gate.Begin()
	inv := f.invite("patient@example.test", time.Hour)
	time.Sleep(500 * time.Millisecond)
	if attempts, _ := f.mailer.counts(); attempts != 0 {
		t.Fatalf("%d delivery attempts while a command was in flight, want 0", attempts)
	}
	gate.End()
	f.waitSent(inv.InvitationID, 1)
	if n, _ := gate.Stats(); n != 1 {
		t.Errorf("gate counted %d yields, want 1", n)
	}
}

func TestReplayFromTheStartSendsOnlyWhatWasNeverSent(t *testing.T) {
	f := newFixture(t)
	stop := f.runRouter(f.mailer, eventstoredb.NewMemoryCheckpoints())
	first := f.invite("first@example.test", time.Hour)
	f.waitSent(first.InvitationID, 1)
	stop()

	// While no reactor runs: one invitation that is still valid and one
	// that will have expired by the time the reactor is back.
	stale := f.invite("stale@example.test", time.Minute)
	pending := f.invite("pending@example.test", time.Hour)
	f.clock.Advance(2 * time.Minute)

	// A reactor with no checkpoint reads the whole history again.
	stop = f.runRouter(f.mailer, eventstoredb.NewMemoryCheckpoints())
	f.waitSent(pending.InvitationID, 1)
	// The stale invitation comes before the pending one in $all, so it was
	// handled (and skipped) already.
	stop()
	if sent, failed := sentEvents(f.events(domain.InvitationStream(stale.InvitationID))); len(sent)+len(failed) != 0 {
		t.Errorf("expired invitation was mailed: %+v %+v", sent, failed)
	}
	if attempts, _ := f.mailer.counts(); attempts != 2 {
		t.Errorf("mailer called %d times, want 2 (first, then pending)", attempts)
	}
	if sent, _ := sentEvents(f.events(domain.InvitationStream(first.InvitationID))); len(sent) != 1 {
		t.Errorf("first invitation: %d sent events after replay, want 1", len(sent))
	}
}
