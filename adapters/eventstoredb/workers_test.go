package eventstoredb

import (
	"sync"
	"testing"
	"time"
)

// A call never waits for another: run starts a worker when none is idle.
func TestWorkersRunBlockedCallsSideBySide(t *testing.T) {
	w := newWorkers(time.Minute)
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{}, 3)
	for range 3 {
		w.run(func() {
			started <- struct{}{}
			<-release
		})
	}
	for i := range 3 {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of three blocked calls run after 10 s, want all three at once", i)
		}
	}
	if n := w.live.Load(); n != 3 {
		t.Fatalf("%d workers for three calls at once, want 3", n)
	}
}

// Calls made one after another share a worker instead of each leaving one.
func TestWorkersReuseIdleWorkers(t *testing.T) {
	w := newWorkers(time.Minute)
	const calls = 200
	for range calls {
		done := make(chan struct{})
		w.run(func() { close(done) })
		<-done
	}
	// run may find the last worker still on its way back from a call and
	// start another; a handful is the most that race leaves.
	if n := w.live.Load(); n > 5 {
		t.Fatalf("%d workers after %d calls made one at a time, want them reused (at most 5)", n, calls)
	}
}

func TestWorkersEndWhenIdle(t *testing.T) {
	w := newWorkers(10 * time.Millisecond)
	var calls sync.WaitGroup
	for range 4 {
		calls.Add(1)
		w.run(calls.Done)
	}
	calls.Wait()
	waitFor(t, "idle workers to end", func() bool { return w.live.Load() == 0 })
}

// waitFor polls cond for up to 10 s; it fails the test, naming what, if
// cond never holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
