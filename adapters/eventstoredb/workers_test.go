package eventstoredb_test

import (
	"sync"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/eventstoredb"
)

// A call never waits for another: run starts a worker when none is idle.
func TestWorkersRunBlockedCallsSideBySide(t *testing.T) {
	w := eventstoredb.NewWorkers(time.Minute)
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{}, 3)
	for range 3 {
		w.Run(func() {
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
	if n := w.Live(); n != 3 {
		t.Fatalf("%d workers for three calls at once, want 3", n)
	}
}

// Calls made one after another share a worker instead of each leaving one.
func TestWorkersReuseIdleWorkers(t *testing.T) {
	w := eventstoredb.NewWorkers(time.Minute)
	const calls = 200
	for range calls {
		done := make(chan struct{})
		w.Run(func() { close(done) })
		<-done
	}
	// run may find the last worker still on its way back from a call and
	// start another; a handful is the most that race leaves.
	if n := w.Live(); n > 5 {
		t.Fatalf("%d workers after %d calls made one at a time, want them reused (at most 5)", n, calls)
	}
}

func TestWorkersEndWhenIdle(t *testing.T) {
	w := eventstoredb.NewWorkers(10 * time.Millisecond)
	var calls sync.WaitGroup
	for range 4 {
		calls.Add(1)
		w.Run(calls.Done)
	}
	calls.Wait()
	waitFor(t, "idle workers to end", func() bool { return w.Live() == 0 })
}
