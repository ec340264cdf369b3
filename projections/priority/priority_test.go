package priority_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/orgportal/onboarding/projections/priority"
)

// yielded runs gate.Yield on a goroutine and returns a channel closed when
// it returns.
func yielded(ctx context.Context, gate *priority.Gate, written time.Time) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		gate.Yield(ctx, written)
	}()
	return done
}

// returns fails the test unless done is closed within a generous bound (a
// hang, not a speed target).
func returns(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: Yield did not return", what)
	}
}

// blocked fails the test if done is closed within a short while.
func blocked(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
		t.Fatalf("%s: Yield returned while a command was in flight", what)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestNilAndOffGatesNeverWait(t *testing.T) {
	if g := priority.New(0); g != nil {
		t.Fatalf("New(0) = %v, want nil (off)", g)
	}
	if g := priority.New(-time.Second); g != nil {
		t.Fatalf("New(-1s) = %v, want nil (off)", g)
	}
	var g *priority.Gate
	g.Begin()
	returns(t, yielded(context.Background(), g, time.Now()), "nil gate")
	g.End()
	if n, d := g.Stats(); n != 0 || d != 0 || g.MaxLag() != 0 || g.InFlight() != 0 {
		t.Errorf("nil gate reports %d yields, %v, bound %v, %d in flight", n, d, g.MaxLag(), g.InFlight())
	}
}

func TestYieldWaitsForTheCommandsInFlight(t *testing.T) {
	g := priority.New(time.Minute)
	returns(t, yielded(context.Background(), g, time.Now()), "no command in flight")
	if n, _ := g.Stats(); n != 0 {
		t.Errorf("%d yields counted with no command in flight, want 0", n)
	}

	g.Begin()
	g.Begin()
	done := yielded(context.Background(), g, time.Now())
	blocked(t, done, "two commands in flight")
	g.End()
	blocked(t, done, "one command still in flight")
	g.End()
	returns(t, done, "the last command ended")
	if n, d := g.Stats(); n != 1 || d <= 0 {
		t.Errorf("stats after one wait: %d yields, %v", n, d)
	}
	if g.InFlight() != 0 {
		t.Errorf("%d in flight after every End", g.InFlight())
	}

	// The gate is reusable: a new command holds the next event back.
	g.Begin()
	done = yielded(context.Background(), g, time.Now())
	blocked(t, done, "a later command")
	g.End()
	returns(t, done, "the later command ended")
}

func TestYieldNeverHoldsAnEventPastTheBound(t *testing.T) {
	const bound = 200 * time.Millisecond
	g := priority.New(bound)
	g.Begin()
	defer g.End()

	// An event already as old as the bound is handled at once.
	returns(t, yielded(context.Background(), g, time.Now().Add(-bound)), "an event at the bound")
	// So is one whose age is unknown.
	returns(t, yielded(context.Background(), g, time.Time{}), "an event without a written time")
	if n, _ := g.Stats(); n != 0 {
		t.Errorf("%d yields for events that must not wait", n)
	}

	// A new one waits until it is as old as the bound, never longer than
	// that while the command goes on.
	written := time.Now()
	returns(t, yielded(context.Background(), g, written), "a new event while the command goes on")
	if age := time.Since(written); age < bound {
		t.Errorf("Yield returned at age %v, before the bound %v, with a command in flight", age, bound)
	}
}

func TestYieldReturnsWhenTheContextEnds(t *testing.T) {
	g := priority.New(time.Hour)
	g.Begin()
	defer g.End()
	ctx, cancel := context.WithCancel(context.Background())
	done := yielded(ctx, g, time.Now())
	blocked(t, done, "before the cancel")
	cancel()
	returns(t, done, "after the cancel")
}

// Many commands and background handlers at once (run with -race): every
// Yield returns once the commands are over, and the count is back to 0.
func TestGateUnderConcurrency(t *testing.T) {
	g := priority.New(time.Minute)
	var commands, background sync.WaitGroup
	release := make(chan struct{})
	for range 32 {
		commands.Add(1)
		go func() {
			defer commands.Done()
			for range 200 {
				g.Begin()
				g.End()
			}
			g.Begin()
			<-release
			g.End()
		}()
	}
	done := make(chan struct{})
	for range 8 {
		background.Add(1)
		go func() {
			defer background.Done()
			for range 50 {
				g.Yield(context.Background(), time.Now())
			}
		}()
	}
	go func() {
		commands.Wait()
		background.Wait()
		close(done)
	}()
	time.Sleep(50 * time.Millisecond)
	close(release)
	returns(t, done, "every command ended")
	if g.InFlight() != 0 {
		t.Errorf("%d in flight after every End", g.InFlight())
	}
}

// An event store whose clock runs ahead of ours cannot stretch a wait past
// the bound.
func TestYieldIsBoundedWhateverTheWrittenTime(t *testing.T) {
	const bound = 100 * time.Millisecond
	g := priority.New(bound)
	g.Begin()
	defer g.End()
	start := time.Now()
	returns(t, yielded(context.Background(), g, start.Add(time.Hour)), "an event written in our future")
	if n, waited := g.Stats(); n != 1 || waited < bound {
		t.Errorf("%d yields, %v waited; want one wait of the bound %v", n, waited, bound)
	}
}
