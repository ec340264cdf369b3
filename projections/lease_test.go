package projections_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/adapters/mongodb/mongotest"
	"github.com/orgportal/onboarding/projections"
)

// The tests contend for leases in one embedded FerretDB (or the MongoDB
// named by PORTAL_TEST_MONGO_URL), each contender with a client of its own,
// as separate replicas would. The runner tests share the same server.
var srv *mongotest.Server

func TestMain(m *testing.M) {
	os.Exit(mongotest.Run(m, &srv))
}

func quiet() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

var dbSeq atomic.Int64

// replica connects a client of its own to a database shared by the test's
// replicas and returns its leases.
func replica(t *testing.T, dbName string) *mongodb.Leases {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client, err := mongodb.Connect(ctx, srv.URI, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return mongodb.NewLeases(client.Database(dbName), time.Now, quiet())
}

func sharedDB(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("lease_test_%d_%d", os.Getpid(), dbSeq.Add(1))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := mongodb.Connect(ctx, srv.URI, quiet())
		if err != nil {
			t.Errorf("drop %s: %v", name, err)
			return
		}
		defer c.Disconnect(ctx)
		if err := c.Database(name).Drop(ctx); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	return name
}

// exclusive is the work the lease protects: it records who runs when and
// fails the test when two run at once.
type exclusive struct {
	t       *testing.T
	running atomic.Int32
	overlap atomic.Bool
	mu      sync.Mutex
	starts  []start
	stops   map[string]time.Time
	started chan string
}

type start struct {
	owner string
	at    time.Time
}

func newExclusive(t *testing.T) *exclusive {
	return &exclusive{t: t, stops: map[string]time.Time{}, started: make(chan string, 16)}
}

func (x *exclusive) run(owner string) func(context.Context) error {
	return func(ctx context.Context) error {
		if x.running.Add(1) != 1 {
			x.overlap.Store(true)
		}
		x.mu.Lock()
		x.starts = append(x.starts, start{owner, time.Now()})
		x.mu.Unlock()
		x.started <- owner
		<-ctx.Done()
		x.mu.Lock()
		x.stops[owner] = time.Now()
		x.mu.Unlock()
		x.running.Add(-1)
		return nil
	}
}

func (x *exclusive) waitStart(timeout time.Duration) (string, time.Time) {
	x.t.Helper()
	select {
	case owner := <-x.started:
		x.mu.Lock()
		defer x.mu.Unlock()
		return owner, x.starts[len(x.starts)-1].at
	case <-time.After(timeout):
		x.t.Fatalf("nobody started within %v", timeout)
		return "", time.Time{}
	}
}

func (x *exclusive) noStart(d time.Duration) {
	x.t.Helper()
	select {
	case owner := <-x.started:
		x.t.Fatalf("%s started while the lease was held by another", owner)
	case <-time.After(d):
	}
}

func (x *exclusive) stoppedAt(owner string) time.Time {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.stops[owner]
}

// contender runs RunWithLease until its stop is called.
func contender(t *testing.T, leases projections.Leaser, name, owner string, ttl time.Duration, run func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- projections.RunWithLease(ctx, leases, projections.LeaseConfig{
			Name: name, Owner: owner, TTL: ttl, Logger: quiet().With("replica", owner),
		}, run)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s: RunWithLease: %v", owner, err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("%s: RunWithLease did not return after cancel", owner)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// The timing tests use a TTL long enough for a loaded machine (-race, an
// in-process FerretDB, two shared cores): a renewal slower than TTL/3 counts
// as failed and would stop the holder.
const testTTL = 12 * time.Second

// liveness bounds waits for something that must happen; it is generous
// because a loaded CI machine is slow, and it asserts nothing about speed.
const liveness = 60 * time.Second

func TestRunWithLeaseOneRunnerReleaseHandsOver(t *testing.T) {
	const ttl = testTTL
	db := sharedDB(t)
	x := newExclusive(t)
	a, b := replica(t, db), replica(t, db)

	stopA := contender(t, a, "mail-reactor", "replica-a", ttl, x.run("replica-a"))
	if owner, _ := x.waitStart(liveness); owner != "replica-a" {
		t.Fatalf("first runner is %s", owner)
	}
	stopB := contender(t, b, "mail-reactor", "replica-b", ttl, x.run("replica-b"))
	// A renews every TTL/3: B stands by for more than a term.
	x.noStart(ttl + ttl/3)
	if l, _, err := b.Get(context.Background(), "mail-reactor"); err != nil || l.Owner != "replica-a" || l.Released {
		t.Fatalf("lease after a term: %+v, %v", l, err)
	}

	// A shuts down: it stops its work and releases; B takes over at its
	// next try, well before A's term would have expired.
	stopA()
	// Liveness bound only: how fast the takeover is depends on the machine,
	// and tests assert no durations (the release itself is checked below).
	owner, at := x.waitStart(liveness)
	if owner != "replica-b" {
		t.Fatalf("second runner is %s", owner)
	}
	if stopped := x.stoppedAt("replica-a"); stopped.IsZero() || stopped.After(at) {
		t.Errorf("A stopped at %v, B started at %v", stopped, at)
	}
	stopB()
	if x.overlap.Load() {
		t.Fatal("two replicas ran at the same time")
	}
	if l, _, err := b.Get(context.Background(), "mail-reactor"); err != nil || !l.Released {
		t.Errorf("lease after both stopped: %+v, %v; want released", l, err)
	}
}

// cutOff is a replica whose store calls start failing when cut: its
// renewals fail (an error) or report the lease lost, and it can neither
// acquire nor release. It remembers when its last successful acquire or
// renewal began, which bounds the expiry of its term from below.
type cutOff struct {
	next     projections.Leaser
	lost     bool // renewals report false instead of failing
	cut      atomic.Bool
	mu       sync.Mutex
	lastHeld time.Time
}

var errPartition = errors.New("store unreachable")

func (c *cutOff) held(began time.Time, ok bool, err error) {
	if ok && err == nil {
		c.mu.Lock()
		c.lastHeld = began
		c.mu.Unlock()
	}
}

func (c *cutOff) Acquire(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if c.cut.Load() {
		return false, errPartition
	}
	began := time.Now()
	ok, err := c.next.Acquire(ctx, name, owner, ttl)
	c.held(began, ok, err)
	return ok, err
}

func (c *cutOff) Renew(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if c.cut.Load() {
		if c.lost {
			return false, nil
		}
		return false, errPartition
	}
	began := time.Now()
	ok, err := c.next.Renew(ctx, name, owner, ttl)
	c.held(began, ok, err)
	return ok, err
}

func (c *cutOff) Release(ctx context.Context, name, owner string) error {
	if c.cut.Load() {
		return errPartition
	}
	return c.next.Release(ctx, name, owner)
}

func TestRunWithLeaseExpiryHandsOverWhenRenewalStops(t *testing.T) {
	for _, lost := range []bool{false, true} {
		t.Run(map[bool]string{false: "renewal fails", true: "lease lost"}[lost], func(t *testing.T) {
			const ttl = testTTL
			db := sharedDB(t)
			x := newExclusive(t)
			a := &cutOff{next: replica(t, db), lost: lost}
			b := replica(t, db)

			contender(t, a, "mail-reactor", "replica-a", ttl, x.run("replica-a"))
			if owner, _ := x.waitStart(liveness); owner != "replica-a" {
				t.Fatalf("first runner is %s", owner)
			}
			contender(t, b, "mail-reactor", "replica-b", ttl, x.run("replica-b"))
			x.noStart(ttl / 2)

			// A loses the store: its next renewal fails, it stops its work
			// at once; B gets the lease only once A's last term expires.
			a.cut.Store(true)
			owner, at := x.waitStart(liveness)
			if owner != "replica-b" {
				t.Fatalf("second runner is %s", owner)
			}
			a.mu.Lock()
			expiresNoEarlierThan := a.lastHeld.Add(ttl)
			a.mu.Unlock()
			if at.Before(expiresNoEarlierThan.Add(-10 * time.Millisecond)) {
				t.Errorf("B started at %v, before A's term expired (no earlier than %v)", at, expiresNoEarlierThan)
			}
			stopped := x.stoppedAt("replica-a")
			if stopped.IsZero() || !stopped.Before(expiresNoEarlierThan) {
				t.Errorf("A stopped at %v; want before its term expired (%v)", stopped, expiresNoEarlierThan)
			}
			if x.overlap.Load() {
				t.Fatal("two replicas ran at the same time")
			}
		})
	}
}

func TestRunWithLeaseRestartsWorkThatStops(t *testing.T) {
	const ttl = 600 * time.Millisecond
	leases := replica(t, sharedDB(t))
	var calls atomic.Int32
	started := make(chan int32, 4)
	contender(t, leases, "mail-reactor", "replica-a", ttl, func(ctx context.Context) error {
		n := calls.Add(1)
		started <- n
		if n == 1 {
			return errors.New("router failed")
		}
		<-ctx.Done()
		return nil
	})
	for want := int32(1); want <= 2; want++ {
		select {
		case n := <-started:
			if n != want {
				t.Fatalf("run %d, want %d", n, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("run %d did not start", want)
		}
	}
}

func TestRunWithLeaseRejectsBadConfig(t *testing.T) {
	leases := replica(t, sharedDB(t))
	noop := func(context.Context) error { return nil }
	for _, cfg := range []projections.LeaseConfig{
		{Owner: "o", TTL: time.Second},
		{Name: "n", TTL: time.Second},
		{Name: "n", Owner: "o"},
	} {
		if err := projections.RunWithLease(context.Background(), leases, cfg, noop); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}
