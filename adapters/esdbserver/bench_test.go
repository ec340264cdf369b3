package esdbserver_test

// Benchmarks of the embedded event store through the official client over
// loopback. See BENCHMARKS.md at the module root for the method, the command
// and the figures. Nothing here runs in a plain `go test` (benchmarks only
// run with -bench); helpers are prefixed with bench to stay clear of the
// other test files of this package.
//
// Environment:
//   - ESDB_BENCH_DIR: parent directory for data directories and the fsync
//     baseline file (default: b.TempDir(), or a .bench-* directory in the
//     package directory when the temp dir is on tmpfs, where fsync is free).
//   - ESDB_BENCH_SKIP_STUB=1: skip the 1 s stub run inside
//     BenchmarkAppend/events=1/writers=64 (use it when taking a CPU profile of
//     that benchmark, so that the profile is the store's only).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/orgportal/onboarding/adapters/esdbserver"
	"github.com/orgportal/onboarding/adapters/hostinfo"
)

// benchPayload is the data of every benchmark event: a small JSON document
// of the size of our domain events.
var benchPayload = []byte(`{"invitationId":"3f1c9a52-8d0e-4b7a-9c1e-2a6f5d4b8e10","email":"someone@example.org","role":"member"}`)

// benchStubSeconds is how long the in-benchmark stub run lasts.
const benchStubSeconds = 1

// ---------------------------------------------------------------------------
// Fsync baseline

// BenchmarkFsyncBaseline is the disk's durable-write ceiling on the same
// filesystem as the store: one 512-byte append plus File.Sync per op.
func BenchmarkFsyncBaseline(b *testing.B) {
	dir := benchDataDir(b)
	f, err := os.CreateTemp(dir, "fsync-*")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 512)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "syncs/s")
	b.ReportMetric(float64(elapsed.Microseconds())/float64(b.N), "µs/sync")
}

// ---------------------------------------------------------------------------
// Stub server: the protocol and client cost with no storage at all

// benchStubStreams answers every append with success after reading the whole
// request, and every count read with no events. It stores nothing.
type benchStubStreams struct {
	api.UnimplementedStreamsServer
	pos atomic.Uint64
}

func (s *benchStubStreams) Append(call api.Streams_AppendServer) error {
	events := uint64(0)
	for {
		msg, err := call.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if msg.GetProposedMessage() != nil {
			events++
		}
	}
	pos := s.pos.Add(max(events, 1))
	return call.SendAndClose(&api.AppendResp{Result: &api.AppendResp_Success_{Success: &api.AppendResp_Success{
		CurrentRevisionOption: &api.AppendResp_Success_CurrentRevision{CurrentRevision: max(events, 1) - 1},
		PositionOption: &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{
			CommitPosition: pos, PreparePosition: pos,
		}},
	}}})
}

func (s *benchStubStreams) Read(*api.ReadReq, api.Streams_ReadServer) error { return nil }

type benchStubFeatures struct {
	serverfeatures.UnimplementedServerFeaturesServer
}

func (benchStubFeatures) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	const svc = "event_store.client.streams.streams"
	return &serverfeatures.SupportedMethods{
		EventStoreServerVersion: "24.10.0",
		Methods: []*serverfeatures.SupportedMethod{
			{MethodName: "append", ServiceName: svc},
			{MethodName: "read", ServiceName: svc},
		},
	}, nil
}

// benchStartStub starts the stub on a loopback port and returns its
// connection string and a stop function.
func benchStartStub(tb testing.TB) (string, func()) {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	// Same keepalive policy as the real server, so both see the same client.
	srv := grpc.NewServer(grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}))
	api.RegisterStreamsServer(srv, &benchStubStreams{})
	serverfeatures.RegisterServerFeaturesServer(srv, benchStubFeatures{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	return fmt.Sprintf("esdb://%s?tls=false", lis.Addr()), func() {
		srv.Stop()
		<-done
	}
}

// BenchmarkStubAppend is the ceiling for durable appends: the official
// client appending one event per call to a server that stores nothing.
func BenchmarkStubAppend(b *testing.B) {
	for _, writers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			conn, stop := benchStartStub(b)
			defer stop()
			client := dialClient(b, conn)
			defer client.Close()
			tag := benchTag()
			benchWarmUp(b, client, tag, writers)
			b.ResetTimer()
			res := benchRunAppends(client, tag, writers, 1, b.N, time.Time{})
			b.StopTimer()
			if res.err != nil {
				b.Fatal(res.err)
			}
			res.report(b, 1)
		})
	}
}

// benchStub caches the stub rate measured inside BenchmarkAppend.
var benchStub struct {
	once sync.Once
	res  benchAppendResult
}

// benchStubRate runs the stub at 64 writers for benchStubSeconds, once per
// process, and returns its rate in appends/s.
func benchStubRate(b *testing.B) float64 {
	benchStub.once.Do(func() {
		conn, stop := benchStartStub(b)
		defer stop()
		client := dialClient(b, conn)
		defer client.Close()
		tag := benchTag()
		benchWarmUp(b, client, tag, 64)
		benchStub.res = benchRunAppends(client, tag, 64, 1, -1, time.Now().Add(benchStubSeconds*time.Second))
	})
	if benchStub.res.err != nil {
		b.Fatalf("stub run: %v", benchStub.res.err)
	}
	return benchStub.res.rate()
}

// ---------------------------------------------------------------------------
// Durable appends to the store

// BenchmarkAppend: each of N writers appends E events per call to its own
// stream with expected revision Any (the client's default). One op is one
// append; ns/op is wall time divided by appends (all writers together).
func BenchmarkAppend(b *testing.B) {
	for _, events := range []int{1, 100} {
		b.Run(fmt.Sprintf("events=%d", events), func(b *testing.B) {
			for _, writers := range []int{1, 16, 64} {
				b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
					benchAppend(b, events, writers)
				})
			}
		})
	}
}

func benchAppend(b *testing.B, events, writers int) {
	var stubRate float64
	if events == 1 && writers == 64 && os.Getenv("ESDB_BENCH_SKIP_STUB") == "" {
		stubRate = benchStubRate(b) // before the store run, outside the timer
	}
	srv := benchStartServer(b)
	client := dialClient(b, srv.ConnectionString())
	defer client.Close()
	tag := benchTag()
	benchWarmUp(b, client, tag, writers)

	st := srv.Store().Stats()
	appends0, commits0 := st.Appends.Load(), st.Commits.Load()
	b.ResetTimer()
	res := benchRunAppends(client, tag, writers, events, b.N, time.Time{})
	b.StopTimer()
	if res.err != nil {
		b.Fatal(res.err)
	}
	appends, commits := st.Appends.Load()-appends0, st.Commits.Load()-commits0
	if appends != uint64(res.appends) {
		b.Fatalf("store acknowledged %d appends, the client made %d", appends, res.appends)
	}
	res.report(b, events)
	if commits > 0 {
		b.ReportMetric(float64(appends)/float64(commits), "appends/fsync")
		// The writer's cycle: apply a batch, then one synced commit. Compare
		// with BenchmarkFsyncBaseline's µs/sync.
		b.ReportMetric(float64(res.elapsed.Microseconds())/float64(commits), "µs/commit")
	}
	if stubRate > 0 {
		b.ReportMetric(res.rate()/stubRate, "stub-ratio")
		b.ReportMetric(stubRate, "stub-appends/s")
	}
}

// ---------------------------------------------------------------------------
// Catch-up reads

const (
	benchCatchUpEvents = 200_000
	benchPreloadBatch  = 100
)

// BenchmarkCatchUpReadAll pre-loads benchCatchUpEvents events (100 per
// append), then reads $all forwards from Start: with ReadAll and a count, and
// with SubscribeToAll until caught up. One op is one event delivered to the
// client.
func BenchmarkCatchUpReadAll(b *testing.B) {
	srv := benchStartServer(b)
	client := dialClient(b, srv.ConnectionString())
	defer client.Close()
	benchPreload(b, client, benchCatchUpEvents)
	total := int(srv.Store().Stats().EventsWritten.Load())

	b.Run("ReadAll", func(b *testing.B) {
		b.ResetTimer()
		start := time.Now()
		for left := b.N; left > 0; {
			n := min(left, total)
			got, err := benchReadAll(client, n)
			if err != nil {
				b.Fatal(err)
			}
			if got != n {
				b.Fatalf("ReadAll delivered %d events, want %d", got, n)
			}
			left -= n
		}
		elapsed := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
		benchReportPeakRSS(b)
	})
	b.Run("SubscribeToAll", func(b *testing.B) {
		b.ResetTimer()
		start := time.Now()
		for left := b.N; left > 0; {
			n := min(left, total)
			got, err := benchSubscribeAll(client, n)
			if err != nil {
				b.Fatal(err)
			}
			if got != n {
				b.Fatalf("subscription delivered %d events before catching up, want %d", got, n)
			}
			left -= n
		}
		elapsed := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
		benchReportPeakRSS(b)
	})
}

// benchReadAll reads n events of $all forwards from Start with one count
// read and returns how many arrived.
func benchReadAll(client *esdb.Client, n int) (int, error) {
	rs, err := client.ReadAll(context.Background(), esdb.ReadAllOptions{From: esdb.Start{}, Direction: esdb.Forwards}, uint64(n))
	if err != nil {
		return 0, err
	}
	defer rs.Close()
	got := 0
	for {
		_, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got++
	}
}

// benchSubscribeAll subscribes to $all from Start and receives events until
// n have arrived or the subscription reports caught-up.
func benchSubscribeAll(client *esdb.Client, n int) (int, error) {
	sub, err := client.SubscribeToAll(context.Background(), esdb.SubscribeToAllOptions{From: esdb.Start{}})
	if err != nil {
		return 0, err
	}
	defer sub.Close()
	got := 0
	for got < n {
		m := sub.Recv()
		switch {
		case m.EventAppeared != nil:
			got++
		case m.CaughtUp != nil:
			return got, nil
		case m.SubscriptionDropped != nil:
			return got, m.SubscriptionDropped.Error
		}
	}
	return got, nil
}

// ---------------------------------------------------------------------------
// Memory: resident set size must not grow with stored events

// benchStoreCacheMiB is the store's default Pebble block cache: RSS may grow
// by up to this much as reads fill the cache, whatever the store holds.
const benchStoreCacheMiB = 64

// BenchmarkRSSvsStoredEvents loads 100k and 400k events into two fresh
// stores (one after the other), reads all of them back with ReadAll, and
// reports the resident set size after a GC with the store still open. It
// fails when the 400k store needs more than the block cache plus 32 MiB over
// the 100k one: a store that kept per-event state in memory would need about
// 4x. One op is one full ReadAll of the store.
func BenchmarkRSSvsStoredEvents(b *testing.B) {
	rss := map[int]float64{}
	sizes := []int{100_000, 400_000}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			srv := benchStartServer(b)
			client := dialClient(b, srv.ConnectionString())
			defer client.Close()
			benchPreload(b, client, n)
			for b.Loop() {
				got, err := benchReadAll(client, n)
				if err != nil {
					b.Fatal(err)
				}
				if got != n {
					b.Fatalf("ReadAll delivered %d events, want %d", got, n)
				}
			}
			runtime.GC()
			debug.FreeOSMemory()
			cur, _ := benchRSS()
			rss[n] = cur
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(cur, "rss-MB")
			// The Go heap alone; the Pebble block cache is allocated outside it
			// (with cgo), so RSS minus heap is mostly cache and runtime.
			b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "go-heap-MB")
			if n != sizes[0] && rss[sizes[0]] > 0 {
				b.ReportMetric(cur-rss[sizes[0]], "rss-growth-MB")
			}
			benchReportPeakRSS(b)
		})
	}
	small, large := rss[sizes[0]], rss[sizes[1]]
	if small > 0 && large > 0 && large-small > benchStoreCacheMiB+32 {
		b.Errorf("RSS grows with stored events: %.0f MB after reading %d events, %.0f MB after %d (allowed growth: %d MB block cache + 32 MB)",
			small, sizes[0], large, sizes[1], benchStoreCacheMiB)
	}
}

// ---------------------------------------------------------------------------
// Helpers

// benchAppendResult is the outcome of an append run.
type benchAppendResult struct {
	appends int
	elapsed time.Duration
	lat     []time.Duration // sorted
	err     error
}

func (r benchAppendResult) rate() float64 { return float64(r.appends) / r.elapsed.Seconds() }

func (r benchAppendResult) percentile(p int) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, len(r.lat)*p/100)]
}

func (r benchAppendResult) report(b *testing.B, events int) {
	b.ReportMetric(r.rate(), "appends/s")
	b.ReportMetric(r.rate()*float64(events), "events/s")
	b.ReportMetric(float64(r.percentile(50).Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(r.percentile(99).Nanoseconds())/1e3, "p99-µs")
}

// benchRunAppends runs writers goroutines, each appending events events per
// call to its own stream (tag-w<i>) with expected revision Any. With total
// >= 0 the writers share total appends; otherwise they run until deadline.
// Latencies go to a preallocated slice per writer.
func benchRunAppends(client *esdb.Client, tag string, writers, events, total int, deadline time.Time) benchAppendResult {
	lats := make([][]time.Duration, writers)
	quotas := make([]int, writers)
	errs := make([]error, writers)
	for w := range writers {
		quotas[w] = -1
		capacity := 1 << 14
		if total >= 0 {
			quotas[w] = total / writers
			if w < total%writers {
				quotas[w]++
			}
			capacity = quotas[w]
		}
		lats[w] = make([]time.Duration, 0, capacity)
	}
	var wg sync.WaitGroup
	start := time.Now()
	for w := range writers {
		quota := quotas[w]
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("%s-w%d", tag, w)
			batch := benchEvents(events)
			opts := esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}
			lat := lats[w]
			for i := 0; quota < 0 || i < quota; i++ {
				if quota < 0 && time.Now().After(deadline) {
					break
				}
				for j := range batch {
					batch[j].EventID = benchNextID()
				}
				t0 := time.Now()
				_, err := client.AppendToStream(context.Background(), stream, opts, batch...)
				lat = append(lat, time.Since(t0))
				if err != nil {
					errs[w] = fmt.Errorf("writer %d, append %d: %w", w, i, err)
					break
				}
			}
			lats[w] = lat
		}()
	}
	wg.Wait()
	res := benchAppendResult{elapsed: time.Since(start), err: errors.Join(errs...)}
	for _, l := range lats {
		res.appends += len(l)
		res.lat = append(res.lat, l...)
	}
	slices.Sort(res.lat)
	return res
}

// benchWarmUp makes one append per writer stream, so that the connection is
// up and the streams exist before the timer starts.
func benchWarmUp(b *testing.B, client *esdb.Client, tag string, writers int) {
	b.Helper()
	if res := benchRunAppends(client, tag, writers, 1, writers, time.Time{}); res.err != nil {
		b.Fatalf("warm-up: %v", res.err)
	}
}

// benchPreload appends n events (in appends of benchPreloadBatch) from 8
// concurrent writers.
func benchPreload(b *testing.B, client *esdb.Client, n int) {
	b.Helper()
	const writers = 8
	start := time.Now()
	res := benchRunAppends(client, benchTag(), writers, benchPreloadBatch, n/benchPreloadBatch, time.Time{})
	if res.err != nil {
		b.Fatalf("preload: %v", res.err)
	}
	b.Logf("preloaded %d events in %v", n, time.Since(start).Round(time.Millisecond))
}

func benchEvents(n int) []esdb.EventData {
	evs := make([]esdb.EventData, n)
	for i := range evs {
		evs[i] = esdb.EventData{EventType: "InvitationSent", ContentType: esdb.ContentTypeJson, Data: benchPayload}
	}
	return evs
}

// benchIDPrefix makes stream names unique per process.
var benchIDPrefix = uuid.New()

// benchNextID is a random (version 4) UUID, as applications make them: the
// store indexes event ids, and random ids are the realistic (and for an LSM
// the more expensive) case compared with sequential ones.
func benchNextID() uuid.UUID { return uuid.New() }

var benchTagSeq atomic.Uint64

func benchTag() string {
	return fmt.Sprintf("bench-%s-%d", benchIDPrefix.String()[:8], benchTagSeq.Add(1))
}

// benchStartServer starts the embedded store on a fresh data directory on a
// real filesystem; logs are dropped.
func benchStartServer(b *testing.B) *esdbserver.Server {
	b.Helper()
	srv, err := esdbserver.Start(context.Background(), esdbserver.Config{
		DataDir:    filepath.Join(benchDataDir(b), "data"),
		ListenAddr: "127.0.0.1:0",
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatalf("start server: %v", err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			b.Errorf("shutdown: %v", err)
		}
	})
	return srv
}

var benchFSOnce sync.Once

// benchDataDir returns a fresh directory for store data on a real disk:
// under ESDB_BENCH_DIR when set, else b.TempDir() unless that is on tmpfs or
// ramfs (fsync is free there), in which case a .bench-* directory in the
// package directory. It logs the filesystem type once.
func benchDataDir(b *testing.B) string {
	b.Helper()
	var dir string
	var err error
	switch base := os.Getenv("ESDB_BENCH_DIR"); {
	case base != "":
		dir, err = os.MkdirTemp(base, "esdb-bench-")
	default:
		dir = b.TempDir()
		if fs := hostinfo.FSType(dir); fs == "tmpfs" || fs == "ramfs" {
			dir, err = os.MkdirTemp(".", ".bench-")
		} else {
			benchFSOnce.Do(func() { b.Logf("data directories on %s (%s)", fs, dir) })
			return dir
		}
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	benchFSOnce.Do(func() { b.Logf("data directories on %s (%s)", hostinfo.FSType(dir), dir) })
	return dir
}

// benchRSS returns VmRSS and VmHWM (peak) of this process in MiB; zeros
// where /proc cannot be read.
func benchRSS() (rss, hwm float64) {
	r, h, err := hostinfo.Memory(0)
	if err != nil {
		return 0, 0
	}
	return float64(r) / 1024, float64(h) / 1024
}

// benchReportPeakRSS reports the process's peak RSS so far (all benchmarks
// that ran before in this process included).
func benchReportPeakRSS(b *testing.B) {
	if _, hwm := benchRSS(); hwm > 0 {
		b.ReportMetric(hwm, "peak-rss-MB")
	}
}

// ---------------------------------------------------------------------------
// Short-stream reads

// BenchmarkReadStream: one client reading one stream per call through the
// official client, as the command handlers do: a stream that does not
// exist, streams of 1 and 3 events, and the tail of a 10,000-event stream
// from its last revision (a cached state's LoadFrom). BenchmarkStubRead is
// the same call against the stub, which stores nothing: the protocol's own
// cost. Compare with BenchmarkStoreReadStream (storage only).
func BenchmarkReadStream(b *testing.B) {
	srv := benchStartServer(b)
	client := dialClient(b, srv.ConnectionString())
	defer client.Close()
	tag := benchTag()
	ctx := context.Background()
	for _, n := range []int{1, 3} {
		for range n {
			if _, err := client.AppendToStream(ctx, fmt.Sprintf("%s-short-%d", tag, n), esdb.AppendToStreamOptions{}, benchEvents(1)...); err != nil {
				b.Fatal(err)
			}
		}
	}
	const long = 10_000
	for i := 0; i < long; i += 100 {
		if _, err := client.AppendToStream(ctx, tag+"-long", esdb.AppendToStreamOptions{}, benchEvents(100)...); err != nil {
			b.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		stream string
		from   esdb.StreamPosition
		want   int
	}{
		{"missing", tag + "-never-written", esdb.Start{}, 0},
		{"events=1", tag + "-short-1", esdb.Start{}, 1},
		{"events=3", tag + "-short-3", esdb.Start{}, 3},
		{"tail-of-10000", tag + "-long", esdb.Revision(long - 1), 1},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, err := benchReadStream(client, c.stream, c.from)
				if err != nil || got != c.want {
					b.Fatalf("read %d events, err %v; want %d", got, err, c.want)
				}
			}
		})
	}
}

// BenchmarkStubRead is BenchmarkReadStream's ceiling: the same read
// against the stub server, which answers every read with no events.
func BenchmarkStubRead(b *testing.B) {
	conn, stop := benchStartStub(b)
	defer stop()
	client := dialClient(b, conn)
	defer client.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := benchReadStream(client, "anything", esdb.Start{}); err != nil {
			b.Fatal(err)
		}
	}
}

// benchReadStream reads a stream to its end as the adapter does and
// returns the number of events; a missing stream is 0 events.
func benchReadStream(client *esdb.Client, stream string, from esdb.StreamPosition) (int, error) {
	rs, err := client.ReadStream(context.Background(), stream, esdb.ReadStreamOptions{From: from, Direction: esdb.Forwards}, ^uint64(0))
	if err != nil {
		return 0, err
	}
	defer rs.Close()
	n := 0
	for {
		_, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			var esErr *esdb.Error
			if n == 0 && errors.As(err, &esErr) && esErr.Code() == esdb.ErrorCodeResourceNotFound {
				return 0, nil
			}
			return n, err
		}
		n++
	}
}
