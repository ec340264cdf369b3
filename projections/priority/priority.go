// Package priority gives the commands a process serves precedence over the
// background work of the same process: the projections and the mail
// reactor. While a command is in flight, a background handler about to
// handle an event waits for the commands to finish, unless the event was
// written more than a bound ago. While commands keep the process busy, as
// a client sending one after the other does, it also waits through the
// short gaps between them (HoldAfter). So during a burst of commands the
// background falls behind by up to that bound, then takes its share of the
// CPUs again and catches up. A process that serves no commands, or runs no
// background work, has nothing to arbitrate.
//
// Go schedules goroutines without priorities, so on two cores the three
// projections, the mail and the embedded read-model database they write to
// would otherwise take most of the CPU time from the commands that create
// their work (BENCHMARKS.md, thirteenth run).
package priority

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Gate counts the commands in flight and holds background work back while
// there are any, and for a moment after them while commands keep the
// process busy. The zero value is not usable; a nil *Gate never holds
// anything back, so callers need not check whether one is configured.
type Gate struct {
	maxLag    time.Duration
	holdAfter time.Duration    // HoldAfter but in tests
	now       func() time.Time // the clock of the busy share; time.Now but in tests

	inFlight atomic.Int64 // commands in flight
	held     atomic.Bool  // idle is open: read without mu on the background's fast path

	mu        sync.Mutex
	idle      chan struct{} // closed when the background may go on; replaced when a command begins after that
	hold      *time.Timer   // the pending close of idle after a busy stretch, if any
	busySince time.Time     // when inFlight last left 0
	lastEnd   time.Time     // when it last dropped to 0
	busy      float64       // share of recent time with a command in flight, 0..1

	yields    atomic.Int64
	yieldedNs atomic.Int64
}

const (
	// BusyShare is the share of recent time a process must spend with a
	// command in flight for the background to be held back between
	// commands too. A client that sends its next command as soon as the
	// last is answered keeps a process busy almost all the time (the gaps
	// are its turnaround, a fraction of a millisecond); 200 commands/s of
	// a millisecond each, a fifth of it.
	BusyShare = 2.0 / 3
	// HoldAfter is how long after such a busy stretch's last command the
	// background stays held back: longer than a client takes to send its
	// next command, much shorter than the lag a reader would notice.
	HoldAfter = 2 * time.Millisecond
	// busyWindow is the time constant of the busy share's moving average:
	// a dozen back-to-back commands make a stretch busy, and a pause of a
	// few times this makes it idle again.
	busyWindow = 20 * time.Millisecond
)

// New returns a gate that holds an event back at most until maxLag after
// it was written. maxLag <= 0 returns nil: no precedence.
func New(maxLag time.Duration) *Gate {
	if maxLag <= 0 {
		return nil
	}
	return &Gate{maxLag: maxLag, holdAfter: HoldAfter, now: time.Now}
}

// MaxLag is the bound New was given (0 for a nil gate).
func (g *Gate) MaxLag() time.Duration {
	if g == nil {
		return 0
	}
	return g.maxLag
}

// Begin marks a command in flight; End must follow it.
func (g *Gate) Begin() {
	if g == nil {
		return
	}
	g.mu.Lock()
	if g.inFlight.Add(1) == 1 {
		g.busySince = g.now()
		if g.hold != nil {
			// Still holding after the last stretch: idle stays open.
			g.hold.Stop()
			g.hold = nil
		} else {
			g.idle = make(chan struct{})
			g.held.Store(true)
		}
	}
	g.mu.Unlock()
}

// End marks the end of a command that Begin marked. When the commands
// have kept the process busy (BusyShare), the background stays held back
// for HoldAfter more, so that a client sending its next command at once
// does not meet background work started in between.
func (g *Gate) End() {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inFlight.Add(-1) != 0 {
		return
	}
	now := g.now()
	g.busy = nextBusyShare(g.busy, g.busySince.Sub(g.lastEnd), now.Sub(g.busySince))
	g.lastEnd = now
	if g.busy < BusyShare {
		g.release()
		return
	}
	var hold *time.Timer
	hold = time.AfterFunc(g.holdAfter, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.hold == hold { // not stopped by a Begin that took over
			g.hold = nil
			g.release()
		}
	})
	g.hold = hold
}

// release lets the background go on; g.mu is held.
func (g *Gate) release() {
	close(g.idle)
	g.held.Store(false)
}

// nextBusyShare folds a stretch of idle then busy time into the share of
// time busy, a moving average over about busyWindow. A long idle stretch
// (the first: since the zero time) leaves almost nothing of the old share.
// Both stretches count up to an hour, which keeps their sum from
// overflowing.
func nextBusyShare(share float64, idle, busy time.Duration) float64 {
	idle, busy = min(max(idle, 0), time.Hour), min(max(busy, 0), time.Hour)
	total := idle + busy
	if total <= 0 {
		return share
	}
	keep := math.Exp(-float64(total) / float64(busyWindow))
	return share*keep + (1-keep)*float64(busy)/float64(total)
}

// Yield is called by background work before it handles an event written at
// written. It returns at once when the gate holds nothing back, when the
// event is already maxLag old (or its age is unknown: written is zero), or
// when ctx ends; otherwise it waits until the gate lets the background go
// on or the event is maxLag old, whichever comes first.
func (g *Gate) Yield(ctx context.Context, written time.Time) {
	if g == nil || written.IsZero() || !g.held.Load() {
		return
	}
	// written is the event store's clock: a wait never exceeds maxLag,
	// however far ahead of ours that clock runs.
	left := min(time.Until(written.Add(g.maxLag)), g.maxLag)
	if left <= 0 {
		return
	}
	g.mu.Lock()
	idle, held := g.idle, g.held.Load()
	g.mu.Unlock()
	if !held {
		return
	}
	start := time.Now()
	timer := time.NewTimer(left)
	select {
	case <-idle:
	case <-timer.C:
	case <-ctx.Done():
	}
	timer.Stop()
	g.yields.Add(1)
	g.yieldedNs.Add(int64(time.Since(start)))
}

// Stats reports how many times background work waited for commands and
// for how long in all.
func (g *Gate) Stats() (yields int64, yielded time.Duration) {
	if g == nil {
		return 0, 0
	}
	return g.yields.Load(), time.Duration(g.yieldedNs.Load())
}

// InFlight is the number of commands in flight.
func (g *Gate) InFlight() int64 {
	if g == nil {
		return 0
	}
	return g.inFlight.Load()
}
