package priority

import (
	"context"
	"math"
	"testing"
	"time"
)

const ms = time.Millisecond

// share folds n stretches of idle then busy time into a share starting at 0.
func share(n int, idle, busy time.Duration) float64 {
	s := 0.0
	for range n {
		s = nextBusyShare(s, idle, busy)
	}
	return s
}

func TestBusyShareTellsBackToBackCommandsFromASteadyRate(t *testing.T) {
	cases := []struct {
		name   string
		got    float64
		busy   bool
		lo, hi float64
	}{
		// One client, the next command sent as the last is answered.
		{"back to back", share(200, ms/5, 6*ms/5), true, 0.85, 0.86},
		// 200 commands/s, 1 ms each (the lag stage).
		{"200/s", share(200, 4*ms, ms), false, 0.19, 0.21},
		// 400/s, 1.2 ms each.
		{"400/s", share(400, 13*ms/10, 6*ms/5), false, 0.47, 0.49},
		// A lone command after a long pause, the first since the zero time.
		{"first", nextBusyShare(0, time.Since(time.Time{}), ms), false, 0, 1e-6},
	}
	for _, c := range cases {
		if c.got < c.lo || c.got > c.hi {
			t.Errorf("%s: busy share %.4f, want %.2f–%.2f", c.name, c.got, c.lo, c.hi)
		}
		if busy := c.got >= BusyShare; busy != c.busy {
			t.Errorf("%s: busy share %.4f counts as busy = %v, want %v", c.name, c.got, busy, c.busy)
		}
	}
	// A pause of a few windows after a busy stretch: no longer busy.
	if s := nextBusyShare(share(50, ms/5, ms), 3*busyWindow, ms); s >= BusyShare {
		t.Errorf("busy share %.3f after a pause of %v, want below %.3f", s, 3*busyWindow, BusyShare)
	}
	// A stretch too long to add to another (the first, since the zero
	// time) still counts as one.
	if s := nextBusyShare(0.9, time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)); s < 0.49 || s > 0.51 {
		t.Errorf("busy share %v after two stretches of the longest duration each, want 0.5", s)
	}
	// Zero and negative stretches (a clock stepping back) change nothing
	// and never make NaN.
	for _, d := range [][2]time.Duration{{0, 0}, {-ms, 0}, {0, -ms}, {-ms, -ms}} {
		if s := nextBusyShare(0.5, d[0], d[1]); s != 0.5 || math.IsNaN(s) {
			t.Errorf("nextBusyShare(0.5, %v, %v) = %v, want 0.5", d[0], d[1], s)
		}
	}
}

// TestBusyStretchHoldsTheBackgroundBetweenCommands drives the gate with a
// clock of its own and a hold that outlasts the test: only the busy share
// decides whether the background is held back between commands.
func TestBusyStretchHoldsTheBackgroundBetweenCommands(t *testing.T) {
	g := New(time.Hour)
	g.holdAfter = time.Hour
	clock := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	g.now = func() time.Time { return clock }
	command := func(idle, busy time.Duration) {
		clock = clock.Add(idle)
		g.Begin()
		clock = clock.Add(busy)
		g.End()
	}

	command(time.Second, ms)
	if g.held.Load() {
		t.Fatal("a lone command left the background held back")
	}
	for range 50 {
		command(ms/5, ms)
	}
	if !g.held.Load() {
		t.Fatalf("back-to-back commands (busy share %.2f) did not hold the background back after the last", g.busy)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.Yield(context.Background(), time.Now())
	}()
	select {
	case <-done:
		t.Fatal("Yield returned during the hold after a busy stretch")
	case <-time.After(100 * time.Millisecond):
	}
	// The hold, too, never keeps an event past the bound.
	old := make(chan struct{})
	go func() {
		defer close(old)
		g.Yield(context.Background(), time.Now().Add(-g.maxLag+100*time.Millisecond))
	}()
	select {
	case <-old:
	case <-time.After(10 * time.Second):
		t.Fatal("Yield held an event past the bound during a hold")
	}
	if !g.held.Load() {
		t.Fatal("the hold ended early")
	}
	// The next command takes over the hold; the waiter goes on waiting.
	command(ms/5, ms)
	select {
	case <-done:
		t.Fatal("Yield returned while back-to-back commands went on")
	case <-time.After(50 * time.Millisecond):
	}
	// A pause, then a command: the stretch is over and the waiter goes on.
	command(time.Second, ms)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Yield still waiting after the busy stretch ended")
	}
	if g.held.Load() || g.hold != nil {
		t.Errorf("after the stretch: held %v, hold pending %v", g.held.Load(), g.hold != nil)
	}
	if n, _ := g.Stats(); n != 2 {
		t.Errorf("%d yields counted, want 2", n)
	}
}
