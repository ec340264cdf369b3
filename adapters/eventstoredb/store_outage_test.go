package eventstoredb_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/orgportal/onboarding/commands"
)

// With the server gone, concurrent appends end as soon as the client gives
// up looking for it, not when their deadline passes. The client answers
// only the call that ran its discovery out; the calls queued behind it
// were never answered and used to hold every concurrent command of the
// portal for the store's whole 15 s timeout (found by cmd/portal's
// TestE2EEventStoreOutage). The deadline here is a liveness bound; what
// is checked is why each call ended. Several rounds: each meets a client
// that is discovering, or one that has already given up.
func TestConcurrentCallsEndWhenTheClientGivesUp(t *testing.T) {
	e := newEnv(t)
	stream := testStream("queued")
	if _, err := e.store.Append(context.Background(), stream, commands.NoStream, testMeta(), revoked(1)); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 14*time.Second)
				defer cancel()
				_, errs[i] = e.store.Append(ctx, stream, 0, testMeta(), revoked(2))
			})
		}
		wg.Wait()
		for i, err := range errs {
			if !errors.Is(err, commands.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("round %d, call %d: %v; want ErrUnavailable before the deadline", round, i, err)
			}
		}
		t.Logf("round %d: all %d calls ended in %v", round, len(errs), time.Since(start).Round(time.Millisecond))
	}
}
