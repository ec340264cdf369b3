package esdbserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/gossip"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// The conformance suite of shared/ESDB-PROTOCOL.md, section 5 (cases 1 to
// 30), plus the behaviours listed in sections 2 and 3 that applications rely
// on (names starting with X). It drives the server only through the official
// client, except where the client hides what the server sent (then a plain
// gRPC call checks the status code and trailers).
//
// Most cases share one server and use their own streams and event types, so
// they run in parallel; the cases that count calls, connections or scanned
// events start their own server.

// env is what the parallel cases share: the official client and a plain
// gRPC client of one server, and the interceptor that follows that server's
// streaming calls.
type env struct {
	client    *esdb.Client
	raw       api.StreamsClient
	tracker   *callTracker
	keepalive *keepaliveProbe // nil with -short
}

func TestConformance(t *testing.T) {
	tracker := newCallTracker()
	srv := startServer(t, grpc.ChainStreamInterceptor(tracker.streamInterceptor))
	e := &env{client: newClient(t, srv.ConnectionString()), raw: rawStreams(t, srv), tracker: tracker}
	if !testing.Short() {
		e.keepalive = startKeepaliveProbe(t)
	}

	cases := []struct {
		name string
		run  func(*testing.T, *env)
	}{
		{"01_HandshakeOneDiscoveryNoGossipNoAuthHeader", testHandshake},
		{"02_FeatureGatingWithoutServerFeatures", testFeatureGating},
		{"03_KeepaliveIdleSubscription70s", testKeepalive},
		{"04_AppendToNewStream", testAppendToNewStream},
		{"05_StreamExistsOnMissingStream", testStreamExistsOnMissingStream},
		{"05b_StreamExistsWithOnlyMetadata", testStreamExistsWithOnlyMetadata},
		{"06_ExactRevisionOn6000Events", testExactRevisionOn6000Events},
		{"07_IdempotentRetryNoStream", testIdempotentRetryNoStream},
		{"07b_IdempotentRetryExactRevision", testIdempotentRetryExactRevision},
		{"07c_IdempotentRetryAnyAndStreamExists", testIdempotentRetryAnyAndStreamExists},
		{"08_PartialIdempotencyIsWrongExpectedVersion", testPartialIdempotency},
		{"09_MetadataRoundTrip", testMetadataRoundTrip},
		{"10_MetastreamKeepsOnlyLatest", testMetastreamKeepsOnlyLatest},
		{"11_MissingMetadataIsNotFound", testMissingMetadata},
		{"12_ReadToEndGivesEOFTwice", testReadToEnd},
		{"13_MissingStreamNotFoundOnFirstRecv", testMissingStream},
		{"14_MaxAgeHidesExpiredEvents", testMaxAge},
		{"15_EventFieldsForwardsAndBackwards", testEventFields},
		{"16_ReadAllForwardsIsInclusive", testReadAllForwardsInclusive},
		{"17_ReadAllBackwardsIsExclusive", testReadAllBackwardsExclusive},
		{"18_ReadAllBackwardsFromStartIsEmpty", testReadAllBackwardsFromStart},
		{"19_SoftDelete", testSoftDelete},
		{"19b_StreamExistsOnSoftDeletedStream", testStreamExistsOnSoftDeleted},
		{"20_RecreateAfterSoftDelete", testRecreateAfterSoftDelete},
		{"21_DeleteWithWrongRevision", testDeleteWrongRevision},
		{"21b_DeleteMissingStream", testDeleteMissingStream},
		{"22_Tombstone", testTombstone},
		{"23_ReadAfterTombstone", testReadAfterTombstone},
		{"23b_StreamSubscriptionSeesTombstone", testSubscriptionSeesTombstone},
		{"24_StreamSubscriptionFromStart6000Events", testStreamSubscription6000},
		{"25_CaughtUpOnlyAfterHistory", testCaughtUp},
		{"26_SubscriptionResumeIsExclusive", testExclusiveResume},
		{"27_EventTypePrefixFilter", testEventTypePrefixFilter},
		{"27b_StreamNamePrefixFilter", testStreamPrefixFilter},
		{"27c_RegexFilters", testRegexFilters},
		{"28_ExcludeSystemEventsFilter", testExcludeSystemEvents},
		{"29_FilterCheckpoints", testFilterCheckpoints},
		{"29b_ResumeFromCheckpointIsExclusive", testResumeFromCheckpoint},
		{"30_SubscriptionClose", testSubscriptionClose},
		{"X1_ConcurrentExactRevisionAppends", testConcurrentAppends},
		{"X2_AppendSizeLimit", testAppendSizeLimit},
		{"X3_AppendWithoutTypeOrContentType", testAppendMissingMetadata},
		{"X4_AllPositionsStrictlyIncreasing", testAllPositions},
		{"X5_ResolveLinks", testResolveLinks},
		{"X1b_ConcurrentAnyAppendsStayContiguous", testConcurrentAnyAppends},
		{"X6_RetentionHidesFromStreamNotFromAll", testRetention},
		{"X7_SubscriptionsMissNothingUnderConcurrentAppends", testSubscriptionsUnderLoad},
		{"X8_ConcurrentDuplicateAppendsAreIdempotent", testConcurrentDuplicates},
		{"X9_ShutdownEndsSubscriptions", testShutdownEndsSubscriptions},
		{"X10_RestartKeepsEventsPositionsAndIdempotency", testRestart},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, e)
		})
	}
}

// ---- 1-3: connection ----

// callRecorder records every call's method and incoming metadata.
type callRecorder struct {
	mu    sync.Mutex
	calls []recordedCall
}

type recordedCall struct {
	method string
	md     metadata.MD
}

func (r *callRecorder) record(ctx context.Context, method string) {
	md, _ := metadata.FromIncomingContext(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, recordedCall{method: method, md: md.Copy()})
}

func (r *callRecorder) snapshot() []recordedCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *callRecorder) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	r.record(ctx, info.FullMethod)
	return handler(ctx, req)
}

func (r *callRecorder) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	r.record(ss.Context(), info.FullMethod)
	return handler(srv, ss)
}

func testHandshake(t *testing.T, _ *env) {
	rec := &callRecorder{}
	srv := startServer(t, grpc.ChainUnaryInterceptor(rec.unary), grpc.ChainStreamInterceptor(rec.stream))
	// Credentials in the URL and RequiresLeader on the calls: with tls=false
	// neither may reach the server as a header.
	connString := strings.Replace(srv.ConnectionString(), "esdb://", "esdb://admin:changeit@", 1)
	if connString == srv.ConnectionString() {
		t.Fatalf("ConnectionString() = %q, want an esdb:// URL", connString)
	}
	c := newClient(t, connString)

	stream := uniqueName("handshake-")
	ctx := testContext(t, waitFor)
	for i := range 3 {
		var expected esdb.ExpectedRevision = esdb.NoStream{}
		if i > 0 {
			expected = esdb.Revision(uint64(i - 1))
		}
		_, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expected, RequiresLeader: true},
			jsonEvent("HandshakeChecked", fmt.Sprintf(`{"i":%d}`, i)))
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if got := readStream(t, c, stream, esdb.ReadStreamOptions{RequiresLeader: true}, 10); len(got) != 3 {
		t.Fatalf("read back %d events, want 3", len(got))
	}
	version, err := c.GetServerVersion()
	if err != nil {
		t.Fatalf("GetServerVersion: %v", err)
	}
	// 23 or later: the client then expects caught_up and positions on stream
	// reads, which this server sends.
	if version.Major < 23 {
		t.Errorf("server version %d.%d.%d, want 23.0.0 or later (24.10.0 is what the spec suggests)", version.Major, version.Minor, version.Patch)
	}

	calls := rec.snapshot()
	if len(calls) == 0 {
		t.Fatal("the interceptors saw no calls: are Config.GRPCOptions applied?")
	}
	if calls[0].method != serverfeatures.ServerFeatures_GetSupportedMethods_FullMethodName {
		t.Errorf("first call = %s, want %s", calls[0].method, serverfeatures.ServerFeatures_GetSupportedMethods_FullMethodName)
	}
	var discoveries, appends int
	for _, call := range calls {
		switch call.method {
		case serverfeatures.ServerFeatures_GetSupportedMethods_FullMethodName:
			discoveries++
		case gossip.Gossip_Read_FullMethodName:
			t.Errorf("the client called %s; a single-node connection must not gossip", call.method)
		case api.Streams_Append_FullMethodName:
			appends++
		}
		for _, header := range []string{"authorization", "requires-leader"} {
			if v := call.md.Get(header); len(v) > 0 {
				t.Errorf("%s carried header %s = %q; with tls=false it must not be sent", call.method, header, v)
			}
		}
	}
	if discoveries != 1 {
		t.Errorf("GetSupportedMethods called %d times, want exactly 1 (calls: %v)", discoveries, methods(calls))
	}
	if appends != 3 {
		t.Errorf("saw %d Append calls, want 3 (calls: %v)", appends, methods(calls))
	}
}

func methods(calls []recordedCall) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.method
	}
	return out
}

// testFeatureGating hides ServerFeatures behind an interceptor that answers
// Unimplemented, which is exactly what a gRPC server without that service
// answers. The connection must work with every feature off.
func testFeatureGating(t *testing.T, _ *env) {
	rec := &callRecorder{}
	hideFeatures := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if info.FullMethod == serverfeatures.ServerFeatures_GetSupportedMethods_FullMethodName {
			return nil, status.Error(codes.Unimplemented, "unknown service event_store.client.server_features.ServerFeatures")
		}
		return handler(ctx, req)
	}
	srv := startServer(t, grpc.ChainUnaryInterceptor(rec.unary, hideFeatures), grpc.ChainStreamInterceptor(rec.stream))
	c := newClient(t, srv.ConnectionString())

	stream := uniqueName("gating-")
	mustAppend(t, c, stream, esdb.NoStream{}, jsonEvent("GatingChecked", `{}`))
	if got := readStream(t, c, stream, esdb.ReadStreamOptions{}, 10); len(got) != 1 {
		t.Fatalf("read back %d events, want 1", len(got))
	}
	err := c.CreatePersistentSubscriptionToAll(testContext(t, waitFor), uniqueName("group-"), esdb.PersistentAllSubscriptionOptions{})
	requireCode(t, err, esdb.ErrorCodeUnsupportedFeature)
	for _, call := range rec.snapshot() {
		if strings.Contains(call.method, "PersistentSubscriptions") {
			t.Errorf("the client called %s although the server advertised no features", call.method)
		}
	}
}

// connCounter counts the server's transports.
type connCounter struct {
	begun, ended atomic.Int32
}

func (c *connCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (c *connCounter) HandleRPC(context.Context, stats.RPCStats)                       {}
func (c *connCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}

func (c *connCounter) HandleConn(_ context.Context, s stats.ConnStats) {
	switch s.(type) {
	case *stats.ConnBegin:
		c.begun.Add(1)
	case *stats.ConnEnd:
		c.ended.Add(1)
	}
}

// keepaliveIdle is how long case 3 leaves its connections idle: the client
// pings every 10 s, and grpc-go's default policy answers the third ping with
// GOAWAY too_many_pings (after about 30 s).
const keepaliveIdle = 70 * time.Second

// keepaliveProbe runs case 3. It starts before the parallel cases, so that
// its 70 s of idling overlap them instead of waiting for a free slot; the
// case itself only reports the outcome.
type keepaliveProbe struct {
	done chan struct{}
	err  error
}

// startKeepaliveProbe sets case 3 up on its own server (so that its
// connections see no other traffic) with two clients: one holds a
// subscription, the other makes no call at all while idle.
func startKeepaliveProbe(t *testing.T) *keepaliveProbe {
	t.Helper()
	conns := &connCounter{}
	srv := startServer(t, grpc.StatsHandler(conns))
	subscriber := newClient(t, srv.ConnectionString())
	idler := newClient(t, srv.ConnectionString())
	stream := uniqueName("keepalive-")
	mustAppend(t, idler, stream, esdb.NoStream{}, jsonEvent("KeepaliveStarted", `{}`))
	ctx := testContext(t, keepaliveIdle+time.Minute)
	sub, err := subscriber.SubscribeToStream(ctx, stream, esdb.SubscribeToStreamOptions{From: esdb.End{}})
	if err != nil {
		t.Fatalf("case 3: subscribe: %v", err)
	}
	r := readSubscription(t, sub)

	p := &keepaliveProbe{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.err = p.run(ctx, conns, idler, stream, r)
	}()
	return p
}

func (p *keepaliveProbe) run(ctx context.Context, conns *connCounter, idler *esdb.Client, stream string, r *subscriptionReader) error {
	idle := time.NewTimer(keepaliveIdle)
	defer idle.Stop()
wait:
	for {
		select {
		case m, ok := <-r.messages:
			if !ok {
				return errors.New("the subscription ended while idle")
			}
			if m.CaughtUp == nil {
				return fmt.Errorf("while idle: got %s, want nothing", describeMessage(m))
			}
		case <-idle.C:
			break wait
		}
	}
	if n := conns.ended.Load(); n != 0 {
		return fmt.Errorf("the server closed %d connection(s) during %v of idle time (GOAWAY too_many_pings? the keepalive enforcement policy must allow pings every 10 s, also without streams)", n, keepaliveIdle)
	}

	live := jsonEvent("KeepaliveChecked", `{}`)
	if _, err := idler.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(0)}, live); err != nil {
		return fmt.Errorf("append after idling: %w", err)
	}
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	for {
		select {
		case m, ok := <-r.messages:
			if !ok {
				return errors.New("the subscription ended after idling")
			}
			if m.CaughtUp != nil {
				continue
			}
			if m.EventAppeared == nil || m.EventAppeared.Event.EventID != live.EventID {
				return fmt.Errorf("after idling: got %s, want the live event %s", describeMessage(m), live.EventID)
			}
		case <-deadline.C:
			return fmt.Errorf("the live event did not arrive within %v after idling", waitFor)
		}
		break
	}
	if begun, ended := conns.begun.Load(), conns.ended.Load(); begun != 2 || ended != 0 {
		return fmt.Errorf("connections begun %d, ended %d; want 2 and 0 (one per client, never dropped)", begun, ended)
	}
	return nil
}

func testKeepalive(t *testing.T, e *env) {
	if e.keepalive == nil {
		t.Skip("case 3 idles for 70 s; run without -short to check the keepalive policy")
	}
	<-e.keepalive.done
	if e.keepalive.err != nil {
		t.Fatal(e.keepalive.err)
	}
}

// ---- 4-8: appends, expected revisions, idempotency ----

func positionOf(res *esdb.WriteResult) esdb.Position {
	return esdb.Position{Commit: res.CommitPosition, Prepare: res.PreparePosition}
}

func requirePosition(t *testing.T, what string, p esdb.Position) {
	t.Helper()
	if p.Commit == 0 || p.Commit != p.Prepare || p.Commit >= 1<<63 {
		t.Fatalf("%s: position %d/%d; want commit == prepare, between 1 and 2^63-1", what, p.Commit, p.Prepare)
	}
}

func testAppendToNewStream(t *testing.T, e *env) {
	stream := uniqueName("order-")
	ev := esdb.EventData{
		EventID:     uuid.MustParse("5b0c4a8e-2f1d-4c3b-9a77-1e2d3c4b5a69"),
		EventType:   "OrderPlaced",
		ContentType: esdb.ContentTypeJson,
		Data:        []byte(`{"orderId":"o-1","total":42}`),
		Metadata:    []byte(`{"actor":"u-7","correlationId":"c-1"}`),
	}
	res := mustAppend(t, e.client, stream, esdb.NoStream{}, ev)
	if res.NextExpectedVersion != 0 {
		t.Errorf("NextExpectedVersion = %d, want 0", res.NextExpectedVersion)
	}
	requirePosition(t, "append result", positionOf(res))

	got := readStream(t, e.client, stream, esdb.ReadStreamOptions{}, 10)
	if len(got) != 1 {
		t.Fatalf("read %d events, want 1", len(got))
	}
	checkRecorded(t, got[0], ev, stream, 0, res)
}

// checkRecorded compares a read event with what was appended. res is the
// result of the append that wrote exactly that event, or nil.
func checkRecorded(t *testing.T, got *esdb.ResolvedEvent, want esdb.EventData, stream string, revision uint64, res *esdb.WriteResult) {
	t.Helper()
	if got.Link != nil || got.Event == nil {
		t.Fatalf("got %s, want a plain event", describeEvent(got))
	}
	ev := got.Event
	wantContentType := "application/octet-stream"
	if want.ContentType == esdb.ContentTypeJson {
		wantContentType = "application/json"
	}
	if ev.EventID != want.EventID || ev.EventType != want.EventType || ev.StreamID != stream || ev.EventNumber != revision || ev.ContentType != wantContentType {
		t.Errorf("got id=%s type=%q stream=%q revision=%d content-type=%q; want id=%s type=%q stream=%q revision=%d content-type=%q",
			ev.EventID, ev.EventType, ev.StreamID, ev.EventNumber, ev.ContentType,
			want.EventID, want.EventType, stream, revision, wantContentType)
	}
	if !bytes.Equal(ev.Data, want.Data) {
		t.Errorf("revision %d: data = %q, want %q", revision, ev.Data, want.Data)
	}
	wantMeta := want.Metadata
	if wantMeta == nil {
		wantMeta = []byte{}
	}
	if !bytes.Equal(ev.UserMetadata, wantMeta) {
		t.Errorf("revision %d: user metadata = %q, want %q", revision, ev.UserMetadata, wantMeta)
	}
	requirePosition(t, fmt.Sprintf("revision %d", revision), ev.Position)
	if res != nil && ev.Position != positionOf(res) {
		t.Errorf("revision %d: position %d/%d, but the append returned %d/%d", revision, ev.Position.Commit, ev.Position.Prepare, res.CommitPosition, res.PreparePosition)
	}
	if got.Commit != nil && *got.Commit != ev.Position.Commit {
		t.Errorf("revision %d: read event commit_position %d != record position %d", revision, *got.Commit, ev.Position.Commit)
	}
}

func testStreamExistsOnMissingStream(t *testing.T, e *env) {
	stream := uniqueName("missing-")
	ctx := testContext(t, waitFor)
	_, err := e.client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.StreamExists{}}, jsonEvent("NeverWritten", `{}`))
	requireCode(t, err, esdb.ErrorCodeWrongExpectedVersion)
	// The client prints the wrong_expected_version body.
	if !strings.Contains(err.Error(), "expecting 'stream_exists' but got 'no_stream'") {
		t.Errorf("error %q: want expected_stream_exists and current_no_stream in the body", err)
	}
	_, err = e.client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(0)}, jsonEvent("NeverWritten", `{}`))
	requireCode(t, err, esdb.ErrorCodeWrongExpectedVersion)
	if !strings.Contains(err.Error(), "expecting '0' but got 'no_stream'") {
		t.Errorf("error %q: want expected_revision 0 and current_no_stream in the body", err)
	}
	requireNotFound(t, e.client, stream, esdb.ReadStreamOptions{})
}

// A stream that has metadata but no events passes stream_exists.
func testStreamExistsWithOnlyMetadata(t *testing.T, e *env) {
	stream := uniqueName("prepared-")
	var meta esdb.StreamMetadata
	meta.SetMaxCount(10)
	if _, err := e.client.SetStreamMetadata(testContext(t, waitFor), stream, esdb.AppendToStreamOptions{}, meta); err != nil {
		t.Fatalf("SetStreamMetadata: %v", err)
	}
	ev := jsonEvent("Created", `{}`)
	if res := mustAppend(t, e.client, stream, esdb.StreamExists{}, ev); res.NextExpectedVersion != 0 {
		t.Errorf("NextExpectedVersion = %d, want 0", res.NextExpectedVersion)
	}
	requireEventIDs(t, e.client, stream, ids(ev))
}

func testExactRevisionOn6000Events(t *testing.T, e *env) {
	stream := uniqueName("counted-")
	appendInBatches(t, e.client, stream, numberedEvents("Counted", 0, 6000), 100)

	res := mustAppend(t, e.client, stream, esdb.Revision(5999), jsonEvent("Counted", `{"n":6000}`))
	if res.NextExpectedVersion != 6000 {
		t.Fatalf("NextExpectedVersion = %d, want 6000", res.NextExpectedVersion)
	}
	ctx := testContext(t, waitFor)
	for _, stale := range []uint64{5999, 7000} {
		_, err := e.client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(stale)}, jsonEvent("Counted", `{"n":-1}`))
		requireCode(t, err, esdb.ErrorCodeWrongExpectedVersion)
		if want := fmt.Sprintf("expecting '%d' but got '6000'", stale); !strings.Contains(err.Error(), want) {
			t.Errorf("error %q: want %q", err, want)
		}
	}
	last := readStream(t, e.client, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if len(last) != 1 || last[0].Event.EventNumber != 6000 {
		t.Fatalf("last event: %v, want revision 6000", last)
	}
}

func testIdempotentRetryNoStream(t *testing.T, e *env) {
	stream := uniqueName("member-")
	events := []esdb.EventData{jsonEvent("MemberRegistered", `{"n":0}`), jsonEvent("MemberConfirmed", `{"n":1}`)}
	first := mustAppend(t, e.client, stream, esdb.NoStream{}, events...)
	if first.NextExpectedVersion != 1 {
		t.Fatalf("NextExpectedVersion = %d, want 1", first.NextExpectedVersion)
	}
	retry := mustAppend(t, e.client, stream, esdb.NoStream{}, events...)
	if *retry != *first {
		t.Errorf("retry returned %+v, want the original result %+v", *retry, *first)
	}
	requireEventIDs(t, e.client, stream, ids(events...))
}

func ids(events ...esdb.EventData) []uuid.UUID {
	out := make([]uuid.UUID, len(events))
	for i, ev := range events {
		out[i] = ev.EventID
	}
	return out
}

// requireEventIDs reads the whole stream and compares the event ids in
// revision order.
func requireEventIDs(t *testing.T, c *esdb.Client, stream string, want []uuid.UUID) {
	t.Helper()
	events := readStream(t, c, stream, esdb.ReadStreamOptions{}, uint64(len(want)+10))
	got := make([]uuid.UUID, len(events))
	for i, ev := range events {
		got[i] = ev.Event.EventID
		if ev.Event.EventNumber != uint64(i) {
			t.Errorf("event %d has revision %d", i, ev.Event.EventNumber)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("stream %q holds ids %v, want %v", stream, got, want)
	}
}

func testIdempotentRetryExactRevision(t *testing.T, e *env) {
	stream := uniqueName("invitation-")
	base := numberedEvents("InvitationDrafted", 0, 3)
	mustAppend(t, e.client, stream, esdb.NoStream{}, base...)

	batch := []esdb.EventData{jsonEvent("InvitationSent", `{}`), jsonEvent("InvitationOpened", `{}`)}
	first := mustAppend(t, e.client, stream, esdb.Revision(2), batch...)
	if first.NextExpectedVersion != 4 {
		t.Fatalf("NextExpectedVersion = %d, want 4", first.NextExpectedVersion)
	}
	if retry := mustAppend(t, e.client, stream, esdb.Revision(2), batch...); *retry != *first {
		t.Errorf("immediate retry returned %+v, want the original result %+v", *retry, *first)
	}
	later := jsonEvent("InvitationAccepted", `{}`)
	mustAppend(t, e.client, stream, esdb.Revision(4), later)
	if retry := mustAppend(t, e.client, stream, esdb.Revision(2), batch...); *retry != *first {
		t.Errorf("retry after a later append returned %+v, want the original result %+v", *retry, *first)
	}
	// A retry of a prefix of the batch is idempotent too and writes nothing.
	mustAppend(t, e.client, stream, esdb.Revision(2), batch[0])

	requireEventIDs(t, e.client, stream, ids(slices.Concat(base, batch, []esdb.EventData{later})...))
}

func testIdempotentRetryAnyAndStreamExists(t *testing.T, e *env) {
	t.Run("Any", func(t *testing.T) {
		stream := uniqueName("link-")
		batch := []esdb.EventData{jsonEvent("LinkCreated", `{}`), jsonEvent("LinkShared", `{}`)}
		first := mustAppend(t, e.client, stream, esdb.Any{}, batch...)
		if first.NextExpectedVersion != 1 {
			t.Fatalf("NextExpectedVersion = %d, want 1", first.NextExpectedVersion)
		}
		for _, expected := range []esdb.ExpectedRevision{esdb.Any{}, esdb.StreamExists{}} {
			if retry := mustAppend(t, e.client, stream, expected, batch...); *retry != *first {
				t.Errorf("retry with %T returned %+v, want the original result %+v", expected, *retry, *first)
			}
		}
		requireEventIDs(t, e.client, stream, ids(batch...))
	})
	t.Run("StreamExists", func(t *testing.T) {
		stream := uniqueName("link-")
		created := jsonEvent("LinkCreated", `{}`)
		mustAppend(t, e.client, stream, esdb.NoStream{}, created)
		batch := []esdb.EventData{jsonEvent("LinkRotated", `{}`), jsonEvent("LinkShared", `{}`)}
		first := mustAppend(t, e.client, stream, esdb.StreamExists{}, batch...)
		if first.NextExpectedVersion != 2 {
			t.Fatalf("NextExpectedVersion = %d, want 2", first.NextExpectedVersion)
		}
		if retry := mustAppend(t, e.client, stream, esdb.StreamExists{}, batch...); *retry != *first {
			t.Errorf("retry returned %+v, want the original result %+v", *retry, *first)
		}
		requireEventIDs(t, e.client, stream, ids(created, batch[0], batch[1]))
	})
}

func testPartialIdempotency(t *testing.T, e *env) {
	stream := uniqueName("reservation-")
	a, b, c := jsonEvent("Reserved", `{"n":"a"}`), jsonEvent("Reserved", `{"n":"b"}`), jsonEvent("Reserved", `{"n":"c"}`)
	mustAppend(t, e.client, stream, esdb.NoStream{}, a, b)
	ctx := testContext(t, waitFor)

	for _, tc := range []struct {
		name     string
		expected esdb.ExpectedRevision
		events   []esdb.EventData
	}{
		{"[A,C] NoStream", esdb.NoStream{}, []esdb.EventData{a, c}},
		{"[A,B,C] NoStream", esdb.NoStream{}, []esdb.EventData{a, b, c}},
		{"[B,C] Revision(0)", esdb.Revision(0), []esdb.EventData{b, c}},
		{"[A,C] Any", esdb.Any{}, []esdb.EventData{a, c}},
	} {
		_, err := e.client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: tc.expected}, tc.events...)
		if err == nil {
			t.Errorf("%s: append succeeded, want wrong expected version", tc.name)
			continue
		}
		var esErr *esdb.Error
		if !errors.As(err, &esErr) || esErr.Code() != esdb.ErrorCodeWrongExpectedVersion {
			t.Errorf("%s: got %v, want wrong expected version", tc.name, err)
		}
	}
	requireEventIDs(t, e.client, stream, ids(a, b))
}

// ---- 9-11: metadata ----

func testMetadataRoundTrip(t *testing.T, e *env) {
	stream := uniqueName("org-")
	var meta esdb.StreamMetadata
	meta.SetMaxAge(2 * time.Second)
	var acl esdb.Acl
	acl.AddReadRoles("admin")
	meta.SetAcl(acl)
	meta.AddCustomProperty("owner", "onboarding")

	ctx := testContext(t, waitFor)
	res, err := e.client.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{}, meta)
	if err != nil {
		t.Fatalf("SetStreamMetadata: %v", err)
	}
	if res.NextExpectedVersion != 0 {
		t.Errorf("metastream NextExpectedVersion = %d, want 0", res.NextExpectedVersion)
	}
	got, err := e.client.GetStreamMetadata(ctx, stream, esdb.ReadStreamOptions{})
	if err != nil {
		t.Fatalf("GetStreamMetadata: %v", err)
	}
	if got.MaxAge() == nil || *got.MaxAge() != 2*time.Second {
		t.Errorf("MaxAge = %v, want 2s", got.MaxAge())
	}
	if a := got.StreamAcl(); a == nil || !slices.Equal(a.ReadRoles(), []string{"admin"}) {
		t.Errorf("ACL = %#v, want read roles [admin]", got.Acl())
	}
	if !reflect.DeepEqual(got, &meta) {
		t.Errorf("GetStreamMetadata = %+v, want %+v", *got, meta)
	}
}

func testMetastreamKeepsOnlyLatest(t *testing.T, e *env) {
	stream := uniqueName("org-")
	ctx := testContext(t, waitFor)
	var first, second esdb.StreamMetadata
	first.SetMaxCount(10)
	second.SetMaxCount(20)
	second.AddCustomProperty("generation", "2")
	if _, err := e.client.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, first); err != nil {
		t.Fatalf("first SetStreamMetadata: %v", err)
	}
	// The expected revision applies to the metastream.
	res, err := e.client.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(0)}, second)
	if err != nil {
		t.Fatalf("second SetStreamMetadata: %v", err)
	}
	if res.NextExpectedVersion != 1 {
		t.Errorf("metastream NextExpectedVersion = %d, want 1", res.NextExpectedVersion)
	}
	_, err = e.client.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(0)}, first)
	requireCode(t, err, esdb.ErrorCodeWrongExpectedVersion)

	got, err := e.client.GetStreamMetadata(ctx, stream, esdb.ReadStreamOptions{})
	if err != nil {
		t.Fatalf("GetStreamMetadata: %v", err)
	}
	if !reflect.DeepEqual(got, &second) {
		t.Errorf("GetStreamMetadata = %+v, want the second metadata %+v", *got, second)
	}
	// The client reads forwards from Start with count 1; it gets the latest
	// only because a metastream keeps one event ($maxCount 1).
	events := readStream(t, e.client, "$$"+stream, esdb.ReadStreamOptions{}, 10)
	if len(events) != 1 || events[0].Event.EventNumber != 1 || events[0].Event.EventType != "$metadata" {
		var got []string
		for _, ev := range events {
			got = append(got, describeEvent(ev))
		}
		t.Errorf("$$%s forwards from Start: %v, want only the $metadata event at revision 1", stream, got)
	}
}

func testMissingMetadata(t *testing.T, e *env) {
	ctx := testContext(t, waitFor)
	missing := uniqueName("nometa-")
	_, err := e.client.GetStreamMetadata(ctx, missing, esdb.ReadStreamOptions{})
	requireCode(t, err, esdb.ErrorCodeResourceNotFound)

	existing := uniqueName("nometa-")
	mustAppend(t, e.client, existing, esdb.NoStream{}, jsonEvent("Plain", `{}`))
	_, err = e.client.GetStreamMetadata(ctx, existing, esdb.ReadStreamOptions{})
	requireCode(t, err, esdb.ErrorCodeResourceNotFound)
}

// ---- 12-15: stream reads ----

func testReadToEnd(t *testing.T, e *env) {
	raw := e.raw
	stream := uniqueName("ten-")
	events := numberedEvents("Numbered", 0, 10)
	mustAppend(t, e.client, stream, esdb.NoStream{}, events...)

	msgs, _, err := rawReadStream(testContext(t, waitFor), raw, stream, 1024)
	if err != nil {
		t.Fatalf("plain gRPC read: %v", err)
	}
	checkRawCountRead(t, msgs)
	if len(msgs) != 10 {
		t.Fatalf("plain gRPC read: %d messages, want 10 events", len(msgs))
	}
	// uuid_option.string asks for ids as strings.
	req := rawReadRequest(stream, 1)
	req.Options.UuidOption = &api.ReadReq_Options_UUIDOption{Content: &api.ReadReq_Options_UUIDOption_String_{String_: &shared.Empty{}}}
	msgs, _, err = rawRead(testContext(t, waitFor), raw, req)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("plain gRPC read with string ids: %d messages, %v; want 1 event", len(msgs), err)
	}
	if got := msgs[0].GetEvent().GetEvent().GetId().GetString_(); got != events[0].EventID.String() {
		t.Errorf("with uuid_option.string the id is %q (%v), want %q", got, msgs[0].GetEvent().GetEvent().GetId(), events[0].EventID)
	}

	rs, err := e.client.ReadStream(testContext(t, waitFor), stream, esdb.ReadStreamOptions{}, 1024)
	if err != nil {
		t.Fatalf("ReadStream: %v", err)
	}
	defer rs.Close()
	for i := range 10 {
		ev, err := rs.Recv()
		if err != nil {
			t.Fatalf("Recv %d: %v", i, err)
		}
		if ev.Event.EventNumber != uint64(i) || ev.Event.EventID != events[i].EventID {
			t.Fatalf("Recv %d: got %s", i, describeEvent(ev))
		}
	}
	for i := range 2 {
		if ev, err := rs.Recv(); !errors.Is(err, io.EOF) {
			t.Fatalf("Recv after the last event (%d): %s, %v; want io.EOF", i+1, describeEvent(ev), err)
		}
	}
}

func testMissingStream(t *testing.T, e *env) {
	raw := e.raw
	stream := uniqueName("absent-")
	msgs, _, err := rawReadStream(testContext(t, waitFor), raw, stream, 10)
	if err != nil {
		t.Fatalf("plain gRPC read: status %v, want stream_not_found then OK", err)
	}
	checkRawCountRead(t, msgs)
	if len(msgs) != 1 || msgs[0].GetStreamNotFound() == nil ||
		string(msgs[0].GetStreamNotFound().GetStreamIdentifier().GetStreamName()) != stream {
		t.Fatalf("plain gRPC read: %v, want one stream_not_found naming %q", msgs, stream)
	}
	requireNotFound(t, e.client, stream, esdb.ReadStreamOptions{})
	requireNotFound(t, e.client, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}})
}

func testMaxAge(t *testing.T, e *env) {
	ctx := testContext(t, waitFor)
	expiring, kept := uniqueName("expiring-"), uniqueName("kept-")
	res := mustAppend(t, e.client, expiring, esdb.NoStream{}, jsonEvent("Short", `{}`))
	mustAppend(t, e.client, kept, esdb.NoStream{}, jsonEvent("Long", `{}`))
	var short, long esdb.StreamMetadata
	short.SetMaxAge(time.Second)
	long.SetMaxAge(time.Hour)
	if _, err := e.client.SetStreamMetadata(ctx, expiring, esdb.AppendToStreamOptions{}, short); err != nil {
		t.Fatalf("SetStreamMetadata: %v", err)
	}
	if _, err := e.client.SetStreamMetadata(ctx, kept, esdb.AppendToStreamOptions{}, long); err != nil {
		t.Fatalf("SetStreamMetadata: %v", err)
	}

	time.Sleep(2 * time.Second) // the retention semantics need the event to age

	for _, opts := range []esdb.ReadStreamOptions{{}, {Direction: esdb.Backwards, From: esdb.End{}}} {
		rs, err := e.client.ReadStream(ctx, expiring, opts, 10)
		if err != nil {
			t.Fatalf("ReadStream: %v", err)
		}
		ev, err := rs.Recv()
		rs.Close()
		if !errors.Is(err, io.EOF) {
			t.Errorf("read (direction %d) of a stream whose only event is past $maxAge: %s, %v; want io.EOF at once", opts.Direction, describeEvent(ev), err)
		}
	}
	if got := readStream(t, e.client, kept, esdb.ReadStreamOptions{}, 10); len(got) != 1 {
		t.Errorf("stream with $maxAge 1h: read %d events, want 1", len(got))
	}
	// Retention does not apply to $all.
	all := readAll(t, e.client, esdb.ReadAllOptions{From: positionOf(res)}, 1)
	if len(all) != 1 || all[0].Event.StreamID != expiring {
		t.Errorf("$all from the expired event's position: %v, want that event", all)
	}
}

func testEventFields(t *testing.T, e *env) {
	stream := uniqueName("fields-")
	var written []esdb.EventData
	var results []*esdb.WriteResult
	before := time.Now()
	for i := range 5 {
		ev := jsonEvent("FieldsChecked", fmt.Sprintf(`{"i":%d}`, i))
		ev.Metadata = []byte(fmt.Sprintf(`{"m":%d}`, i))
		if i%2 == 1 {
			ev = esdb.EventData{EventID: uuid.New(), EventType: "BlobStored", ContentType: esdb.ContentTypeBinary,
				Data: []byte{0, 1, 2, byte(i), 0xff}, Metadata: []byte(fmt.Sprintf("meta-%d", i))}
		}
		if i == 3 {
			ev.Metadata = nil // empty user metadata reads back empty
		}
		var expected esdb.ExpectedRevision = esdb.NoStream{}
		if i > 0 {
			expected = esdb.Revision(uint64(i - 1))
		}
		written = append(written, ev)
		results = append(results, mustAppend(t, e.client, stream, expected, ev))
	}
	after := time.Now()

	check := func(name string, got []*esdb.ResolvedEvent, revisions []uint64) {
		t.Helper()
		if len(got) != len(revisions) {
			t.Fatalf("%s: %d events, want revisions %v", name, len(got), revisions)
		}
		for i, ev := range got {
			rev := revisions[i]
			checkRecorded(t, ev, written[rev], stream, rev, results[rev])
			created := ev.Event.CreatedDate
			if created.Before(before.Add(-time.Second)) || created.After(after.Add(time.Second)) {
				t.Errorf("%s: revision %d created %v, want between %v and %v", name, rev, created, before, after)
			}
		}
	}
	check("forwards from Start", readStream(t, e.client, stream, esdb.ReadStreamOptions{}, 100), []uint64{0, 1, 2, 3, 4})
	check("backwards from End", readStream(t, e.client, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 100), []uint64{4, 3, 2, 1, 0})
	check("forwards from 2", readStream(t, e.client, stream, esdb.ReadStreamOptions{From: esdb.Revision(2)}, 100), []uint64{2, 3, 4})
	check("backwards from 2", readStream(t, e.client, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Revision(2)}, 100), []uint64{2, 1, 0})
	check("forwards, count 2", readStream(t, e.client, stream, esdb.ReadStreamOptions{}, 2), []uint64{0, 1})
	check("backwards from End, count 1", readStream(t, e.client, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1), []uint64{4})

	for i := 1; i < len(results); i++ {
		if results[i].CommitPosition <= results[i-1].CommitPosition {
			t.Errorf("append %d at position %d, not after append %d at %d", i, results[i].CommitPosition, i-1, results[i-1].CommitPosition)
		}
	}
}

// ---- 16-18: $all reads ----

// threeEvents appends three events one by one and returns them with their
// positions.
func threeEvents(t *testing.T, c *esdb.Client, stream string) ([]esdb.EventData, []esdb.Position) {
	t.Helper()
	var events []esdb.EventData
	var positions []esdb.Position
	for i := range 3 {
		ev := jsonEvent("AllRead", fmt.Sprintf(`{"i":%d}`, i))
		var expected esdb.ExpectedRevision = esdb.NoStream{}
		if i > 0 {
			expected = esdb.Revision(uint64(i - 1))
		}
		events = append(events, ev)
		positions = append(positions, positionOf(mustAppend(t, c, stream, expected, ev)))
	}
	return events, positions
}

func testReadAllForwardsInclusive(t *testing.T, e *env) {
	events, pos := threeEvents(t, e.client, uniqueName("all-fwd-"))
	got := readAll(t, e.client, esdb.ReadAllOptions{From: pos[1]}, 2)
	if len(got) != 2 {
		t.Fatalf("read %d events, want 2", len(got))
	}
	if got[0].Event.EventID != events[1].EventID || got[0].Event.Position != pos[1] {
		t.Errorf("first event: %s, want %s at %d", describeEvent(got[0]), events[1].EventID, pos[1].Commit)
	}
	if p := got[1].Event.Position; p.Commit <= pos[1].Commit || p.Commit > pos[2].Commit {
		t.Errorf("second event at %d, want after %d and not after %d", p.Commit, pos[1].Commit, pos[2].Commit)
	}
}

func testReadAllBackwardsExclusive(t *testing.T, e *env) {
	_, pos := threeEvents(t, e.client, uniqueName("all-bwd-"))
	got := readAll(t, e.client, esdb.ReadAllOptions{Direction: esdb.Backwards, From: pos[1]}, 1)
	if len(got) != 1 {
		t.Fatalf("read %d events, want 1", len(got))
	}
	prev := got[0].Event.Position
	if prev.Commit >= pos[1].Commit || prev.Commit < pos[0].Commit {
		t.Fatalf("backwards from %d: first event at %d, want before it and not before %d", pos[1].Commit, prev.Commit, pos[0].Commit)
	}
	// It is the record just before P: forwards from it come it and P.
	fwd := readAll(t, e.client, esdb.ReadAllOptions{From: prev}, 2)
	if len(fwd) != 2 || fwd[0].Event.Position != prev || fwd[1].Event.Position != pos[1] {
		t.Errorf("forwards from %d: %v, want the events at %d and %d", prev.Commit, fwd, prev.Commit, pos[1].Commit)
	}
}

func testReadAllBackwardsFromStart(t *testing.T, e *env) {
	mustAppend(t, e.client, uniqueName("nonempty-"), esdb.NoStream{}, jsonEvent("Something", `{}`))
	if got := readAll(t, e.client, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.Start{}}, 1); len(got) != 0 {
		t.Errorf("backwards from Start returned %s, want io.EOF at once", describeEvent(got[0]))
	}
}

// ---- 19-23: delete and tombstone ----

func testSoftDelete(t *testing.T, e *env) {
	stream := uniqueName("deleted-")
	mustAppend(t, e.client, stream, esdb.NoStream{}, jsonEvent("Created", `{}`))
	res, err := e.client.DeleteStream(testContext(t, waitFor), stream, esdb.DeleteStreamOptions{ExpectedRevision: esdb.Revision(0)})
	if err != nil {
		t.Fatalf("DeleteStream: %v", err)
	}
	if res.Position.Commit == 0 || res.Position.Prepare == 0 {
		t.Fatalf("delete position %d/%d, want both > 0", res.Position.Commit, res.Position.Prepare)
	}
	requireNotFound(t, e.client, stream, esdb.ReadStreamOptions{})
	requireNotFound(t, e.client, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}})

	// The returned position is the $metadata record that replaced the metadata
	// with {"$tb": 2^63-1}.
	at := readAll(t, e.client, esdb.ReadAllOptions{From: res.Position}, 1)
	if len(at) != 1 || at[0].Event.EventType != "$metadata" || at[0].Event.StreamID != "$$"+stream {
		t.Fatalf("$all at the delete position: %v, want the $metadata event of $$%s", at, stream)
	}
	dec := json.NewDecoder(bytes.NewReader(at[0].Event.Data))
	dec.UseNumber()
	var meta map[string]any
	if err := dec.Decode(&meta); err != nil {
		t.Fatalf("metadata %q: %v", at[0].Event.Data, err)
	}
	if tb, ok := meta["$tb"].(json.Number); !ok || tb.String() != "9223372036854775807" {
		t.Errorf("metadata after delete = %s, want {\"$tb\":9223372036854775807}", at[0].Event.Data)
	}
}

func testStreamExistsOnSoftDeleted(t *testing.T, e *env) {
	stream := uniqueName("deleted-")
	mustAppend(t, e.client, stream, esdb.NoStream{}, jsonEvent("Created", `{}`))
	if _, err := e.client.DeleteStream(testContext(t, waitFor), stream, esdb.DeleteStreamOptions{}); err != nil {
		t.Fatalf("DeleteStream: %v", err)
	}
	_, err := e.client.AppendToStream(testContext(t, waitFor), stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.StreamExists{}}, jsonEvent("Updated", `{}`))
	requireCode(t, err, esdb.ErrorCodeStreamDeleted)
	requireNotFound(t, e.client, stream, esdb.ReadStreamOptions{})
}

func testRecreateAfterSoftDelete(t *testing.T, e *env) {
	for _, expected := range []esdb.ExpectedRevision{esdb.NoStream{}, esdb.Any{}, esdb.Revision(2)} {
		t.Run(strings.TrimPrefix(fmt.Sprintf("%T", expected), "esdb."), func(t *testing.T) {
			stream := uniqueName("recreated-")
			mustAppend(t, e.client, stream, esdb.NoStream{}, numberedEvents("Before", 0, 3)...)
			if _, err := e.client.DeleteStream(testContext(t, waitFor), stream, esdb.DeleteStreamOptions{}); err != nil {
				t.Fatalf("DeleteStream: %v", err)
			}
			again := jsonEvent("After", `{}`)
			res := mustAppend(t, e.client, stream, expected, again)
			if res.NextExpectedVersion != 3 {
				t.Errorf("NextExpectedVersion = %d, want 3 (revisions continue after a soft delete)", res.NextExpectedVersion)
			}
			got := readStream(t, e.client, stream, esdb.ReadStreamOptions{}, 10)
			if len(got) != 1 || got[0].Event.EventNumber != 3 || got[0].Event.EventID != again.EventID {
				var desc []string
				for _, ev := range got {
					desc = append(desc, describeEvent(ev))
				}
				t.Errorf("read after recreation: %v, want only the new event at revision 3", desc)
			}
			// The older events stay hidden behind $tb = the first new revision.
			meta, err := e.client.GetStreamMetadata(testContext(t, waitFor), stream, esdb.ReadStreamOptions{})
			if err != nil || meta.TruncateBefore() == nil || *meta.TruncateBefore() != 3 {
				t.Errorf("metadata after recreation: %+v, %v; want $tb 3", meta, err)
			}
		})
	}
}

func deleteRequest(stream string, revision uint64) *api.DeleteReq {
	return &api.DeleteReq{Options: &api.DeleteReq_Options{
		StreamIdentifier:       streamID(stream),
		ExpectedStreamRevision: &api.DeleteReq_Options_Revision{Revision: revision},
	}}
}

func testDeleteWrongRevision(t *testing.T, e *env) {
	raw := e.raw
	stream := uniqueName("kept-")
	ev := jsonEvent("Created", `{}`)
	mustAppend(t, e.client, stream, esdb.NoStream{}, ev)

	var trailer metadata.MD
	_, err := raw.Delete(testContext(t, waitFor), deleteRequest(stream, 5), grpc.Trailer(&trailer))
	requireStatus(t, err, codes.FailedPrecondition)
	requireTrailer(t, trailer, "exception", "wrong-expected-version")
	requireTrailer(t, trailer, "stream-name", stream)
	requireTrailer(t, trailer, "expected-version", "5")
	requireTrailer(t, trailer, "actual-version", "0")

	_, err = e.client.DeleteStream(testContext(t, waitFor), stream, esdb.DeleteStreamOptions{ExpectedRevision: esdb.Revision(5)})
	requireCode(t, err, esdb.ErrorCodeUnknown)
	requireEventIDs(t, e.client, stream, ids(ev))
}

func testDeleteMissingStream(t *testing.T, e *env) {
	stream := uniqueName("never-")
	_, err := e.client.DeleteStream(testContext(t, waitFor), stream, esdb.DeleteStreamOptions{})
	// FailedPrecondition with wrong-expected-version, which the client reports
	// as Unknown.
	requireCode(t, err, esdb.ErrorCodeUnknown)
	requireNotFound(t, e.client, stream, esdb.ReadStreamOptions{})
}

func testTombstone(t *testing.T, e *env) {
	raw := e.raw
	stream := uniqueName("tombstoned-")
	mustAppend(t, e.client, stream, esdb.NoStream{}, jsonEvent("Created", `{}`))
	ctx := testContext(t, waitFor)
	res, err := e.client.TombstoneStream(ctx, stream, esdb.TombstoneStreamOptions{ExpectedRevision: esdb.Revision(0)})
	if err != nil {
		t.Fatalf("TombstoneStream: %v", err)
	}
	if res.Position.Commit == 0 || res.Position.Prepare == 0 {
		t.Fatalf("tombstone position %d/%d, want both > 0", res.Position.Commit, res.Position.Prepare)
	}

	// Check the trailers first: without stream-name the client panics.
	_, trailer, err := rawAppend(ctx, raw, stream, proposed("Updated", "application/json", []byte(`{}`)))
	requireStreamDeletedStatus(t, err, trailer, stream)

	_, err = e.client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, jsonEvent("Updated", `{}`))
	requireCode(t, err, esdb.ErrorCodeStreamDeleted)
	_, err = e.client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, jsonEvent("Recreated", `{}`))
	requireCode(t, err, esdb.ErrorCodeStreamDeleted)
	_, err = e.client.TombstoneStream(ctx, stream, esdb.TombstoneStreamOptions{})
	requireCode(t, err, esdb.ErrorCodeStreamDeleted)
	_, err = e.client.DeleteStream(ctx, stream, esdb.DeleteStreamOptions{})
	requireCode(t, err, esdb.ErrorCodeStreamDeleted)

	// The returned position is the $streamDeleted record.
	at := readAll(t, e.client, esdb.ReadAllOptions{From: res.Position}, 1)
	if len(at) != 1 || at[0].Event.EventType != "$streamDeleted" || at[0].Event.StreamID != stream || at[0].Event.EventNumber != math.MaxInt64 {
		t.Errorf("$all at the tombstone position: %v, want $streamDeleted in %q at revision 2^63-1", at, stream)
	}
}

func testReadAfterTombstone(t *testing.T, e *env) {
	raw := e.raw
	stream := uniqueName("tombstoned-")
	mustAppend(t, e.client, stream, esdb.NoStream{}, numberedEvents("Created", 0, 3)...)
	if _, err := e.client.TombstoneStream(testContext(t, waitFor), stream, esdb.TombstoneStreamOptions{}); err != nil {
		t.Fatalf("TombstoneStream: %v", err)
	}
	msgs, trailer, err := rawReadStream(testContext(t, waitFor), raw, stream, 10)
	if len(msgs) != 0 {
		t.Fatalf("plain gRPC read of a tombstoned stream sent %d messages before the error", len(msgs))
	}
	requireStreamDeletedStatus(t, err, trailer, stream)

	requireStreamDeleted(t, e.client, stream)
}

func testSubscriptionSeesTombstone(t *testing.T, e *env) {
	stream := uniqueName("tombstoned-")
	mustAppend(t, e.client, stream, esdb.NoStream{}, jsonEvent("Created", `{}`))
	sub, err := e.client.SubscribeToStream(testContext(t, waitFor*2), stream, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	r := readSubscription(t, sub)
	if ev := r.nextEvent(t); ev.Event.EventNumber != 0 {
		t.Fatalf("first event: %s", describeEvent(ev))
	}
	r.expectCaughtUp(t)
	if _, err := e.client.TombstoneStream(testContext(t, waitFor), stream, esdb.TombstoneStreamOptions{}); err != nil {
		t.Fatalf("TombstoneStream: %v", err)
	}
	if ev := r.nextEvent(t); ev.Event.EventType != "$streamDeleted" || ev.Event.EventNumber != math.MaxInt64 {
		t.Fatalf("after the tombstone: %s, want $streamDeleted at revision 2^63-1", describeEvent(ev))
	}
	m := r.next(t)
	if m.SubscriptionDropped == nil {
		t.Fatalf("after $streamDeleted: %s, want the subscription to end", describeMessage(m))
	}
	if got := status.Code(m.SubscriptionDropped.Error); got != codes.FailedPrecondition {
		t.Errorf("subscription ended with %v (status %s), want FailedPrecondition stream-deleted", m.SubscriptionDropped.Error, got)
	}
}

// ---- 24-30: subscriptions ----

func testStreamSubscription6000(t *testing.T, e *env) {
	stream := uniqueName("subscribed-")
	events := numberedEvents("Counted", 0, 6000)
	appendInBatches(t, e.client, stream, events, 100)

	sub, err := e.client.SubscribeToStream(testContext(t, time.Minute), stream, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	r := readSubscription(t, sub)
	for i := range events {
		m := r.next(t)
		if m.EventAppeared == nil {
			t.Fatalf("after %d of 6000 catch-up events: got %s", i, describeMessage(m))
		}
		if ev := m.EventAppeared.Event; ev.EventNumber != uint64(i) || ev.EventID != events[i].EventID {
			t.Fatalf("catch-up event %d: got %s", i, describeEvent(m.EventAppeared))
		}
	}
	r.expectCaughtUp(t)

	live := jsonEvent("Counted", `{"n":6000}`)
	mustAppend(t, e.client, stream, esdb.Revision(5999), live)
	if ev := r.nextEvent(t); ev.Event.EventNumber != 6000 || ev.Event.EventID != live.EventID {
		t.Fatalf("live event: %s, want revision 6000 id %s", describeEvent(ev), live.EventID)
	}
}

func testCaughtUp(t *testing.T, e *env) {
	stream := uniqueName("history-")
	events := numberedEvents("Counted", 0, 300)
	appendInBatches(t, e.client, stream, events, 50)
	ctx := testContext(t, waitFor*2)

	sub, err := e.client.SubscribeToStream(ctx, stream, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	before := readSubscription(t, sub).untilCaughtUp(t)
	if len(before) != len(events) {
		t.Fatalf("caught_up after %d messages, want after all %d historical events", len(before), len(events))
	}
	for i, m := range before {
		if m.EventAppeared == nil || m.EventAppeared.Event.EventNumber != uint64(i) {
			t.Fatalf("message %d before caught_up: %s, want revision %d (stream subscriptions send no checkpoints)", i, describeMessage(m), i)
		}
	}

	// From End: live only, with caught_up at once.
	sub, err = e.client.SubscribeToStream(ctx, stream, esdb.SubscribeToStreamOptions{From: esdb.End{}})
	if err != nil {
		t.Fatalf("subscribe from End: %v", err)
	}
	r := readSubscription(t, sub)
	r.expectCaughtUp(t)
	live := jsonEvent("Counted", `{"n":300}`)
	mustAppend(t, e.client, stream, esdb.Revision(299), live)
	if ev := r.nextEvent(t); ev.Event.EventNumber != 300 || ev.Event.EventID != live.EventID {
		t.Fatalf("from End: first event %s, want the live event at revision 300", describeEvent(ev))
	}

	t.Run("MissingStream", func(t *testing.T) {
		missing := uniqueName("future-")
		var readers []*subscriptionReader
		for _, from := range []esdb.StreamPosition{esdb.Start{}, esdb.End{}} {
			sub, err := e.client.SubscribeToStream(ctx, missing, esdb.SubscribeToStreamOptions{From: from})
			if err != nil {
				t.Fatalf("subscribe to a missing stream from %T: %v", from, err)
			}
			r := readSubscription(t, sub)
			r.expectCaughtUp(t)
			readers = append(readers, r)
		}
		created := jsonEvent("Created", `{}`)
		mustAppend(t, e.client, missing, esdb.NoStream{}, created)
		for _, r := range readers {
			if ev := r.nextEvent(t); ev.Event.EventNumber != 0 || ev.Event.EventID != created.EventID {
				t.Fatalf("first event of the new stream: %s", describeEvent(ev))
			}
		}
	})
	t.Run("AllFromEnd", func(t *testing.T) {
		tag := uniqueName("allend-")
		mustAppend(t, e.client, tag, esdb.NoStream{}, jsonEvent("Old", `{}`))
		sub, err := e.client.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.End{},
			Filter: &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{tag}}})
		if err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		r := readSubscription(t, sub)
		for _, m := range r.untilCaughtUp(t) {
			if m.CheckPointReached == nil {
				t.Fatalf("$all from End, before caught_up: %s, want at most checkpoints", describeMessage(m))
			}
		}
		live := jsonEvent("New", `{}`)
		res := mustAppend(t, e.client, tag, esdb.Revision(0), live)
		floor := esdb.Position{}
		got := r.nextFilteredEvent(t, &floor)
		requireSameEvents(t, []*esdb.ResolvedEvent{got}, []writtenEvent{{data: live, pos: positionOf(res)}})
	})
}

func testExclusiveResume(t *testing.T, e *env) {
	stream := uniqueName("resumed-")
	events := numberedEvents("Counted", 0, 10)
	res := mustAppend(t, e.client, stream, esdb.NoStream{}, events...)
	ctx := testContext(t, waitFor*2)

	t.Run("StreamFromRevision4", func(t *testing.T) {
		sub, err := e.client.SubscribeToStream(ctx, stream, esdb.SubscribeToStreamOptions{From: esdb.Revision(4)})
		if err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		got := readSubscription(t, sub).untilCaughtUp(t)
		var revisions []uint64
		for _, m := range got {
			if m.EventAppeared == nil {
				t.Fatalf("before caught_up: %s", describeMessage(m))
			}
			revisions = append(revisions, m.EventAppeared.Event.EventNumber)
		}
		if want := []uint64{5, 6, 7, 8, 9}; !slices.Equal(revisions, want) {
			t.Fatalf("from Revision(4): revisions %v, want %v", revisions, want)
		}
	})
	t.Run("AllFromPosition", func(t *testing.T) {
		p := positionOf(res) // the last of the ten events
		sub, err := e.client.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: p})
		if err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		// Make sure something follows P, whoever else is writing.
		mustAppend(t, e.client, stream, esdb.Revision(9), jsonEvent("Counted", `{"n":10}`))
		floor := esdb.Position{}
		first := readSubscription(t, sub).nextFilteredEvent(t, &floor) // caught_up may come first
		// The first event must be the record right after P.
		next := readAll(t, e.client, esdb.ReadAllOptions{From: p}, 2)
		if len(next) != 2 || next[0].Event.Position != p {
			t.Fatalf("$all from %d: %v, want the event at %d and the one after it", p.Commit, next, p.Commit)
		}
		if first.Event.Position.Commit <= p.Commit || first.Event.EventID != next[1].Event.EventID {
			t.Fatalf("SubscribeToAll from %d: first event %s, want %s, the next one after it", p.Commit, describeEvent(first), describeEvent(next[1]))
		}
	})
}

// nextFilteredEvent skips checkpoints (checking they never decrease) and
// repeated caught_up messages, and returns the next event.
func (r *subscriptionReader) nextFilteredEvent(t *testing.T, floor *esdb.Position) *esdb.ResolvedEvent {
	t.Helper()
	for {
		m := r.next(t)
		switch {
		case m.EventAppeared != nil:
			return m.EventAppeared
		case m.CheckPointReached != nil:
			*floor = checkpointsNeverDecrease(t, []*esdb.SubscriptionEvent{m}, *floor)
		case m.SubscriptionDropped != nil:
			t.Fatalf("subscription dropped: %v", m.SubscriptionDropped.Error)
		}
	}
}

// writtenEvent is an event and the position its single-event append
// returned.
type writtenEvent struct {
	data esdb.EventData
	pos  esdb.Position
}

// appendOneByOne appends each event on its own to its stream, so each
// append result is that event's position.
func appendOneByOne(t *testing.T, c *esdb.Client, streams []string, events []esdb.EventData) []writtenEvent {
	t.Helper()
	out := make([]writtenEvent, len(events))
	for i, ev := range events {
		out[i] = writtenEvent{data: ev, pos: positionOf(mustAppend(t, c, streams[i], esdb.Any{}, ev))}
	}
	return out
}

// requireFilteredCatchUp subscribes to $all from Start with filter and
// checks that exactly want arrives before caught_up, in order, with the
// positions the appends returned.
func requireFilteredCatchUp(t *testing.T, c *esdb.Client, filter *esdb.SubscriptionFilter, want []writtenEvent) *subscriptionReader {
	t.Helper()
	sub, err := c.SubscribeToAll(testContext(t, time.Minute), esdb.SubscribeToAllOptions{From: esdb.Start{}, Filter: filter})
	if err != nil {
		t.Fatalf("subscribe with filter %+v: %v", *filter, err)
	}
	r := readSubscription(t, sub)
	msgs := r.untilCaughtUp(t)
	checkpointsNeverDecrease(t, msgs, esdb.Position{})
	var got []*esdb.ResolvedEvent
	for _, m := range msgs {
		if m.EventAppeared != nil {
			got = append(got, m.EventAppeared)
		}
	}
	requireSameEvents(t, got, want)
	return r
}

func requireSameEvents(t *testing.T, got []*esdb.ResolvedEvent, want []writtenEvent) {
	t.Helper()
	same := len(got) == len(want)
	for i := 0; same && i < len(got); i++ {
		same = got[i].Event.EventID == want[i].data.EventID && got[i].Event.Position == want[i].pos
	}
	if !same {
		var g, w []string
		for _, ev := range got {
			g = append(g, describeEvent(ev))
		}
		for _, ev := range want {
			w = append(w, fmt.Sprintf("type=%q pos=%d id=%s", ev.data.EventType, ev.pos.Commit, ev.data.EventID))
		}
		t.Fatalf("got events\n  %s\nwant\n  %s", strings.Join(g, "\n  "), strings.Join(w, "\n  "))
	}
}

func matching(events []writtenEvent, keep func(esdb.EventData, int) bool) []writtenEvent {
	var out []writtenEvent
	for i, ev := range events {
		if keep(ev.data, i) {
			out = append(out, ev)
		}
	}
	return out
}

func testEventTypePrefixFilter(t *testing.T, e *env) {
	tag := uniqueName("")
	prefix := tag + "-eventType-194"
	types := []string{
		prefix,
		tag + "-eventType-195",
		prefix + "5",
		"x" + prefix,
		strings.ToUpper(tag) + "-eventType-194", // case-sensitive
		tag + "-eventType-19",
		prefix,
	}
	stream := tag + "-filtered"
	var events []esdb.EventData
	var streams []string
	for i, typ := range types {
		events = append(events, jsonEvent(typ, fmt.Sprintf(`{"i":%d}`, i)))
		streams = append(streams, stream)
	}
	written := appendOneByOne(t, e.client, streams, events)
	want := matching(written, func(ev esdb.EventData, _ int) bool { return strings.HasPrefix(ev.EventType, prefix) })

	r := requireFilteredCatchUp(t, e.client, &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Prefixes: []string{prefix}}, want)

	// Live: only the matching event arrives.
	skipped, live := jsonEvent(tag+"-eventType-1", `{}`), jsonEvent(prefix+"-live", `{}`)
	mustAppend(t, e.client, stream, esdb.Any{}, skipped)
	res := mustAppend(t, e.client, stream, esdb.Any{}, live)
	floor := esdb.Position{}
	got := r.nextFilteredEvent(t, &floor)
	requireSameEvents(t, []*esdb.ResolvedEvent{got}, []writtenEvent{{data: live, pos: positionOf(res)}})
}

func testStreamPrefixFilter(t *testing.T, e *env) {
	tag := uniqueName("")
	names := []string{tag + "-acc-1", tag + "-acc-2", tag + "-inv-1", tag + "-other-1", "x" + tag + "-acc-3", tag + "-ACC-4"}
	var events []esdb.EventData
	var streams []string
	for round := range 2 {
		for _, name := range names {
			events = append(events, jsonEvent("Touched", fmt.Sprintf(`{"round":%d}`, round)))
			streams = append(streams, name)
		}
	}
	written := appendOneByOne(t, e.client, streams, events)
	want := matching(written, func(_ esdb.EventData, i int) bool {
		return strings.HasPrefix(streams[i], tag+"-acc-") || strings.HasPrefix(streams[i], tag+"-inv-")
	})
	requireFilteredCatchUp(t, e.client, &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{tag + "-acc-", tag + "-inv-"}}, want)
}

func testRegexFilters(t *testing.T, e *env) {
	tag := uniqueName("")
	t.Run("EventType", func(t *testing.T) {
		types := []string{
			tag + ".OrderPlaced",
			tag + ".OrderCancelled",
			"pre." + tag + ".OrderShipped", // the regex is a search, not a full match
			tag + ".orderplaced",           // case-sensitive
			tag + "XOrderPlaced",           // the dot is escaped
			tag + ".OrderShipped",
		}
		var events []esdb.EventData
		var streams []string
		for _, typ := range types {
			events = append(events, jsonEvent(typ, `{}`))
			streams = append(streams, tag+"-orders")
		}
		written := appendOneByOne(t, e.client, streams, events)
		want := matching(written, func(_ esdb.EventData, i int) bool { return i == 0 || i == 2 || i == 5 })
		requireFilteredCatchUp(t, e.client, &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Regex: tag + `\.Order(Placed|Shipped)`}, want)
	})
	t.Run("StreamName", func(t *testing.T) {
		streams := []string{tag + "-a-1", tag + "-b-22", tag + "-c-1", tag + "-a-x", "z" + tag + "-a-1", tag + "-a-7"}
		var events []esdb.EventData
		for range streams {
			events = append(events, jsonEvent("Touched", `{}`))
		}
		written := appendOneByOne(t, e.client, streams, events)
		want := matching(written, func(_ esdb.EventData, i int) bool { return i == 0 || i == 1 || i == 5 })
		requireFilteredCatchUp(t, e.client, &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Regex: "^" + tag + `-(a|b)-\d+$`}, want)
	})
}

func testExcludeSystemEvents(t *testing.T, e *env) {
	tag := uniqueName("")
	ctx := testContext(t, time.Minute)
	// System events of several kinds, then two plain markers.
	var meta esdb.StreamMetadata
	meta.SetMaxCount(5)
	if _, err := e.client.SetStreamMetadata(ctx, tag+"-sys", esdb.AppendToStreamOptions{}, meta); err != nil {
		t.Fatalf("SetStreamMetadata: %v", err)
	}
	target := jsonEvent(tag+"-Target", `{}`)
	mustAppend(t, e.client, tag+"-sys", esdb.Any{}, target, jsonEvent("$"+tag+"-custom-system", `{}`))
	mustAppend(t, e.client, tag+"-links", esdb.Any{}, esdb.EventData{EventID: uuid.New(), EventType: "$>", ContentType: esdb.ContentTypeBinary, Data: []byte("0@" + tag + "-sys")})
	markers := []esdb.EventData{jsonEvent(tag+"-Marker", `{"n":1}`), jsonEvent(tag+"-Marker", `{"n":2}`)}
	mustAppend(t, e.client, tag+"-plain", esdb.NoStream{}, markers...)

	sub, err := e.client.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.Start{}, Filter: esdb.ExcludeSystemEventsFilter()})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	r := readSubscription(t, sub)
	seen := map[uuid.UUID]bool{}
	floor := esdb.Position{}
	for !seen[markers[0].EventID] || !seen[markers[1].EventID] {
		ev := r.nextFilteredEvent(t, &floor)
		if strings.HasPrefix(ev.OriginalEvent().EventType, "$") {
			t.Fatalf("system event delivered through ExcludeSystemEventsFilter: %s", describeEvent(ev))
		}
		seen[ev.OriginalEvent().EventID] = true
	}
	if !seen[target.EventID] {
		t.Errorf("the plain event %s in %s-sys was filtered out", target.EventID, tag)
	}
}

func testFilterCheckpoints(t *testing.T, _ *env) {
	// Own server: the checkpoint count depends on how many events are scanned.
	srv := startServer(t)
	c := newClient(t, srv.ConnectionString())
	noise := numberedEvents("Noise", 0, 100)
	mustAppend(t, c, "noise-1", esdb.NoStream{}, noise[:50]...)
	mustAppend(t, c, "noise-1", esdb.Revision(49), noise[50:]...)
	all := readAll(t, c, esdb.ReadAllOptions{}, 1000)
	var noisePositions []esdb.Position
	for _, ev := range all {
		if ev.Event.StreamID == "noise-1" {
			noisePositions = append(noisePositions, ev.Event.Position)
		}
	}
	if len(noisePositions) != 100 {
		t.Fatalf("$all holds %d of the 100 events", len(noisePositions))
	}

	// Defaults: window 32, multiplier 1, so a checkpoint about every 32
	// scanned events.
	filter := &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Prefixes: []string{"Match"}}
	sub, err := c.SubscribeToAll(testContext(t, time.Minute), esdb.SubscribeToAllOptions{From: esdb.Start{}, Filter: filter})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	r := readSubscription(t, sub)
	msgs := r.untilCaughtUp(t)
	var checkpoints []esdb.Position
	for i, m := range msgs {
		if m.CheckPointReached == nil {
			t.Fatalf("message %d before caught_up: %s, want only checkpoints", i, describeMessage(m))
		}
		checkpoints = append(checkpoints, *m.CheckPointReached)
	}
	last := checkpointsNeverDecrease(t, msgs, esdb.Position{})
	t.Logf("catch-up checkpoints over %d scanned events: %v", len(all), checkpoints)
	// One per 32 scanned events, plus one just before caught_up.
	if n, least := len(checkpoints), len(all)/32+1; n < least || n > least+4 {
		t.Fatalf("%d checkpoints before caught_up over %d scanned events, want one per 32 scanned and one just before caught_up (%d to %d)", n, len(all), least, least+4)
	}
	// The last one comes just before caught_up and covers what was scanned.
	if last.Commit < noisePositions[63].Commit || last.Commit >= 1<<63 {
		t.Errorf("checkpoint before caught_up at %d, want at least %d (the 64th scanned event) and below 2^63", last.Commit, noisePositions[63].Commit)
	}

	// Live: a checkpoint every 32 committed events, matching or not.
	mustAppend(t, c, "noise-2", esdb.NoStream{}, numberedEvents("Noise", 100, 40)...)
	mustAppend(t, c, "noise-2", esdb.Revision(39), numberedEvents("Noise", 140, 40)...)
	m := r.next(t)
	for m.CaughtUp != nil {
		m = r.next(t)
	}
	if m.CheckPointReached == nil {
		t.Fatalf("after 80 live non-matching events: got %s, want a checkpoint", describeMessage(m))
	}
	if m.CheckPointReached.Commit <= last.Commit {
		t.Errorf("live checkpoint at %d, want after the catch-up one at %d", m.CheckPointReached.Commit, last.Commit)
	}
	floor := *m.CheckPointReached
	match := jsonEvent("Matched", `{}`)
	res := mustAppend(t, c, "match-1", esdb.NoStream{}, match)
	got := r.nextFilteredEvent(t, &floor)
	requireSameEvents(t, []*esdb.ResolvedEvent{got}, []writtenEvent{{data: match, pos: positionOf(res)}})
}

func testResumeFromCheckpoint(t *testing.T, e *env) {
	tag := uniqueName("")
	start := positionOf(mustAppend(t, e.client, tag+"-start", esdb.NoStream{}, jsonEvent(tag+"-start", `{}`)))
	var events []esdb.EventData
	for i := range 100 {
		typ := tag + "-skip"
		if i%10 == 0 {
			typ = tag + "-match"
		}
		events = append(events, jsonEvent(typ, fmt.Sprintf(`{"i":%d}`, i)))
	}
	appendInBatches(t, e.client, tag+"-data", events, 10)
	var written []writtenEvent
	for _, ev := range readStream(t, e.client, tag+"-data", esdb.ReadStreamOptions{}, 200) {
		written = append(written, writtenEvent{data: events[ev.Event.EventNumber], pos: ev.Event.Position})
	}
	want := matching(written, func(ev esdb.EventData, _ int) bool { return ev.EventType == tag+"-match" })

	filter := &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Prefixes: []string{tag + "-match"}}
	ctx := testContext(t, time.Minute)
	sub, err := e.client.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: start, Filter: filter})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	msgs := readSubscription(t, sub).untilCaughtUp(t)
	checkpointsNeverDecrease(t, msgs, start)
	var delivered []*esdb.ResolvedEvent
	var checkpoint *esdb.Position
	for _, m := range msgs {
		if m.EventAppeared != nil {
			delivered = append(delivered, m.EventAppeared)
			continue
		}
		cp := m.CheckPointReached
		if cp == nil {
			continue
		}
		// A checkpoint promises that every match at or before it came first.
		for _, w := range want {
			if w.pos.Commit <= cp.Commit && !slices.ContainsFunc(delivered, func(ev *esdb.ResolvedEvent) bool { return ev.Event.EventID == w.data.EventID }) {
				t.Fatalf("checkpoint %d came before the matching event at %d", cp.Commit, w.pos.Commit)
			}
		}
		if checkpoint == nil {
			checkpoint = cp
		}
	}
	requireSameEvents(t, delivered, want)
	if checkpoint == nil {
		t.Fatal("no checkpoint before caught_up")
	}

	// Resuming from a checkpoint delivers exactly the matches after it.
	rest := matching(want, func(ev esdb.EventData, i int) bool { return want[i].pos.Commit > checkpoint.Commit })
	sub, err = e.client.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: *checkpoint, Filter: filter})
	if err != nil {
		t.Fatalf("resubscribe: %v", err)
	}
	msgs = readSubscription(t, sub).untilCaughtUp(t)
	checkpointsNeverDecrease(t, msgs, *checkpoint)
	delivered = delivered[:0]
	for _, m := range msgs {
		if m.EventAppeared != nil {
			delivered = append(delivered, m.EventAppeared)
		}
	}
	t.Logf("resumed from checkpoint %d: %d of %d matches remain", checkpoint.Commit, len(rest), len(want))
	requireSameEvents(t, delivered, rest)
}

func testSubscriptionClose(t *testing.T, e *env) {
	stream := uniqueName("closed-")
	mustAppend(t, e.client, stream, esdb.NoStream{}, numberedEvents("Counted", 0, 20)...)
	tag := uniqueName("close-")
	sub, err := e.client.SubscribeToStream(tagged(testContext(t, waitFor*2), tag), stream, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	r := readSubscription(t, sub)
	for i := range 10 {
		if ev := r.nextEvent(t); ev.Event.EventNumber != uint64(i) {
			t.Fatalf("event %d: %s", i, describeEvent(ev))
		}
	}
	if err := sub.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for {
		m := r.next(t)
		if m.SubscriptionDropped != nil {
			break
		}
		if m.EventAppeared == nil && m.CaughtUp == nil {
			t.Fatalf("after Close: %s", describeMessage(m))
		}
	}
	// The server's handler must notice the cancellation and return.
	e.tracker.waitEnded(t, tag)
}

// ---- X: behaviours beyond section 5 ----

// currentRevision reads the stream's last revision, NoStream when there is
// none.
func currentRevision(ctx context.Context, c *esdb.Client, stream string) (esdb.ExpectedRevision, error) {
	rs, err := c.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	ev, err := rs.Recv()
	var esErr *esdb.Error
	if errors.As(err, &esErr) && esErr.Code() == esdb.ErrorCodeResourceNotFound {
		return esdb.NoStream{}, nil
	}
	if err != nil {
		return nil, err
	}
	return esdb.Revision(ev.Event.EventNumber), nil
}

func testConcurrentAppends(t *testing.T, e *env) {
	const writers, perWriter = 16, 8
	stream := uniqueName("contended-")
	ctx := testContext(t, time.Minute)

	type winner struct {
		writer, seq int
		id          uuid.UUID
	}
	var (
		mu        sync.Mutex
		winners   = map[uint64]winner{}
		conflicts atomic.Int64
		wg        sync.WaitGroup
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; seq < perWriter; seq++ {
				for attempt := 0; ; attempt++ {
					if attempt == 5000 || ctx.Err() != nil {
						t.Errorf("writer %d gave up on event %d after %d attempts", w, seq, attempt)
						return
					}
					expected, err := currentRevision(ctx, e.client, stream)
					if err != nil {
						t.Errorf("writer %d: read current revision: %v", w, err)
						return
					}
					ev := jsonEvent("Contended", fmt.Sprintf(`{"writer":%d,"seq":%d}`, w, seq))
					res, err := e.client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expected}, ev)
					var esErr *esdb.Error
					if errors.As(err, &esErr) && esErr.Code() == esdb.ErrorCodeWrongExpectedVersion {
						conflicts.Add(1)
						continue
					}
					if err != nil {
						t.Errorf("writer %d: append: %v", w, err)
						return
					}
					want := uint64(0)
					if r, ok := expected.(esdb.StreamRevision); ok {
						want = r.Value + 1
					}
					if res.NextExpectedVersion != want {
						t.Errorf("writer %d: append expecting %#v got revision %d, want %d", w, expected, res.NextExpectedVersion, want)
					}
					mu.Lock()
					if prev, dup := winners[res.NextExpectedVersion]; dup {
						t.Errorf("revision %d won twice: writer %d event %d and writer %d event %d", res.NextExpectedVersion, prev.writer, prev.seq, w, seq)
					}
					winners[res.NextExpectedVersion] = winner{writer: w, seq: seq, id: ev.EventID}
					mu.Unlock()
					break
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d appends, %d wrong-expected-version retries", writers*perWriter, conflicts.Load())

	events := readStream(t, e.client, stream, esdb.ReadStreamOptions{}, writers*perWriter+10)
	if len(events) != writers*perWriter {
		t.Fatalf("stream holds %d events, want %d", len(events), writers*perWriter)
	}
	nextSeq := make([]int, writers)
	for i, ev := range events {
		w, ok := winners[uint64(i)]
		if !ok || ev.Event.EventNumber != uint64(i) || ev.Event.EventID != w.id {
			t.Fatalf("revision %d: stored %s, but the winning append was %+v", i, describeEvent(ev), w)
		}
		if w.seq != nextSeq[w.writer] {
			t.Fatalf("revision %d: writer %d event %d, want its event %d next", i, w.writer, w.seq, nextSeq[w.writer])
		}
		nextSeq[w.writer]++
		if i > 0 && ev.Event.Position.Commit <= events[i-1].Event.Position.Commit {
			t.Fatalf("revision %d at position %d, not after revision %d at %d", i, ev.Event.Position.Commit, i-1, events[i-1].Event.Position.Commit)
		}
	}
}

func binaryEvent(size int) esdb.EventData {
	return esdb.EventData{EventID: uuid.New(), EventType: "BlobStored", ContentType: esdb.ContentTypeBinary, Data: bytes.Repeat([]byte{'x'}, size)}
}

func testAppendSizeLimit(t *testing.T, e *env) {
	raw := e.raw
	const limit = 1 << 20
	stream := uniqueName("blob-")
	ctx := testContext(t, waitFor)
	small := jsonEvent("BlobStarted", `{}`)
	mustAppend(t, e.client, stream, esdb.NoStream{}, small)
	under := binaryEvent(1_000_000)
	if res := mustAppend(t, e.client, stream, esdb.Revision(0), under); res.NextExpectedVersion != 1 {
		t.Fatalf("append under the limit: NextExpectedVersion %d, want 1", res.NextExpectedVersion)
	}

	for _, tc := range []struct {
		name   string
		events []esdb.EventData
	}{
		{"one event over 1 MiB", []esdb.EventData{binaryEvent(limit + 1)}},
		{"three events over 1 MiB together", []esdb.EventData{binaryEvent(400_000), binaryEvent(400_000), binaryEvent(400_000)}},
	} {
		_, err := e.client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(1)}, tc.events...)
		if err == nil {
			t.Errorf("%s: append succeeded, want InvalidArgument (reported as Unknown)", tc.name)
			continue
		}
		var esErr *esdb.Error
		if !errors.As(err, &esErr) || esErr.Code() != esdb.ErrorCodeUnknown {
			t.Errorf("%s: got %v, want InvalidArgument (reported as Unknown)", tc.name, err)
		}
	}
	_, trailer, err := rawAppend(ctx, raw, stream, proposed("BlobStored", "application/octet-stream", bytes.Repeat([]byte{'y'}, limit+1)))
	requireStatus(t, err, codes.InvalidArgument)
	if got := trailer.Get("exception"); len(got) != 1 || got[0] != "maximum-append-size-exceeded" {
		t.Errorf("over-limit append: exception trailer %v, want maximum-append-size-exceeded (as EventStoreDB sends)", got)
	}
	if got := trailer.Get("maximum-append-size"); len(got) != 1 || got[0] != "1048576" {
		t.Errorf("over-limit append: maximum-append-size trailer %v, want 1048576", got)
	}

	requireEventIDs(t, e.client, stream, ids(small, under))
}

func testAppendMissingMetadata(t *testing.T, e *env) {
	raw := e.raw
	stream := uniqueName("untyped-")
	ctx := testContext(t, waitFor)
	for _, tc := range []struct{ name, eventType, contentType string }{
		{"no type", "", "application/json"},
		{"no content-type", "Untyped", ""},
	} {
		_, trailer, err := rawAppend(ctx, raw, stream, proposed(tc.eventType, tc.contentType, []byte(`{}`)))
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: got %v, want status InvalidArgument", tc.name, err)
		}
		if got := trailer.Get("exception"); len(got) != 1 || got[0] != "missing-required-metadata-property" {
			t.Errorf("%s: exception trailer %v, want missing-required-metadata-property (as EventStoreDB sends)", tc.name, got)
		}
	}
	requireNotFound(t, e.client, stream, esdb.ReadStreamOptions{})
}

func isHiddenFromAll(stream string) bool {
	return stream == "$epoch-information" ||
		strings.HasPrefix(stream, "$persistentsubscription-$all::") && (strings.HasSuffix(stream, "-checkpoint") || strings.HasSuffix(stream, "-parked"))
}

func testAllPositions(t *testing.T, e *env) {
	stream := uniqueName("positions-")
	events := numberedEvents("Positioned", 0, 20)
	res := mustAppend(t, e.client, stream, esdb.NoStream{}, events...)

	// An append returns the position of its last record.
	at := readAll(t, e.client, esdb.ReadAllOptions{From: positionOf(res)}, 1)
	if len(at) != 1 || at[0].Event.EventID != events[19].EventID {
		t.Fatalf("$all at the append's position: %v, want its last event %s", at, events[19].EventID)
	}

	check := func(name string, all []*esdb.ResolvedEvent, forwards bool) {
		t.Helper()
		for i, ev := range all {
			p := ev.Event.Position
			requirePosition(t, fmt.Sprintf("%s, event %d (%s)", name, i, describeEvent(ev)), p)
			if ev.Commit != nil && *ev.Commit != p.Commit {
				t.Fatalf("%s, event %d: commit_position %d != record position %d", name, i, *ev.Commit, p.Commit)
			}
			if isHiddenFromAll(ev.Event.StreamID) {
				t.Fatalf("%s: $all shows %s, which must stay hidden", name, describeEvent(ev))
			}
			if i == 0 {
				continue
			}
			prev := all[i-1].Event.Position.Commit
			if forwards && p.Commit <= prev || !forwards && p.Commit >= prev {
				t.Fatalf("%s: event %d at %d after event %d at %d", name, i, p.Commit, i-1, prev)
			}
		}
	}
	fwd := readAll(t, e.client, esdb.ReadAllOptions{}, 1_000_000)
	check("forwards from Start", fwd, true)
	var ours []uuid.UUID
	for _, ev := range fwd {
		if ev.Event.StreamID == stream {
			ours = append(ours, ev.Event.EventID)
		}
	}
	if !slices.Equal(ours, ids(events...)) {
		t.Errorf("$all holds %d of our 20 events in their order, want all 20", len(ours))
	}
	check("backwards from End", readAll(t, e.client, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 2000), false)
}

func testResolveLinks(t *testing.T, e *env) {
	target, links := uniqueName("target-"), uniqueName("links-")
	targets := numberedEvents("Targeted", 0, 3)
	mustAppend(t, e.client, target, esdb.NoStream{}, targets...)
	link := esdb.EventData{EventID: uuid.New(), EventType: "$>", ContentType: esdb.ContentTypeBinary, Data: []byte("1@" + target)}
	dangling := esdb.EventData{EventID: uuid.New(), EventType: "$>", ContentType: esdb.ContentTypeBinary, Data: []byte("99@" + target)}
	mustAppend(t, e.client, links, esdb.NoStream{}, link, dangling)

	plain := readStream(t, e.client, links, esdb.ReadStreamOptions{}, 10)
	if len(plain) != 2 || plain[0].Link != nil || plain[0].Event.EventType != "$>" || string(plain[0].Event.Data) != "1@"+target {
		t.Fatalf("read without resolving: %v, want the two link records", plain)
	}
	linkPos := plain[0].Event.Position

	checkResolved := func(name string, ev *esdb.ResolvedEvent) {
		t.Helper()
		if ev.Event == nil || ev.Link == nil {
			t.Fatalf("%s: %s, want the target as Event and the link as Link", name, describeEvent(ev))
		}
		if ev.Event.StreamID != target || ev.Event.EventNumber != 1 || ev.Event.EventID != targets[1].EventID || !bytes.Equal(ev.Event.Data, targets[1].Data) {
			t.Errorf("%s: Event = %s, want %s@1", name, describeEvent(&esdb.ResolvedEvent{Event: ev.Event}), target)
		}
		if ev.Link.StreamID != links || ev.Link.EventNumber != 0 || ev.Link.EventID != link.EventID || ev.Link.EventType != "$>" || ev.Link.Position != linkPos {
			t.Errorf("%s: Link = %s, want the link record %s@0 at %d", name, describeEvent(&esdb.ResolvedEvent{Event: ev.Link}), links, linkPos.Commit)
		}
		if ev.OriginalEvent() != ev.Link {
			t.Errorf("%s: OriginalEvent is not the link", name)
		}
		if ev.Commit != nil && *ev.Commit != linkPos.Commit {
			t.Errorf("%s: commit_position %d, want the link's %d", name, *ev.Commit, linkPos.Commit)
		}
	}

	resolved := readStream(t, e.client, links, esdb.ReadStreamOptions{ResolveLinkTos: true}, 10)
	if len(resolved) != 2 {
		t.Fatalf("read resolving links: %d events, want 2", len(resolved))
	}
	checkResolved("ReadStream", resolved[0])
	if d := resolved[1]; d.Event != nil || d.Link == nil || d.Link.EventID != dangling.EventID {
		t.Errorf("unresolvable link: %s, want only Link set", describeEvent(d))
	}

	all := readAll(t, e.client, esdb.ReadAllOptions{From: linkPos, ResolveLinkTos: true}, 1)
	if len(all) != 1 {
		t.Fatalf("ReadAll from the link: %d events, want 1", len(all))
	}
	checkResolved("ReadAll", all[0])

	sub, err := e.client.SubscribeToStream(testContext(t, waitFor*2), links, esdb.SubscribeToStreamOptions{From: esdb.Start{}, ResolveLinkTos: true})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	checkResolved("SubscribeToStream", readSubscription(t, sub).nextEvent(t))

	// Filters apply to the link record: here its stream name.
	sub, err = e.client.SubscribeToAll(testContext(t, waitFor*2), esdb.SubscribeToAllOptions{From: esdb.Start{}, ResolveLinkTos: true,
		Filter: &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{links}}})
	if err != nil {
		t.Fatalf("subscribe to $all: %v", err)
	}
	floor := esdb.Position{}
	checkResolved("filtered SubscribeToAll", readSubscription(t, sub).nextFilteredEvent(t, &floor))
}

// readAllUntil pages forwards through $all from `from` and returns the
// events up to and including position `to`.
func readAllUntil(t *testing.T, c *esdb.Client, from, to esdb.Position) []*esdb.ResolvedEvent {
	t.Helper()
	var out []*esdb.ResolvedEvent
	for {
		page := readAll(t, c, esdb.ReadAllOptions{From: from}, 500)
		if len(page) == 0 {
			t.Fatalf("$all ended before position %d", to.Commit)
		}
		for _, ev := range page {
			if len(out) > 0 && ev.Event.Position == out[len(out)-1].Event.Position {
				continue // the page starts at the last event of the previous one
			}
			if ev.Event.Position.Commit > to.Commit {
				return out
			}
			out = append(out, ev)
		}
		if last := page[len(page)-1].Event.Position; last.Commit >= to.Commit {
			return out
		} else {
			from = last
		}
	}
}

func testRetention(t *testing.T, e *env) {
	t.Run("MaxCount2", func(t *testing.T) {
		var meta esdb.StreamMetadata
		meta.SetMaxCount(2)
		testRetentionHides(t, e, meta)
	})
	t.Run("TruncateBefore3", func(t *testing.T) {
		var meta esdb.StreamMetadata
		meta.SetTruncateBefore(3)
		testRetentionHides(t, e, meta)
	})
}

// testRetentionHides sets meta, which must hide revisions 0-2 of a
// five-event stream, and checks reads, subscriptions and $all.
func testRetentionHides(t *testing.T, e *env, meta esdb.StreamMetadata) {
	stream := uniqueName("capped-")
	events := numberedEvents("Capped", 0, 5)
	mustAppend(t, e.client, stream, esdb.NoStream{}, events...)
	stored := readStream(t, e.client, stream, esdb.ReadStreamOptions{}, 10)
	if len(stored) != 5 {
		t.Fatalf("read %d events before setting the metadata, want 5", len(stored))
	}
	if _, err := e.client.SetStreamMetadata(testContext(t, waitFor), stream, esdb.AppendToStreamOptions{}, meta); err != nil {
		t.Fatalf("SetStreamMetadata: %v", err)
	}

	revisions := func(events []*esdb.ResolvedEvent) []uint64 {
		var out []uint64
		for _, ev := range events {
			out = append(out, ev.Event.EventNumber)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		opts esdb.ReadStreamOptions
		want []uint64
	}{
		{"forwards from Start", esdb.ReadStreamOptions{}, []uint64{3, 4}},
		{"forwards from 1", esdb.ReadStreamOptions{From: esdb.Revision(1)}, []uint64{3, 4}},
		{"backwards from End", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, []uint64{4, 3}},
	} {
		if got := revisions(readStream(t, e.client, stream, tc.opts, 10)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: revisions %v, want %v", tc.name, got, tc.want)
		}
	}

	sub, err := e.client.SubscribeToStream(testContext(t, waitFor*2), stream, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	var subscribed []uint64
	for _, m := range readSubscription(t, sub).untilCaughtUp(t) {
		if m.EventAppeared != nil {
			subscribed = append(subscribed, m.EventAppeared.Event.EventNumber)
		}
	}
	if !slices.Equal(subscribed, []uint64{3, 4}) {
		t.Errorf("subscription from Start: revisions %v, want [3 4]", subscribed)
	}

	var inAll []uint64
	for _, ev := range readAllUntil(t, e.client, stored[0].Event.Position, stored[4].Event.Position) {
		if ev.Event.StreamID == stream {
			inAll = append(inAll, ev.Event.EventNumber)
		}
	}
	if !slices.Equal(inAll, []uint64{0, 1, 2, 3, 4}) {
		t.Errorf("$all holds revisions %v of the stream, want all of [0 1 2 3 4] (no scavenge ran)", inAll)
	}
}

func testConcurrentAnyAppends(t *testing.T, e *env) {
	const writers, perWriter = 16, 10
	stream := uniqueName("busy-")
	ctx := testContext(t, time.Minute)
	type pair struct{ first, second uuid.UUID }
	var (
		mu    sync.Mutex
		pairs = map[uint64]pair{} // by the revision of the pair's second event
		wg    sync.WaitGroup
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				a := jsonEvent("Paired", fmt.Sprintf(`{"writer":%d,"i":%d,"half":1}`, w, i))
				b := jsonEvent("Paired", fmt.Sprintf(`{"writer":%d,"i":%d,"half":2}`, w, i))
				res, err := e.client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, a, b)
				if err != nil {
					t.Errorf("writer %d: append: %v", w, err)
					return
				}
				mu.Lock()
				if _, dup := pairs[res.NextExpectedVersion]; dup {
					t.Errorf("two appends both ended at revision %d", res.NextExpectedVersion)
				}
				pairs[res.NextExpectedVersion] = pair{a.EventID, b.EventID}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	events := readStream(t, e.client, stream, esdb.ReadStreamOptions{}, 2*writers*perWriter+10)
	if len(events) != 2*writers*perWriter {
		t.Fatalf("stream holds %d events, want %d", len(events), 2*writers*perWriter)
	}
	// Each append's two events are adjacent, at the revisions it reported.
	for rev, p := range pairs {
		if rev == 0 || rev >= uint64(len(events)) || events[rev-1].Event.EventID != p.first || events[rev].Event.EventID != p.second {
			t.Fatalf("the append that reported revision %d is not stored at revisions %d and %d", rev, rev-1, rev)
		}
	}
}

func testSubscriptionsUnderLoad(t *testing.T, e *env) {
	const total, batch = 1500, 10
	stream := uniqueName("racing-")
	events := numberedEvents("Raced", 0, total)
	mustAppend(t, e.client, stream, esdb.NoStream{}, events[:100]...)
	ctx := testContext(t, time.Minute)

	streamSub, err := e.client.SubscribeToStream(ctx, stream, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatalf("subscribe to the stream: %v", err)
	}
	allSub, err := e.client.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.Start{},
		Filter: &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{stream}}})
	if err != nil {
		t.Fatalf("subscribe to $all: %v", err)
	}
	readers := map[string]*subscriptionReader{"stream": readSubscription(t, streamSub), "$all": readSubscription(t, allSub)}

	// Keep appending while both subscriptions catch up and go live.
	written := make(chan error, 1)
	go func() {
		for start := 100; start < total; start += batch {
			_, err := e.client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(uint64(start - 1))}, events[start:start+batch]...)
			if err != nil {
				written <- fmt.Errorf("append at %d: %w", start, err)
				return
			}
		}
		written <- nil
	}()
	for name, r := range readers {
		floor := esdb.Position{}
		for i := range events {
			ev := r.nextFilteredEvent(t, &floor)
			if ev.Event.EventNumber != uint64(i) || ev.Event.EventID != events[i].EventID {
				t.Fatalf("%s subscription: event %d is %s, want revision %d", name, i, describeEvent(ev), i)
			}
		}
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
}

func testConcurrentDuplicates(t *testing.T, e *env) {
	for _, expected := range []esdb.ExpectedRevision{esdb.NoStream{}, esdb.Any{}} {
		t.Run(strings.TrimPrefix(fmt.Sprintf("%T", expected), "esdb."), func(t *testing.T) {
			const senders = 8
			stream := uniqueName("dup-")
			batch := numberedEvents("Duplicated", 0, 3)
			ctx := testContext(t, waitFor)
			results := make([]*esdb.WriteResult, senders)
			errs := make([]error, senders)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					results[i], errs[i] = e.client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expected}, batch...)
				}()
			}
			close(start)
			wg.Wait()
			for i := range senders {
				if errs[i] != nil {
					t.Fatalf("sender %d: %v; every copy of the same append must succeed", i, errs[i])
				}
				if *results[i] != *results[0] {
					t.Errorf("sender %d got %+v, sender 0 got %+v; want the same result", i, *results[i], *results[0])
				}
			}
			requireEventIDs(t, e.client, stream, ids(batch...))
		})
	}
}

func testShutdownEndsSubscriptions(t *testing.T, _ *env) {
	srv := startServer(t)
	c := newClient(t, srv.ConnectionString())
	stream := uniqueName("shutdown-")
	mustAppend(t, c, stream, esdb.NoStream{}, jsonEvent("Started", `{}`))
	ctx := testContext(t, waitFor*2)

	streamSub, err := c.SubscribeToStream(ctx, stream, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	rs := readSubscription(t, streamSub)
	rs.nextEvent(t)
	rs.expectCaughtUp(t)
	allSub, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.End{}})
	if err != nil {
		t.Fatalf("subscribe to $all: %v", err)
	}
	ra := readSubscription(t, allSub)
	ra.expectCaughtUp(t)

	if err := srv.Shutdown(testContext(t, 10*time.Second)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for name, r := range map[string]*subscriptionReader{"stream": rs, "$all": ra} {
		m := r.next(t)
		if m.SubscriptionDropped == nil {
			t.Fatalf("%s subscription after Shutdown: %s, want it dropped", name, describeMessage(m))
		}
		t.Logf("%s subscription dropped with: %v", name, m.SubscriptionDropped.Error)
	}
}

func testRestart(t *testing.T, _ *env) {
	dir := t.TempDir()
	srv := startServerIn(t, dir)
	c := newClient(t, srv.ConnectionString())
	stream, gone := uniqueName("durable-"), uniqueName("gone-")
	batch := numberedEvents("Durable", 0, 3)
	first := mustAppend(t, c, stream, esdb.NoStream{}, batch...)
	var meta esdb.StreamMetadata
	meta.SetMaxCount(100)
	if _, err := c.SetStreamMetadata(testContext(t, waitFor), stream, esdb.AppendToStreamOptions{}, meta); err != nil {
		t.Fatalf("SetStreamMetadata: %v", err)
	}
	mustAppend(t, c, gone, esdb.NoStream{}, jsonEvent("Doomed", `{}`))
	if _, err := c.TombstoneStream(testContext(t, waitFor), gone, esdb.TombstoneStreamOptions{}); err != nil {
		t.Fatalf("TombstoneStream: %v", err)
	}
	before := readStream(t, c, stream, esdb.ReadStreamOptions{}, 10)
	last := readAll(t, c, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if len(last) != 1 {
		t.Fatalf("$all backwards from End: %d events, want 1", len(last))
	}
	if err := srv.Shutdown(testContext(t, 10*time.Second)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	srv = startServerIn(t, dir)
	c = newClient(t, srv.ConnectionString())
	after := readStream(t, c, stream, esdb.ReadStreamOptions{}, 10)
	if len(after) != len(before) {
		t.Fatalf("after restart the stream holds %d events, want %d", len(after), len(before))
	}
	for i := range after {
		b, a := before[i].Event, after[i].Event
		if a.EventID != b.EventID || a.EventNumber != b.EventNumber || a.Position != b.Position || !a.CreatedDate.Equal(b.CreatedDate) || !bytes.Equal(a.Data, b.Data) {
			t.Errorf("after restart, event %d is %s created %v, want %s created %v", i, describeEvent(after[i]), a.CreatedDate, describeEvent(before[i]), b.CreatedDate)
		}
	}
	if retry := mustAppend(t, c, stream, esdb.NoStream{}, batch...); *retry != *first {
		t.Errorf("retry after restart returned %+v, want the original result %+v", *retry, *first)
	}
	next := mustAppend(t, c, stream, esdb.Revision(2), jsonEvent("Durable", `{"n":3}`))
	if next.NextExpectedVersion != 3 || next.CommitPosition <= last[0].Event.Position.Commit {
		t.Errorf("first append after restart: revision %d at %d; want revision 3 after position %d", next.NextExpectedVersion, next.CommitPosition, last[0].Event.Position.Commit)
	}
	got, err := c.GetStreamMetadata(testContext(t, waitFor), stream, esdb.ReadStreamOptions{})
	if err != nil || got.MaxCount() == nil || *got.MaxCount() != 100 {
		t.Errorf("metadata after restart: %+v, %v; want $maxCount 100", got, err)
	}
	requireStreamDeleted(t, c, gone)
}

var _ stats.Handler = (*connCounter)(nil)
