package readmodels

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Every caller gets a read that began after it asked, and callers that
// arrive during a read share the next one.
func TestFreshReadsBeginAfterTheCallerAsked(t *testing.T) {
	var f freshReads[int64]
	var (
		reads   atomic.Int64
		version atomic.Int64 // what the "database" holds
		release = make(chan struct{})
		started = make(chan struct{}, 16)
	)
	fetch := func(context.Context) (int64, error) {
		reads.Add(1)
		v := version.Load() // read at the start: what a real read sees
		started <- struct{}{}
		<-release
		return v, nil
	}
	ctx := context.Background()
	first := make(chan int64)
	go func() {
		v, _ := f.read(ctx, "org", fetch)
		first <- v
	}()
	<-started // the first read is under way and has read version 0

	// A write lands, then 8 callers ask: none may get the read that began
	// before the write.
	version.Store(1)
	var wg sync.WaitGroup
	got := make([]int64, 8)
	for i := range got {
		wg.Go(func() { got[i], _ = f.read(ctx, "org", fetch) })
	}
	for waiting := 0; waiting < len(got); time.Sleep(time.Millisecond) {
		f.mu.Lock()
		if next := f.queue["org"].next; next != nil {
			waiting = next.waiters
		}
		f.mu.Unlock()
	}
	close(release)
	if v := <-first; v != 0 {
		t.Errorf("first caller got %d, want 0", v)
	}
	wg.Wait()
	for i, v := range got {
		if v != 1 {
			t.Errorf("caller %d got %d: a read that began before it asked", i, v)
		}
	}
	if n := reads.Load(); n != 2 {
		t.Errorf("%d reads for 1 + 8 callers in two waves, want 2", n)
	}
	// Other keys are read on their own, and nothing is left queued.
	if v, err := f.read(ctx, "other", fetch); err != nil || v != 1 {
		t.Errorf("other key: %d, %v", v, err)
	}
	// The reader goroutine forgets a key just after its last read ends.
	left := 1
	for deadline := time.Now().Add(time.Second); left != 0 && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		f.mu.Lock()
		left = len(f.queue)
		f.mu.Unlock()
	}
	if left != 0 {
		t.Errorf("%d keys still queued a second after every read ended", left)
	}
}

// A caller that gives up does not fail the read the others share, and an
// error reaches every caller of that read but not the next.
func TestFreshReadsCancellationAndErrors(t *testing.T) {
	var f freshReads[string]
	release := make(chan struct{})
	boom := errors.New("boom")
	var calls atomic.Int64
	fetch := func(ctx context.Context) (string, error) {
		<-release
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if calls.Add(1) == 1 {
			return "", boom
		}
		return "ok", nil
	}
	cancelled, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := f.read(cancelled, "k", fetch)
		done <- err
	}()
	other := make(chan error)
	time.Sleep(10 * time.Millisecond)
	go func() {
		_, err := f.read(context.Background(), "k", fetch)
		other <- err
	}()
	time.Sleep(10 * time.Millisecond)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: %v", err)
	}
	close(release)
	if err := <-other; err != nil {
		t.Errorf("the caller of the second read: %v (the first read's error or the cancellation leaked)", err)
	}
	if v, err := f.read(context.Background(), "k", fetch); err != nil || v != "ok" {
		t.Errorf("after: %q, %v", v, err)
	}
}
