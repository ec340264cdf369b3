package bench

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// cpuNow is the portal's CPU time so far, or -1 when it cannot be read.
func (r *runner) cpuNow() float64 {
	if r.pid <= 0 {
		return -1
	}
	p, err := readProc(r.pid)
	if err != nil {
		return -1
	}
	return p.CPUSeconds
}

// Settling: after a load, the portal keeps working (projections catching
// up, the mail reactor writing one mail per invitation). The next stage
// should not pay for that, so the harness waits until the portal's CPU use
// falls below settleIdleCores, for at most SettleTimeout.
const (
	settleIdleCores = 0.10
	settleWindow    = 500 * time.Millisecond
)

// settle waits for the portal to go idle and records the wait in s.
func (r *runner) settle(ctx context.Context, s *Stage) {
	if r.pid <= 0 || r.o.SettleTimeout <= 0 {
		return
	}
	start := time.Now()
	last := r.cpuNow()
	cores := -1.0
	for time.Since(start) < r.o.SettleTimeout {
		select {
		case <-ctx.Done():
			return
		case <-time.After(settleWindow):
		}
		now := r.cpuNow()
		if now < 0 || last < 0 {
			return
		}
		cores = (now - last) / settleWindow.Seconds()
		last = now
		if cores < settleIdleCores {
			s.SettleS = time.Since(start).Seconds()
			return
		}
	}
	s.SettleS = time.Since(start).Seconds()
	s.note("the portal was still busy (%.2f cores) after the %v settle wait; the next stage shares the CPU with that work", cores, r.o.SettleTimeout)
}

// measureCommands runs a command load between two CPU readings and a
// settle wait, and fills s.
func (r *runner) measureCommands(ctx context.Context, s *Stage, spec loadSpec, op opFunc) loadResult {
	cpu0 := r.cpuNow()
	res := r.load(ctx, s, spec, op)
	r.account(ctx, s, cpu0, r.cpuNow(), res)
	return res
}

// load runs a command load and records it in s.
func (r *runner) load(ctx context.Context, s *Stage, spec loadSpec, op opFunc) loadResult {
	s.Concurrency, s.Rate = spec.Concurrency, spec.Rate
	res := runLoad(ctx, spec, op)
	s.Latency = &res.Latency
	if res.Count == 0 {
		s.Status = StatusFailed
		s.Reason = "no request succeeded" + errorSummary(res.ErrorKinds)
	}
	return res
}

// account waits for the portal to settle and charges it the CPU from
// cpu0 (the load's start) to then; cpuLoad is the reading at the load's
// end.
func (r *runner) account(ctx context.Context, s *Stage, cpu0, cpuLoad float64, res loadResult) {
	r.settle(ctx, s)
	cpu1 := r.cpuNow()
	if cpu0 < 0 || cpu1 < 0 {
		return
	}
	s.CPUSeconds = cpu1 - cpu0
	if cpuLoad >= 0 {
		s.figure("cpuDuringLoadS", cpuLoad-cpu0)
	}
	if sent := res.Count + res.Errors; sent > 0 {
		s.CPUPer1000 = s.CPUSeconds / float64(sent) * 1000
	}
}

func errorSummary(kinds map[string]int) string {
	if len(kinds) == 0 {
		return ""
	}
	var parts []string
	for k, n := range kinds {
		parts = append(parts, fmt.Sprintf("%d× %s", n, k))
	}
	return ": " + strings.Join(parts, ", ")
}
