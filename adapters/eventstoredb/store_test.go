package eventstoredb_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/orgportal/onboarding/adapters/esdbserver"
	"github.com/orgportal/onboarding/adapters/eventstoredb"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

func revoked(i int) domain.Event {
	return domain.InvitationRevoked{InvitationID: domain.InvitationID(fmt.Sprintf("inv-%d", i)), OrgID: "org-1"}
}

func TestLoadOfMissingStream(t *testing.T) {
	e := newEnv(t)
	loaded, err := e.store.Load(context.Background(), testStream("missing"))
	if err != nil {
		t.Fatalf("load of a missing stream: %v", err)
	}
	if loaded.Revision != commands.NoStream || len(loaded.Events) != 0 {
		t.Errorf("loaded = %+v, want no events at NoStream", loaded)
	}
}

func TestAppendReturnsCommitPositionOfLastEvent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	stream := testStream("position")
	pos, err := e.store.Append(ctx, stream, commands.NoStream, testMeta(), revoked(1), revoked(2), revoked(3))
	if err != nil {
		t.Fatal(err)
	}
	recs := readRaw(t, e.client, stream)
	if len(recs) != 3 {
		t.Fatalf("stream has %d events, want 3", len(recs))
	}
	if last := recs[2].Position.Commit; uint64(pos) != last || pos == 0 {
		t.Errorf("position = %d, want the last event's commit position %d", pos, last)
	}
	pos2, err := e.store.Append(ctx, stream, 2, testMeta(), revoked(4))
	if err != nil {
		t.Fatal(err)
	}
	if pos2 <= pos {
		t.Errorf("later append at position %d, not after %d", pos2, pos)
	}
	loaded, err := e.store.Load(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Revision != 3 || len(loaded.Events) != 4 {
		t.Errorf("loaded revision %d with %d events, want 3 and 4", loaded.Revision, len(loaded.Events))
	}
}

func TestExpectedRevisionConflictIsADomainConflict(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	stream := testStream("conflict")
	if _, err := e.store.Append(ctx, stream, commands.NoStream, testMeta(), revoked(1)); err != nil {
		t.Fatal(err)
	}
	for _, expected := range []commands.Revision{commands.NoStream, 1, 7} {
		_, err := e.store.Append(ctx, stream, expected, testMeta(), revoked(2))
		if domain.KindOf(err) != domain.KindConflict || domain.CodeOf(err) != commands.CodeConcurrentChange {
			t.Errorf("expected %d: err = %v, want a conflict with code %s", expected, err, commands.CodeConcurrentChange)
		}
		if errors.Is(err, commands.ErrUnavailable) {
			t.Errorf("expected %d: a conflict must not look like unavailability: %v", expected, err)
		}
	}
	loaded, err := e.store.Load(ctx, stream)
	if err != nil || len(loaded.Events) != 1 {
		t.Errorf("after failed appends: %d events, err %v; want 1", len(loaded.Events), err)
	}
}

func TestAppendRejectsBadArguments(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.store.Append(ctx, testStream("bad"), commands.NoStream, testMeta()); err == nil {
		t.Error("append of no events succeeded")
	}
	if _, err := e.store.Append(ctx, testStream("bad"), -2, testMeta(), revoked(1)); err == nil {
		t.Error("append at revision -2 succeeded")
	}
	if _, err := eventstoredb.NewStore(nil, e.codec); err == nil {
		t.Error("NewStore without a connection succeeded")
	}
}

// Twenty writers race on one stream, each retrying on conflict the way
// command handlers do: every write lands exactly once, in one contiguous
// history.
func TestConcurrentAppendsToOneStream(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stream := testStream("race")
	const writers = 20
	var wg sync.WaitGroup
	var conflicts atomic.Int64
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for {
				loaded, err := e.store.Load(ctx, stream)
				if err != nil {
					errs <- err
					return
				}
				_, err = e.store.Append(ctx, stream, loaded.Revision, testMeta(), revoked(w))
				if domain.CodeOf(err) == commands.CodeConcurrentChange {
					conflicts.Add(1)
					continue
				}
				if err != nil {
					errs <- err
				}
				return
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("writer: %v", err)
	}
	recs := readRaw(t, e.client, stream)
	if len(recs) != writers {
		t.Fatalf("stream has %d events, want %d", len(recs), writers)
	}
	seen := map[domain.InvitationID]bool{}
	for i, rec := range recs {
		if rec.EventNumber != uint64(i) {
			t.Errorf("event %d has revision %d: history is not contiguous", i, rec.EventNumber)
		}
		ev, _, err := e.codec.Decode(rec)
		if err != nil {
			t.Fatal(err)
		}
		id := ev.(domain.InvitationRevoked).InvitationID
		if seen[id] {
			t.Errorf("writer %s wrote twice", id)
		}
		seen[id] = true
	}
	t.Logf("%d conflicts retried", conflicts.Load())
}

// faultyAppends makes the server drop the answer of the first n appends
// after writing them (so the client sees Unavailable for a write that did
// happen) or, with write false, refuse them before writing.
type faultyAppends struct {
	failures atomic.Int64
	write    bool
	calls    atomic.Int64
}

func (f *faultyAppends) intercept(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if !strings.HasSuffix(info.FullMethod, "/Append") {
		return handler(srv, ss)
	}
	f.calls.Add(1)
	if f.failures.Add(-1) < 0 {
		return handler(srv, ss)
	}
	if f.write {
		if err := handler(srv, dropAnswer{ss}); err != nil {
			return err
		}
	}
	return status.Error(codes.Unavailable, "injected: connection lost")
}

// dropAnswer swallows the handler's response.
type dropAnswer struct{ grpc.ServerStream }

func (dropAnswer) SendMsg(any) error { return nil }

// An append whose answer is lost is retried with the same event ids and
// written once.
func TestRetriedAppendIsWrittenOnce(t *testing.T) {
	fault := &faultyAppends{write: true}
	fault.failures.Store(1)
	e := newEnv(t, grpc.ChainStreamInterceptor(fault.intercept))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream := testStream("retry")

	pos, err := e.store.Append(ctx, stream, commands.NoStream, testMeta(), revoked(1), revoked(2))
	if err != nil {
		t.Fatalf("append with one lost answer: %v", err)
	}
	if got := fault.calls.Load(); got != 2 {
		t.Errorf("server saw %d append calls, want 2 (one retry)", got)
	}
	recs := readRaw(t, e.client, stream)
	if len(recs) != 2 {
		t.Fatalf("stream has %d events after a retried append, want 2", len(recs))
	}
	if uint64(pos) != recs[1].Position.Commit {
		t.Errorf("position = %d, want %d", pos, recs[1].Position.Commit)
	}
}

// Retries are bounded: after two retries the caller gets ErrUnavailable and
// nothing was written.
func TestAppendGivesUpAfterTwoRetries(t *testing.T) {
	fault := &faultyAppends{}
	fault.failures.Store(100)
	e := newEnv(t, grpc.ChainStreamInterceptor(fault.intercept))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream := testStream("giveup")

	_, err := e.store.Append(ctx, stream, commands.NoStream, testMeta(), revoked(1))
	if !errors.Is(err, commands.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if got := fault.calls.Load(); got != 3 {
		t.Errorf("server saw %d append calls, want 3 (two retries)", got)
	}
	if recs := readRaw(t, e.client, stream); len(recs) != 0 {
		t.Errorf("stream has %d events, want none", len(recs))
	}
}

// With the server gone, commands fail fast with ErrUnavailable (503) instead
// of hanging.
func TestServerDownIsUnavailable(t *testing.T) {
	e := newEnv(t)
	stream := testStream("down")
	if _, err := e.store.Append(context.Background(), stream, commands.NoStream, testMeta(), revoked(1)); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, err := e.store.Append(ctx, stream, 0, testMeta(), revoked(2))
	cancel()
	if !errors.Is(err, commands.ErrUnavailable) {
		t.Errorf("append with the server down: err = %v, want ErrUnavailable", err)
	}
	if domain.KindOf(err) != "" {
		t.Errorf("unavailability must not carry a domain kind: %v", err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	_, err = e.store.Load(ctx, stream)
	cancel()
	if !errors.Is(err, commands.ErrUnavailable) {
		t.Errorf("load with the server down: err = %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 12*time.Second {
		t.Errorf("failing took %s; callers would hang", took)
	}
	t.Logf("both calls failed within %s", time.Since(start).Round(time.Millisecond))
}

func TestConnectRejectsBadURLs(t *testing.T) {
	ctx := context.Background()
	for _, raw := range []string{
		"http://localhost:2113",
		"esdb://admin:s3cret@localhost:2113?tls=maybe",
		"esdb://localhost:2113?nodePreference=nowhere",
		"",
	} {
		_, err := eventstoredb.Connect(ctx, raw, quietLogger())
		if err == nil {
			t.Errorf("Connect(%q) succeeded", raw)
			continue
		}
		if !strings.Contains(err.Error(), "connection string") {
			t.Errorf("Connect(%q): error %q does not say what is wrong", raw, err)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Connect(%q): error leaks the password: %v", raw, err)
		}
	}
	client, err := eventstoredb.Connect(ctx, "esdb://localhost:2113?tls=false", quietLogger())
	if err != nil {
		t.Fatalf("valid URL: %v", err)
	}
	_ = client.Close()
}

// The client closes itself for good when it cannot find the server; the
// store replaces it, so commands work again once the server is back.
func TestStoreRecoversAfterServerRestart(t *testing.T) {
	e := newEnv(t)
	stream := testStream("restart")
	if _, err := e.store.Append(context.Background(), stream, commands.NoStream, testMeta(), revoked(1)); err != nil {
		t.Fatal(err)
	}
	addr := e.srv.Addr().String()
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second call meets the client that gave up
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := e.store.Append(ctx, stream, 0, testMeta(), revoked(2))
		cancel()
		if !errors.Is(err, commands.ErrUnavailable) {
			t.Fatalf("append with the server down: err = %v, want ErrUnavailable", err)
		}
	}

	srv, err := esdbserver.Start(context.Background(), esdbserver.Config{DataDir: e.dataDir, ListenAddr: addr, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = srv.Close() })

	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = e.store.Append(ctx, stream, 0, testMeta(), revoked(2))
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover after the server came back: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	loaded, err := e.store.Load(context.Background(), stream)
	if err != nil || len(loaded.Events) != 2 {
		t.Fatalf("after recovery: %d events, err %v; want 2", len(loaded.Events), err)
	}
}

// A caller's context bounds every call, also while the client is looking
// for a server it cannot reach.
func TestCallsHonourTheContext(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.store.Load(ctx, testStream("ctx"))
	if !errors.Is(err, context.Canceled) || errors.Is(err, commands.ErrUnavailable) {
		t.Errorf("load with a cancelled context: err = %v, want context.Canceled", err)
	}
	_, err = e.store.Append(ctx, testStream("ctx"), commands.NoStream, testMeta(), revoked(1))
	if !errors.Is(err, context.Canceled) || errors.Is(err, commands.ErrUnavailable) {
		t.Errorf("append with a cancelled context: err = %v, want context.Canceled", err)
	}
}

// A host that accepts connections but never answers (a hung node, a
// half-open network path) makes the client wait for its own timeouts,
// which ignore the context; the store still answers when the context ends.
func TestSilentServerIsUnavailableWithinTheContext(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lis.Close() })
	var held sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	held.Go(func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		_ = lis.Close()
		held.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})

	conn, err := eventstoredb.Dial(context.Background(), "esdb://"+lis.Addr().String()+"?tls=false", quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	store, err := eventstoredb.NewStore(conn, newCodec(t, newRegistry(t)))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = store.Append(ctx, testStream("silent"), commands.NoStream, testMeta(), revoked(1))
	if !errors.Is(err, commands.ErrUnavailable) {
		t.Errorf("append to a silent server: err = %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("append took %s with a 1 s context", took)
	}
}
