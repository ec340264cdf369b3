package smtp

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// Every caller of groupSync.do returns only after a run that began after
// it asked has ended, and callers that ask while a run is going share
// the next one.
func TestGroupSyncCoversEveryCallerWithFewerRuns(t *testing.T) {
	var (
		g      groupSync
		asked  atomic.Int64 // callers that have asked so far
		mu     sync.Mutex
		ended  []int64 // for each ended run, how many had asked when it began
		first  = make(chan struct{})
		block  = make(chan struct{})
		blocks atomic.Bool
	)
	run := func() {
		began := asked.Load()
		if blocks.CompareAndSwap(false, true) {
			close(first)
			<-block // the first run lasts until the others have asked
		}
		mu.Lock()
		ended = append(ended, began)
		mu.Unlock()
	}
	covered := func(ticket int64) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, began := range ended {
			if began >= ticket {
				return true
			}
		}
		return false
	}
	const callers = 20
	var wg sync.WaitGroup
	ask := func() {
		ticket := asked.Add(1)
		g.do(run)
		if !covered(ticket) {
			t.Errorf("caller %d returned before a run that began after it asked had ended", ticket)
		}
	}
	wg.Go(ask)
	<-first
	for range callers - 1 {
		wg.Go(ask)
	}
	for asked.Load() < callers {
		runtime.Gosched() // until all have asked (they wait for the run going)
	}
	close(block)
	wg.Wait()
	if len(ended) >= callers {
		t.Errorf("%d runs for %d callers, want them shared", len(ended), callers)
	}
	t.Logf("%d runs for %d callers", len(ended), callers)
}
