package bench

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// loadSpec is one load: Concurrency clients in a closed loop (each sends
// its next request when the previous answered) or, with Rate > 0, an open
// loop that schedules Rate requests/s whatever the answers, for Duration
// or Count requests, whichever ends first.
type loadSpec struct {
	Concurrency int
	Rate        float64
	Duration    time.Duration
	Count       int
}

// opFunc performs operation seq (0, 1, ...). Its latency is measured by
// the driver: from the call in a closed loop, from the scheduled time in an
// open loop, so that a portal that falls behind cannot hide its queue
// (coordinated omission).
type opFunc func(ctx context.Context, seq int) error

// sample is one successful operation: when it was started or scheduled,
// relative to the start of the load, and how long it took.
type sample struct {
	at, lat time.Duration
}

// loadResult is a load's summary and its samples in completion order.
type loadResult struct {
	Latency
	samples []sample
}

// maxErrorKinds bounds ErrorKinds; further kinds count as "other".
const maxErrorKinds = 8

// recorder collects samples and errors from concurrent clients.
type recorder struct {
	mu      sync.Mutex
	samples []sample
	errors  int
	kinds   map[string]int
}

func (r *recorder) record(at, lat time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.samples = append(r.samples, sample{at: at, lat: lat})
		return
	}
	r.errors++
	if r.kinds == nil {
		r.kinds = map[string]int{}
	}
	kind := errKind(err)
	if _, known := r.kinds[kind]; !known && len(r.kinds) >= maxErrorKinds {
		kind = "other"
	}
	r.kinds[kind]++
}

func (r *recorder) result(elapsed time.Duration, missed int) loadResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	lat := make([]time.Duration, len(r.samples))
	for i, s := range r.samples {
		lat[i] = s.lat
	}
	res := loadResult{Latency: summarize(lat, elapsed), samples: r.samples}
	res.Errors, res.ErrorKinds, res.Missed = r.errors, r.kinds, missed
	return res
}

// runLoad runs op under spec until it is done or ctx ends.
func runLoad(ctx context.Context, spec loadSpec, op opFunc) loadResult {
	if spec.Rate > 0 {
		return runOpenLoop(ctx, spec, op)
	}
	var rec recorder
	var next atomic.Int64
	start := time.Now()
	var deadline time.Time
	if spec.Duration > 0 {
		deadline = start.Add(spec.Duration)
	}
	var wg sync.WaitGroup
	for range max(spec.Concurrency, 1) {
		wg.Go(func() {
			for ctx.Err() == nil {
				seq := int(next.Add(1) - 1)
				if spec.Count > 0 && seq >= spec.Count {
					return
				}
				t0 := time.Now()
				if !deadline.IsZero() && t0.After(deadline) {
					return
				}
				err := op(ctx, seq)
				rec.record(t0.Sub(start), time.Since(t0), err)
			}
		})
	}
	wg.Wait()
	return rec.result(time.Since(start), 0)
}

// tick is one scheduled request of an open loop.
type tick struct {
	seq int
	at  time.Time
}

// runOpenLoop schedules spec.Rate requests/s for spec.Concurrency clients.
// A tick that finds every client busy and the small queue full is not sent
// and counts as missed.
func runOpenLoop(ctx context.Context, spec loadSpec, op opFunc) loadResult {
	var rec recorder
	clients := max(spec.Concurrency, 1)
	ticks := make(chan tick, clients)
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for t := range ticks {
				if ctx.Err() != nil {
					continue // drain
				}
				err := op(ctx, t.seq)
				rec.record(t.at.Sub(start), time.Since(t.at), err)
			}
		})
	}

	interval := max(time.Duration(float64(time.Second)/spec.Rate), time.Millisecond)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	missed, sent := 0, 0
	done := func(now time.Time) bool {
		return ctx.Err() != nil ||
			spec.Count > 0 && sent >= spec.Count ||
			spec.Duration > 0 && now.Sub(start) >= spec.Duration
	}
	for now := start; !done(now); {
		// Catch up on every tick due by now: at high rates the ticker's
		// millisecond floor releases several per wake-up.
		due := int(now.Sub(start).Seconds()*spec.Rate) + 1
		for ; sent < due && !(spec.Count > 0 && sent >= spec.Count); sent++ {
			at := start.Add(time.Duration(float64(sent) / spec.Rate * float64(time.Second)))
			if spec.Duration > 0 && at.Sub(start) >= spec.Duration {
				break
			}
			select {
			case ticks <- tick{seq: sent, at: at}:
			default:
				missed++
			}
		}
		select {
		case <-ctx.Done():
		case now = <-ticker.C:
		}
	}
	close(ticks)
	wg.Wait()
	return rec.result(time.Since(start), missed)
}

// errKind names a failure for ErrorKinds without its message: transport
// errors quote the URL, and some URLs hold a link token.
func errKind(err error) string {
	var se *statusError
	var f failure
	var ne net.Error
	switch {
	case errors.As(err, &se):
		return se.kind()
	case errors.As(err, &f):
		return f.Error()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled or timed out"
	case errors.As(err, &ne) && ne.Timeout():
		return "transport: timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "transport: connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "transport: connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "transport: connection closed"
	default:
		return "transport: other"
	}
}

// failure is an error whose message is safe to show and short enough to
// serve as its own kind.
type failure string

func (f failure) Error() string { return string(f) }
