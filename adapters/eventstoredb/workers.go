package eventstoredb

import (
	"sync/atomic"
	"time"
)

// callWorkers runs untilDone's calls. A goroutine started for each call
// begins with a small stack and grows it through the client's gRPC path
// every time (runtime.newstack was 3 % of the portal's CPU with one client
// inviting); a worker that stays for the next call keeps the stack it
// grew. Workers come and go with the load: run starts one whenever none is
// idle, and one left idle for workerIdle ends.
var callWorkers = newWorkers(workerIdle)

const (
	workerIdle = 10 * time.Second
	// workerCalls bounds the calls one worker runs, so that a stack grown by
	// an unusual call is not kept for ever.
	workerCalls = 1 << 16
)

// workers is a pool of goroutines without a bound: run never waits.
type workers struct {
	work chan func()
	idle time.Duration
	live *atomic.Int32 // workers running, idle or not
}

func newWorkers(idle time.Duration) workers {
	return workers{work: make(chan func()), idle: idle, live: new(atomic.Int32)}
}

// run runs f on an idle worker, or on a new one.
func (w workers) run(f func()) {
	select {
	case w.work <- f:
	default:
		go w.worker(f)
	}
}

func (w workers) worker(f func()) {
	w.live.Add(1)
	defer w.live.Add(-1)
	idle := time.NewTimer(w.idle)
	defer idle.Stop()
	for range workerCalls {
		f()
		idle.Reset(w.idle)
		select {
		case f = <-w.work:
		case <-idle.C:
			return
		}
	}
}
