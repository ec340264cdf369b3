package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"
)

// background is a process of a split run besides the target.
type background struct {
	role  string // RoleAll or RoleMongo
	child *child
	cpu0  float64 // its CPU time when the run began
}

// cpuNow is the product's CPU time so far, or -1 when it cannot be read:
// the portal's, and in a split run the sum over its processes, so that a
// stage is charged for the background work it set off wherever it runs.
func (r *runner) cpuNow() float64 {
	sum := r.targetCPU()
	for _, b := range r.background {
		p, err := readProc(b.child.pid)
		if err != nil || sum < 0 {
			return -1
		}
		sum += p.CPUSeconds
	}
	return sum
}

// targetCPU is the CPU time so far of the process the requests go to.
func (r *runner) targetCPU() float64 {
	if r.pid <= 0 {
		return -1
	}
	p, err := readProc(r.pid)
	if err != nil {
		return -1
	}
	return p.CPUSeconds
}

// pauseBackground stops the background processes of a split run for a
// load when --pause-background asks for it, and notes it in s; resume
// continues them. It does nothing otherwise.
func (r *runner) pauseBackground(s *Stage) (resume func()) {
	if !r.o.PauseBackground || len(r.background) == 0 {
		return func() {}
	}
	for _, b := range r.background {
		b.child.signal(syscall.SIGSTOP)
	}
	s.note("the background processes (the replica of role all, portal mongo) were paused during the load: " +
		"the figures of a replica of role api whose background work runs on CPUs of its own")
	return func() {
		for _, b := range slices.Backward(r.background) {
			b.child.signal(syscall.SIGCONT)
		}
	}
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
// settle wait, and fills s. In a split run the background may be paused
// for the load, and the api replica's own CPU is a figure of its own.
func (r *runner) measureCommands(ctx context.Context, s *Stage, spec loadSpec, op opFunc) loadResult {
	calls0, timed := r.callTimes(ctx)
	cpu0, target0 := r.cpuNow(), r.targetCPU()
	resume := r.pauseBackground(s)
	res := r.load(ctx, s, spec, op)
	resume()
	sent := res.Count + res.Errors
	if calls1, ok := r.callTimes(ctx); timed && ok {
		figureCallTimes(s, calls0, calls1, sent)
	}
	r.account(ctx, s, cpu0, r.cpuNow(), res)
	if target1 := r.targetCPU(); len(r.background) > 0 && target0 >= 0 && target1 >= 0 {
		s.figure("apiReplicaCPUS", target1-target0)
		if sent > 0 {
			s.figure("apiReplicaCPUSPer1000", (target1-target0)/float64(sent)*1000)
		}
	}
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
