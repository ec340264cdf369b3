// Package priority gives the commands a process serves precedence over the
// background work of the same process: the projections and the mail
// reactor. While a command is in flight, a background handler about to
// handle an event waits for the commands to finish, unless the event was
// written more than a bound ago; so during a burst of commands the
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
	"sync"
	"sync/atomic"
	"time"
)

// Gate counts the commands in flight and holds background work back while
// there are any. The zero value is not usable; a nil *Gate never holds
// anything back, so callers need not check whether one is configured.
type Gate struct {
	maxLag time.Duration

	inFlight atomic.Int64 // read without mu on the background's fast path
	mu       sync.Mutex
	idle     chan struct{} // closed when inFlight drops to 0; replaced when it leaves 0

	yields    atomic.Int64
	yieldedNs atomic.Int64
}

// New returns a gate that holds an event back at most until maxLag after
// it was written. maxLag <= 0 returns nil: no precedence.
func New(maxLag time.Duration) *Gate {
	if maxLag <= 0 {
		return nil
	}
	return &Gate{maxLag: maxLag}
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
		g.idle = make(chan struct{})
	}
	g.mu.Unlock()
}

// End marks the end of a command that Begin marked.
func (g *Gate) End() {
	if g == nil {
		return
	}
	g.mu.Lock()
	if g.inFlight.Add(-1) == 0 {
		close(g.idle)
	}
	g.mu.Unlock()
}

// Yield is called by background work before it handles an event written at
// written. It returns at once when no command is in flight, when the event
// is already maxLag old (or its age is unknown: written is zero), or when
// ctx ends; otherwise it waits until no command is in flight or the event
// is maxLag old, whichever comes first.
func (g *Gate) Yield(ctx context.Context, written time.Time) {
	if g == nil || written.IsZero() || g.inFlight.Load() == 0 {
		return
	}
	// written is the event store's clock: a wait never exceeds maxLag,
	// however far ahead of ours that clock runs.
	left := min(time.Until(written.Add(g.maxLag)), g.maxLag)
	if left <= 0 {
		return
	}
	g.mu.Lock()
	idle := g.idle
	busy := g.inFlight.Load() > 0
	g.mu.Unlock()
	if !busy {
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
