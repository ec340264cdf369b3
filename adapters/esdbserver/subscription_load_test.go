package esdbserver_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/orgportal/onboarding/adapters/esdbserver"
)

// The slow-subscriber tests run a fast writer against a subscriber that stops
// reading for a while. What they assert is count-based, never a duration:
//
//   - the writer finishes every append while the subscriber is stopped (the
//     subscriber waits for that, so a writer held back by the subscription
//     fails the test instead of slowing it down);
//   - every event arrives exactly once, in position and revision order, with
//     its payload intact;
//   - the subscription reports caught-up at the start and again after the
//     backlog (which is far larger than anything gRPC flow control can hold,
//     so the server must have fallen back to catch-up reads);
//   - while the subscriber is stopped with the whole backlog pending, the
//     process heap grows by much less than the backlog: the server reads the
//     backlog from storage a page at a time instead of queueing it.
const (
	loadPayloadSize = 3 << 10
	loadBatchSize   = 40
	loadEventType   = "LoadTestEvent"
	loadNap         = 300 * time.Millisecond
	// loadWriterLimit bounds how long the stopped subscriber waits for the
	// writer. It is a liveness deadline: a writer that is not blocked
	// finishes in a fraction of it even under -race.
	loadWriterLimit = 2 * time.Minute
	// loadHeapBound caps the heap growth allowed while the subscriber is
	// stopped (the $all case allows half its backlog, at most this). In-flight
	// data is bounded by one store page (512 events) plus gRPC's flow-control
	// windows (at most 16 MiB per stream, far less in practice since they
	// only grow while data flows).
	loadHeapBound = 30 << 20
)

type loadPlan struct {
	// events is how many events go to the subscribed streams.
	events int
	// streams is how many streams they are spread over (round robin by
	// batch).
	streams int
	// noiseEvery sends every n-th batch to a stream outside the subscription
	// (0: none).
	noiseEvery int
	// holdAt is the number of received events after which the subscriber
	// stops reading until the writer has finished.
	holdAt int
	// napsAt are received-event counts after which the subscriber sleeps for
	// loadNap, during catch-up.
	napsAt []int
	// heapBound, when non-zero, is asserted on the heap growth measured while
	// the subscriber is stopped (and loadHeapBound on the growth during its
	// naps).
	heapBound uint64
	// subscribe opens the subscription under test; streams are named
	// prefix+"s<i>".
	subscribe func(ctx context.Context, c *esdb.Client, prefix string) (*esdb.Subscription, error)
	// allPositions reports that events carry $all positions (which must then
	// strictly increase).
	allPositions bool
}

func TestSlowSubscriberBoundedMemoryNoLossNoDup(t *testing.T) {
	// The race detector slows every byte copied by an order of magnitude; it
	// gets backlogs half the size, which still dwarf what flow control can
	// hold and still make a buffered backlog break the heap bound.
	allEvents, streamEvents := 20000, 8000 // ~60 and ~24 MiB of payload
	if loadRaceEnabled() {
		allEvents, streamEvents = 10000, 7000
	}
	t.Run("all", func(t *testing.T) {
		loadRunSlowSubscriber(t, loadPlan{
			events:       allEvents,
			streams:      4,
			noiseEvery:   7,
			holdAt:       200,
			napsAt:       loadFractions(allEvents, 0.1, 0.3, 0.5, 0.7, 0.9),
			heapBound:    min(loadHeapBound, uint64(allEvents*loadPayloadSize/2)),
			allPositions: true,
			subscribe: func(ctx context.Context, c *esdb.Client, prefix string) (*esdb.Subscription, error) {
				return c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{
					From:   esdb.Start{},
					Filter: &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{prefix}},
				})
			},
		})
	})
	t.Run("stream", func(t *testing.T) {
		loadRunSlowSubscriber(t, loadPlan{
			events:     streamEvents,
			streams:    1,
			noiseEvery: 5,
			holdAt:     50,
			napsAt:     loadFractions(streamEvents, 0.15, 0.5, 0.85),
			subscribe: func(ctx context.Context, c *esdb.Client, prefix string) (*esdb.Subscription, error) {
				return c.SubscribeToStream(ctx, prefix+"s0", esdb.SubscribeToStreamOptions{From: esdb.Start{}})
			},
		})
	})
}

func loadFractions(n int, fractions ...float64) []int {
	out := make([]int, len(fractions))
	for i, f := range fractions {
		out[i] = int(float64(n) * f)
	}
	return out
}

// loadRaceEnabled reports whether the test binary was built with -race.
func loadRaceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// loadWriter appends plan.events events in batches, pausing after the first
// hold of them until gate is closed.
type loadWriter struct {
	acked atomic.Int64 // subscribed events acknowledged so far
	done  chan struct{}
	err   error
	// ids are the subscribed events' ids in write order (valid after done).
	ids []uuid.UUID
}

func loadStartWriter(ctx context.Context, c *esdb.Client, prefix string, plan loadPlan, gate <-chan struct{}) *loadWriter {
	w := &loadWriter{done: make(chan struct{}), ids: make([]uuid.UUID, 0, plan.events)}
	go func() {
		defer close(w.done)
		w.err = w.run(ctx, c, prefix, plan, gate)
	}()
	return w
}

func (w *loadWriter) run(ctx context.Context, c *esdb.Client, prefix string, plan loadPlan, gate <-chan struct{}) error {
	next := make([]uint64, plan.streams)
	noise := prefix[:len(prefix)-1] + "_noise" // outside the prefix filter
	noiseNext := uint64(0)
	written, gated := 0, false
	for batch := 0; written < plan.events; batch++ {
		if !gated && written >= plan.holdAt {
			gated = true
			select {
			case <-gate:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if plan.noiseEvery > 0 && batch%plan.noiseEvery == plan.noiseEvery-1 {
			events := make([]esdb.EventData, 3)
			for i := range events {
				events[i] = loadEvent(-1)
			}
			if _, err := c.AppendToStream(ctx, noise, esdb.AppendToStreamOptions{ExpectedRevision: loadExpected(noiseNext)}, events...); err != nil {
				return fmt.Errorf("append to %s: %w", noise, err)
			}
			noiseNext += uint64(len(events))
			continue
		}
		s := batch % plan.streams
		n := min(loadBatchSize, plan.events-written)
		events := make([]esdb.EventData, n)
		for i := range events {
			events[i] = loadEvent(written + i)
		}
		stream := fmt.Sprintf("%ss%d", prefix, s)
		res, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: loadExpected(next[s])}, events...)
		if err != nil {
			return fmt.Errorf("append %d events to %s at revision %d: %w", n, stream, next[s], err)
		}
		if want := next[s] + uint64(n) - 1; res.NextExpectedVersion != want {
			return fmt.Errorf("append to %s: next expected version %d, want %d", stream, res.NextExpectedVersion, want)
		}
		next[s] += uint64(n)
		for i := range events {
			w.ids = append(w.ids, events[i].EventID)
		}
		written += n
		w.acked.Store(int64(written))
	}
	return nil
}

// loadExpected is the exact expected revision before appending at next.
func loadExpected(next uint64) esdb.ExpectedRevision {
	if next == 0 {
		return esdb.NoStream{}
	}
	return esdb.Revision(next - 1)
}

// loadPattern is the filler of every payload: event i's payload is its index
// followed by loadPattern[i%256:], so a payload mixed up with another event's
// shows.
var loadPattern = func() []byte {
	p := make([]byte, 256+loadPayloadSize)
	for i := range p {
		p[i] = byte(i)
	}
	return p
}()

func loadFiller(index int) []byte {
	off := int(uint8(index))
	return loadPattern[off : off+loadPayloadSize-8]
}

// loadEvent is a binary event whose payload starts with its index in the
// subscribed sequence (-1 for noise) and is filled with a pattern derived
// from it.
func loadEvent(index int) esdb.EventData {
	data := make([]byte, loadPayloadSize)
	binary.BigEndian.PutUint64(data, uint64(int64(index)))
	copy(data[8:], loadFiller(index))
	return esdb.EventData{EventID: uuid.New(), EventType: loadEventType, ContentType: esdb.ContentTypeBinary, Data: data}
}

func loadCheckPayload(data []byte, index int) error {
	if len(data) != loadPayloadSize {
		return fmt.Errorf("payload is %d bytes, want %d", len(data), loadPayloadSize)
	}
	if got := int64(binary.BigEndian.Uint64(data)); got != int64(index) {
		return fmt.Errorf("payload belongs to event #%d", got)
	}
	if !bytes.Equal(data[8:], loadFiller(index)) {
		return fmt.Errorf("payload is corrupt")
	}
	return nil
}

// loadHeap measures the heap after full collections: the bytes in use, less
// what pebble allocated through its manual allocator (block cache and
// memtables). Pebble normally takes that memory from C; in race builds it
// takes it from the Go heap in one process out of two, which would make the
// measure swing by the size of its cache. Both are returned (heap, pebble).
func loadHeap() (heap, pebble uint64) {
	// Two cycles: the allocation profile lags one cycle behind, and the
	// second one also empties sync.Pool victim caches.
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, loadPebbleManualBytes()
}

// loadPebbleManualBytes estimates, from the allocation profile, the live heap
// bytes allocated by pebble's internal/manual.New.
func loadPebbleManualBytes() uint64 {
	var records []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, false)
	for {
		records = make([]runtime.MemProfileRecord, n+64)
		var ok bool
		if n, ok = runtime.MemProfile(records, false); ok {
			records = records[:n]
			break
		}
	}
	rate := float64(runtime.MemProfileRate)
	total := 0.0
	for i := range records {
		r := &records[i]
		objects, bytes := r.InUseObjects(), r.InUseBytes()
		if objects <= 0 || bytes <= 0 || !loadAllocatedByPebbleManual(r.Stack()) {
			continue
		}
		// Undo the sampling as the runtime's own heap profile does.
		scale := 1.0
		if rate > 1 {
			scale = 1 / (1 - math.Exp(-float64(bytes)/float64(objects)/rate))
		}
		total += float64(bytes) * scale
	}
	return uint64(total)
}

func loadAllocatedByPebbleManual(stack []uintptr) bool {
	frames := runtime.CallersFrames(stack)
	for {
		f, more := frames.Next()
		if strings.HasPrefix(f.Function, "github.com/cockroachdb/pebble/") && strings.HasSuffix(f.Function, "/internal/manual.New") {
			return true
		}
		if !more {
			return false
		}
	}
}

func loadRunSlowSubscriber(t *testing.T, plan loadPlan) {
	srv := loadStartServer(t)
	client := newClient(t, srv.ConnectionString())
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	prefix := fmt.Sprintf("slowsub-t%s-", strings.ReplaceAll(uuid.NewString()[:8], "-", ""))

	sub, err := plan.subscribe(ctx, client, prefix)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer sub.Close()

	caughtUps := 0
	var lastCheckpoint uint64
	// recv returns the next event, counting caught-up messages and checking
	// checkpoints on the way; with untilCaughtUp it returns nil at the next
	// caught-up instead.
	recv := func(what string, untilCaughtUp bool) *esdb.ResolvedEvent {
		t.Helper()
		for {
			m := sub.Recv()
			switch {
			case m.SubscriptionDropped != nil:
				t.Fatalf("%s: subscription dropped: %v", what, m.SubscriptionDropped.Error)
			case m.CaughtUp != nil:
				caughtUps++
				if untilCaughtUp {
					return nil
				}
			case m.CheckPointReached != nil:
				if c := m.CheckPointReached.Commit; c < lastCheckpoint {
					t.Fatalf("%s: checkpoint %d after checkpoint %d", what, c, lastCheckpoint)
				}
				lastCheckpoint = m.CheckPointReached.Commit
			case m.EventAppeared != nil:
				return m.EventAppeared
			case m.FellBehind != nil:
			}
		}
	}

	// Nothing is written yet: the subscription confirms it is live at once.
	if ev := recv("before any write", true); ev != nil {
		t.Fatalf("event %s before any write", ev.OriginalEvent().EventID)
	}

	received := make([]uuid.UUID, 0, plan.events)
	nextRevision := map[string]uint64{}
	var lastPosition uint64
	// Sample allocations finely enough to attribute pebble's memory (see
	// loadHeap).
	oldRate := runtime.MemProfileRate
	runtime.MemProfileRate = 64 << 10
	defer func() { runtime.MemProfileRate = oldRate }()
	baseHeap, basePebble := loadHeap()
	base := int64(baseHeap) - int64(basePebble)
	// Peak growth over base, without pebble's manual memory, per phase:
	// "stopped" while the subscriber reads nothing and the backlog grows to
	// its full size, "catching up" during the naps taken while it works
	// through the backlog.
	const stopped, catchingUp = "stopped", "catching up"
	peakAt := map[string]int64{}
	peakRaw := int64(0) // with pebble's manual memory, for the log
	sample := func(phase string) {
		h, p := loadHeap()
		peakAt[phase] = max(peakAt[phase], int64(h)-int64(p)-base)
		peakRaw = max(peakRaw, int64(h)-int64(baseHeap))
	}

	gate := make(chan struct{})
	writer := loadStartWriter(ctx, client, prefix, plan, gate)
	defer func() {
		cancel()
		<-writer.done
	}()

	held, caughtUpsBeforeBacklog := false, 0
	var catchUpStart time.Time
	for len(received) < plan.events {
		ev := recv(fmt.Sprintf("waiting for event #%d", len(received)), false)
		e := ev.Event
		i := len(received)
		if !strings.HasPrefix(e.StreamID, prefix) {
			t.Fatalf("event #%d is from %s, outside the subscription", i, e.StreamID)
		}
		if want := nextRevision[e.StreamID]; e.EventNumber != want {
			t.Fatalf("event #%d is %s@%d, want revision %d (lost or duplicated events)", i, e.StreamID, e.EventNumber, want)
		}
		nextRevision[e.StreamID]++
		if plan.allPositions {
			if e.Position.Commit <= lastPosition {
				t.Fatalf("event #%d (%s@%d) at position %d after position %d", i, e.StreamID, e.EventNumber, e.Position.Commit, lastPosition)
			}
			lastPosition = e.Position.Commit
		}
		if err := loadCheckPayload(e.Data, i); err != nil {
			t.Fatalf("event #%d (%s@%d): %v", i, e.StreamID, e.EventNumber, err)
		}
		received = append(received, e.EventID)
		n := len(received)

		if n == plan.holdAt {
			// Stop reading and let the writer run to the end: the whole
			// backlog piles up behind this subscription.
			held = true
			caughtUpsBeforeBacklog = caughtUps
			if acked := writer.acked.Load(); acked >= int64(plan.events) {
				t.Fatalf("writer had finished before the subscriber stopped (%d events)", acked)
			}
			close(gate)
			holdStart := time.Now()
			sample(stopped)
			limit := time.NewTimer(loadWriterLimit)
			tick := time.NewTicker(500 * time.Millisecond)
		waitWriter:
			for {
				select {
				case <-writer.done:
					break waitWriter
				case <-tick.C:
					sample(stopped)
				case <-limit.C:
					t.Fatalf("writer acknowledged %d of %d events in %v while the subscriber was stopped at %d: appends are held back by a slow subscriber",
						writer.acked.Load(), plan.events, loadWriterLimit, n)
				}
			}
			limit.Stop()
			tick.Stop()
			if writer.err != nil {
				t.Fatalf("writer: %v", writer.err)
			}
			sample(stopped)
			// Count-based: the writer finished everything while this
			// subscriber had received only holdAt events.
			if acked, got := writer.acked.Load(), len(received); acked != int64(plan.events) || got != plan.holdAt {
				t.Fatalf("writer acknowledged %d events while the subscriber had %d; want %d and %d", acked, got, plan.events, plan.holdAt)
			}
			t.Logf("writer finished %d events in %v while the subscriber was stopped at %d", plan.events, time.Since(holdStart).Round(time.Millisecond), n)
			catchUpStart = time.Now()
		}
		for _, at := range plan.napsAt {
			if n == at {
				time.Sleep(loadNap)
				sample(catchingUp)
			}
		}
	}
	if !held {
		t.Fatalf("subscriber never stopped (holdAt %d > events %d?)", plan.holdAt, plan.events)
	}
	// The backlog was read through catch-up: caught-up comes again after it.
	if ev := recv("after the last event", true); ev != nil {
		e := ev.Event
		t.Fatalf("extra event after the last one: %s@%d (id %s)", e.StreamID, e.EventNumber, e.EventID)
	}
	t.Logf("caught up with the backlog in %v (%d naps of %v)", time.Since(catchUpStart).Round(time.Millisecond), len(plan.napsAt), loadNap)
	if caughtUps < 2 || caughtUps <= caughtUpsBeforeBacklog {
		t.Errorf("caught-up %d times (%d before the backlog); want one at the start and one after the backlog", caughtUps, caughtUpsBeforeBacklog)
	}

	// Same events, same order as written.
	<-writer.done
	if writer.err != nil {
		t.Fatalf("writer: %v", writer.err)
	}
	if len(writer.ids) != len(received) {
		t.Fatalf("writer wrote %d events, subscriber received %d", len(writer.ids), len(received))
	}
	for i := range received {
		if received[i] != writer.ids[i] {
			t.Fatalf("event #%d: received id %s, written %s", i, received[i], writer.ids[i])
		}
	}

	backlog := (plan.events - plan.holdAt) * loadPayloadSize
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	t.Logf("%d events (%d MiB backlog); caught-up %d times; heap in use %.1f MiB at start (%.1f MiB of it pebble's); peak growth without pebble's manual memory: %.1f MiB stopped, %.1f MiB catching up (%.1f MiB with it); store: %d commits, %d appends",
		plan.events, backlog>>20, caughtUps, mib(int64(baseHeap)), mib(int64(basePebble)), mib(peakAt[stopped]), mib(peakAt[catchingUp]), mib(peakRaw),
		srv.Store().Stats().Commits.Load(), srv.Store().Stats().Appends.Load())
	if plan.heapBound > 0 {
		// While stopped, only a few hundred events have flowed, so gRPC's
		// windows are still small: the tight bound applies. During catch-up
		// the windows may have grown (up to 16 MiB), so the naps get the
		// overall bound.
		if g := peakAt[stopped]; g > int64(plan.heapBound) {
			t.Errorf("heap grew by %.1f MiB while a subscriber was stopped behind a %d MiB backlog; want < %d MiB (is the backlog buffered in memory?)",
				mib(g), backlog>>20, plan.heapBound>>20)
		}
		if g := peakAt[catchingUp]; g > loadHeapBound {
			t.Errorf("heap grew by %.1f MiB while a subscriber was catching up with a %d MiB backlog; want < %d MiB (is the backlog buffered in memory?)",
				mib(g), backlog>>20, loadHeapBound>>20)
		}
	}
}

// loadStartServer starts a server on a fresh directory; its logs are shown
// only when the test fails.
func loadStartServer(t *testing.T) *esdbserver.Server {
	t.Helper()
	logs := &lockedBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := esdbserver.Start(ctx, esdbserver.Config{
		DataDir:    t.TempDir(),
		ListenAddr: "127.0.0.1:0",
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown server: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.tail(60))
		}
	})
	return srv
}
