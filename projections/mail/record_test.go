package mail_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/mail"
)

// unreachableAppends is the fixture's event store with its next appends
// failing as unreachable; written says whether the failed append was
// written nevertheless (the answer was lost), which the store's contract
// allows.
type unreachableAppends struct {
	commands.EventStore
	written bool

	mu       sync.Mutex
	failures int
}

func (s *unreachableAppends) Append(ctx context.Context, stream domain.StreamName, expected commands.Revision, meta commands.Metadata, events ...domain.Event) (commands.Position, error) {
	s.mu.Lock()
	fail := s.failures > 0
	if fail {
		s.failures--
	}
	s.mu.Unlock()
	if !fail {
		return s.EventStore.Append(ctx, stream, expected, meta, events...)
	}
	if s.written {
		if _, err := s.EventStore.Append(ctx, stream, expected, meta, events...); err != nil {
			return 0, err
		}
	}
	return 0, fmt.Errorf("test: %w", commands.ErrUnavailable)
}

// The event store is unreachable when the delivery is to be recorded: the
// handler fails (so the event comes again), and the retry records the
// outcome it remembers instead of sending the mail a second time.
func TestUnrecordedDeliveryIsRecordedOnRetryNotSentAgain(t *testing.T) {
	for name, c := range map[string]struct {
		written   bool
		permanent error
	}{
		"sent, append lost":                    {},
		"sent, append written but unanswered":  {written: true},
		"rejected, append lost":                {permanent: errors.New("550 5.1.1 no such user")},
		"rejected, append written, unanswered": {written: true, permanent: errors.New("550 5.1.1 no such user")},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			f.mailer.permanent = c.permanent
			store := &unreachableAppends{EventStore: f.store, written: c.written, failures: 1}
			r, err := mail.New(mail.Deps{
				Store: store, Tokens: f.signers, Mailer: f.mailer, Clock: f.clock.Now, PublicURL: publicURL,
				Logger: slog.New(slog.DiscardHandler),
			})
			if err != nil {
				t.Fatal(err)
			}
			inv := f.invite("once@example.test", time.Hour)
			if err := f.handle(r, inv); err == nil {
				t.Fatal("the delivery could not be recorded, yet the handler succeeded: the event would not come again")
			}
			if err := f.handle(r, inv); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if err := f.handle(r, inv); err != nil {
				t.Fatalf("redelivery: %v", err)
			}
			if attempts, _ := f.mailer.counts(); attempts != 1 {
				t.Errorf("mailer called %d times, want 1", attempts)
			}
			sent, failed := sentEvents(f.events(domain.InvitationStream(inv.InvitationID)))
			if c.permanent == nil && (len(sent) != 1 || len(failed) != 0) || c.permanent != nil && (len(sent) != 0 || len(failed) != 1) {
				t.Errorf("delivery events: sent %+v, failed %+v", sent, failed)
			}
		})
	}
}

// cancelAfterSend cancels the handler's context once the server accepted
// the mail: a shutdown (or a lost lease) that lands between the send and
// the record.
type cancelAfterSend struct {
	next   mail.Mailer
	cancel context.CancelFunc
}

func (m cancelAfterSend) Send(ctx context.Context, msg mail.Message) error {
	err := m.next.Send(ctx, msg)
	m.cancel()
	return err
}

// A mail that went out is recorded even when the handler's context ends
// right after the send, so that the reactor that runs next does not send
// it again.
func TestDeliveryIsRecordedWhenTheContextEndsAfterTheSend(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	r := f.newReactor(cancelAfterSend{next: f.mailer, cancel: cancel})
	inv := f.invite("shutdown@example.test", time.Hour)
	if err := r.Handle(ctx, inv, mail.Cause{EventID: "cause"}); err != nil {
		t.Fatalf("the mail was sent and can be recorded: %v", err)
	}
	if sent, _ := sentEvents(f.events(domain.InvitationStream(inv.InvitationID))); len(sent) != 1 {
		t.Fatalf("%d sent events, want 1", len(sent))
	}
	f.mustHandle(inv) // the next reactor
	if attempts, _ := f.mailer.counts(); attempts != 1 {
		t.Errorf("mailer called %d times, want 1", attempts)
	}
}
