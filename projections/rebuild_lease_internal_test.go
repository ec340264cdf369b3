package projections

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// scriptedLeaser answers Renew from a script (then keeps answering its last
// line) and counts the calls.
type scriptedLeaser struct {
	mu     sync.Mutex
	script []renewAnswer
	calls  int
}

type renewAnswer struct {
	ok  bool
	err error
}

func (l *scriptedLeaser) Acquire(context.Context, string, string, time.Duration) (bool, error) {
	return true, nil
}

func (l *scriptedLeaser) Release(context.Context, string, string) error { return nil }

func (l *scriptedLeaser) Renew(context.Context, string, string, time.Duration) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.script[min(l.calls, len(l.script)-1)]
	l.calls++
	return a.ok, a.err
}

func (l *scriptedLeaser) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls
}

// runRenewals runs renewLeases until it cancels or has renewed at least
// calls times, and returns the cancellation cause (nil if it did not
// cancel).
func runRenewals(t *testing.T, l *scriptedLeaser, ttl time.Duration, calls int) error {
	t.Helper()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		renewLeases(ctx, l, []string{"users.rebuild"}, "me", ttl, slog.New(slog.DiscardHandler), cancel)
	}()
	for l.count() < calls && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(time.Millisecond):
		}
	}
	cause := context.Cause(ctx)
	cancel(nil)
	<-done
	return cause
}

func TestRebuildLeaseSurvivesFailedRenewalsWithinItsTerm(t *testing.T) {
	// Renewals fail now and then (a busy database), each time followed by
	// one that succeeds well within the term: the rebuild goes on.
	slow := renewAnswer{err: context.DeadlineExceeded}
	fine := renewAnswer{ok: true}
	l := &scriptedLeaser{script: []renewAnswer{slow, fine, slow, fine, fine, fine}}
	if cause := runRenewals(t, l, time.Hour, 0); cause != nil {
		t.Fatalf("cancelled before any renewal: %v", cause)
	}
	// A term of an hour, renewals every 20 minutes: drive the ticks with a
	// short term instead, where two failures in a row still fit (3 ticks a
	// term).
	l = &scriptedLeaser{script: []renewAnswer{slow, fine, slow, fine, fine, fine}}
	if cause := runRenewals(t, l, 600*time.Millisecond, 6); cause != nil {
		t.Fatalf("rebuild cancelled although every failed renewal was followed by a good one: %v", cause)
	}
}

func TestRebuildLeaseLostToAnotherOwnerCancelsAtOnce(t *testing.T) {
	l := &scriptedLeaser{script: []renewAnswer{{ok: true}, {ok: false}}}
	cause := runRenewals(t, l, 30*time.Millisecond, 100)
	if cause == nil || !strings.Contains(cause.Error(), "another owner") {
		t.Fatalf("cause = %v, want the lease lost to another owner", cause)
	}
	if n := l.count(); n != 2 {
		t.Fatalf("renewals = %d, want 2 (cancelled at the first refusal)", n)
	}
}

func TestRebuildLeaseNotRenewedForATermCancels(t *testing.T) {
	// (That failures are retried within the term is the first test's.)
	down := errors.New("read-model database unreachable")
	l := &scriptedLeaser{script: []renewAnswer{{err: down}}}
	cause := runRenewals(t, l, 30*time.Millisecond, 1000)
	if cause == nil || !errors.Is(cause, down) || !strings.Contains(cause.Error(), "not renewed") {
		t.Fatalf("cause = %v, want the lease lost after a term without renewal, wrapping the failure", cause)
	}
}
