package esdbserver_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/orgportal/onboarding/adapters/esdbserver"
)

// waitFor bounds every wait for something the server must deliver. It is a
// deadline for liveness, never an assertion about speed.
const waitFor = 15 * time.Second

// startServer starts an embedded server on a fresh data directory and stops
// it when the test (and its subtests) are done (Shutdown may be called
// earlier too). Server logs are kept in
// memory and printed only when the test failed.
func startServer(t *testing.T, opts ...grpc.ServerOption) *esdbserver.Server {
	t.Helper()
	return startServerIn(t, t.TempDir(), opts...)
}

// startServerIn is startServer on a given data directory.
func startServerIn(t *testing.T, dataDir string, opts ...grpc.ServerOption) *esdbserver.Server {
	t.Helper()
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	srv, err := esdbserver.Start(ctx, esdbserver.Config{
		DataDir:     dataDir,
		ListenAddr:  "127.0.0.1:0",
		Logger:      logger,
		GRPCOptions: opts,
	})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown server: %v", err)
			_ = srv.Close()
		}
		if t.Failed() {
			t.Logf("server log (tail):\n%s", logs.tail(80))
		}
	})
	return srv
}

// newClient connects the official client to connString and closes it at the
// end of the test. Its logging is off: the client logs from background
// goroutines, which must not outlive the test.
func newClient(t *testing.T, connString string) *esdb.Client {
	t.Helper()
	client := dialClient(t, connString)
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// dialClient connects the official client, logging off; the caller closes
// it (benchmarks and the crash child manage its lifetime themselves).
func dialClient(tb testing.TB, connString string) *esdb.Client {
	tb.Helper()
	cfg, err := esdb.ParseConnectionString(connString)
	if err != nil {
		tb.Fatalf("parse connection string %q: %v", connString, err)
	}
	cfg.Logger = esdb.NoopLogging()
	client, err := esdb.NewClient(cfg)
	if err != nil {
		tb.Fatalf("new client: %v", err)
	}
	return client
}

// rawStreams is a plain gRPC client of the Streams service, for the checks
// that the official client hides (status codes and trailers).
func rawStreams(t *testing.T, srv *esdbserver.Server) api.StreamsClient {
	t.Helper()
	conn, err := grpc.NewClient(srv.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", srv.Addr(), err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return api.NewStreamsClient(conn)
}

// testContext is cancelled when the test ends or after limit.
func testContext(t *testing.T, limit time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	return ctx
}

// uniqueName returns prefix followed by a random lower-case hex tag, so that
// tests sharing one server never touch each other's streams or event types.
// The tag starts with a letter, so upper-casing it always changes it.
func uniqueName(prefix string) string {
	id := uuid.New()
	return prefix + "t" + hex.EncodeToString(id[:6])
}

func jsonEvent(eventType string, data string) esdb.EventData {
	return esdb.EventData{
		EventID:     uuid.New(),
		EventType:   eventType,
		ContentType: esdb.ContentTypeJson,
		Data:        []byte(data),
	}
}

// numberedEvents makes n JSON events of one type whose data is {"n":i}.
func numberedEvents(eventType string, from, n int) []esdb.EventData {
	events := make([]esdb.EventData, 0, n)
	for i := from; i < from+n; i++ {
		events = append(events, jsonEvent(eventType, fmt.Sprintf(`{"n":%d}`, i)))
	}
	return events
}

func mustAppend(t *testing.T, c *esdb.Client, stream string, expected esdb.ExpectedRevision, events ...esdb.EventData) *esdb.WriteResult {
	t.Helper()
	res, err := c.AppendToStream(testContext(t, waitFor), stream, esdb.AppendToStreamOptions{ExpectedRevision: expected}, events...)
	if err != nil {
		t.Fatalf("append %d event(s) to %q (expected %#v): %v", len(events), stream, expected, err)
	}
	return res
}

// appendInBatches writes events to a new stream in batches with exact
// expected revisions, checking every NextExpectedVersion on the way.
func appendInBatches(t *testing.T, c *esdb.Client, stream string, events []esdb.EventData, batch int) *esdb.WriteResult {
	t.Helper()
	var expected esdb.ExpectedRevision = esdb.NoStream{}
	var last *esdb.WriteResult
	for start := 0; start < len(events); start += batch {
		end := min(start+batch, len(events))
		last = mustAppend(t, c, stream, expected, events[start:end]...)
		if want := uint64(end - 1); last.NextExpectedVersion != want {
			t.Fatalf("batch [%d,%d) of %q: NextExpectedVersion = %d, want %d", start, end, stream, last.NextExpectedVersion, want)
		}
		expected = esdb.Revision(last.NextExpectedVersion)
	}
	return last
}

// readStream reads a stream to its end and fails the test on any error.
func readStream(t *testing.T, c *esdb.Client, stream string, opts esdb.ReadStreamOptions, count uint64) []*esdb.ResolvedEvent {
	t.Helper()
	events, err := tryReadStream(t, c, stream, opts, count)
	if err != nil {
		t.Fatalf("read %q: %v", stream, err)
	}
	return events
}

// tryReadStream reads a stream to its end; err is whatever ReadStream or Recv
// returned other than io.EOF.
func tryReadStream(t *testing.T, c *esdb.Client, stream string, opts esdb.ReadStreamOptions, count uint64) ([]*esdb.ResolvedEvent, error) {
	t.Helper()
	rs, err := c.ReadStream(testContext(t, waitFor), stream, opts, count)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	return drain(rs)
}

func readAll(t *testing.T, c *esdb.Client, opts esdb.ReadAllOptions, count uint64) []*esdb.ResolvedEvent {
	t.Helper()
	rs, err := c.ReadAll(testContext(t, waitFor), opts, count)
	if err != nil {
		t.Fatalf("read $all: %v", err)
	}
	defer rs.Close()
	events, err := drain(rs)
	if err != nil {
		t.Fatalf("read $all: %v", err)
	}
	return events
}

func drain(rs *esdb.ReadStream) ([]*esdb.ResolvedEvent, error) {
	defer rs.Close()
	var events []*esdb.ResolvedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return events, nil
		}
		if err != nil {
			return events, err
		}
		events = append(events, ev)
	}
}

var errorCodeNames = map[esdb.ErrorCode]string{
	esdb.ErrorCodeUnknown:               "Unknown",
	esdb.ErrorCodeUnsupportedFeature:    "UnsupportedFeature",
	esdb.ErrorCodeDeadlineExceeded:      "DeadlineExceeded",
	esdb.ErrorCodeUnauthenticated:       "Unauthenticated",
	esdb.ErrorCodeResourceNotFound:      "ResourceNotFound",
	esdb.ErrorCodeResourceAlreadyExists: "ResourceAlreadyExists",
	esdb.ErrorCodeConnectionClosed:      "ConnectionClosed",
	esdb.ErrorCodeWrongExpectedVersion:  "WrongExpectedVersion",
	esdb.ErrorCodeAccessDenied:          "AccessDenied",
	esdb.ErrorCodeStreamDeleted:         "StreamDeleted",
	esdb.ErrorCodeParsing:               "Parsing",
	esdb.ErrorCodeInternalClient:        "InternalClient",
	esdb.ErrorCodeInternalServer:        "InternalServer",
	esdb.ErrorCodeNotLeader:             "NotLeader",
	esdb.ErrorAborted:                   "Aborted",
	esdb.ErrorUnavailable:               "Unavailable",
}

func codeName(c esdb.ErrorCode) string {
	if n, ok := errorCodeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("ErrorCode(%d)", int(c))
}

// requireCode fails unless err wraps an *esdb.Error with the wanted code.
func requireCode(t *testing.T, err error, want esdb.ErrorCode) *esdb.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", codeName(want))
	}
	var esErr *esdb.Error
	if !errors.As(err, &esErr) {
		t.Fatalf("got %T (%v), want an *esdb.Error with code %s", err, err, codeName(want))
	}
	if esErr.Code() != want {
		t.Fatalf("got code %s (%v), want %s", codeName(esErr.Code()), err, codeName(want))
	}
	return esErr
}

// requireNotFound checks a stream read that must report a missing stream:
// ReadStream itself succeeds and the first Recv gives ResourceNotFound.
func requireNotFound(t *testing.T, c *esdb.Client, stream string, opts esdb.ReadStreamOptions) {
	t.Helper()
	rs, err := c.ReadStream(testContext(t, waitFor), stream, opts, 10)
	if err != nil {
		t.Fatalf("ReadStream(%q) returned %v; the error must come from the first Recv", stream, err)
	}
	defer rs.Close()
	ev, err := rs.Recv()
	if ev != nil {
		t.Fatalf("read %q: got event %s, want ResourceNotFound", stream, describeEvent(ev))
	}
	requireCode(t, err, esdb.ErrorCodeResourceNotFound)
}

// requireStreamDeleted checks a read of a tombstoned stream. The error may
// come from ReadStream or from the first Recv.
func requireStreamDeleted(t *testing.T, c *esdb.Client, stream string) {
	t.Helper()
	events, err := tryReadStream(t, c, stream, esdb.ReadStreamOptions{}, 10)
	if len(events) > 0 {
		t.Fatalf("read of tombstoned %q returned %d events, first %s", stream, len(events), describeEvent(events[0]))
	}
	requireCode(t, err, esdb.ErrorCodeStreamDeleted)
}

func describeEvent(ev *esdb.ResolvedEvent) string {
	if ev == nil {
		return "<nil>"
	}
	rec := func(r *esdb.RecordedEvent) string {
		if r == nil {
			return "<nil>"
		}
		return fmt.Sprintf("%s@%d type=%q pos=%d/%d id=%s", r.StreamID, r.EventNumber, r.EventType, r.Position.Commit, r.Position.Prepare, r.EventID)
	}
	if ev.Link != nil {
		return fmt.Sprintf("{event: %s, link: %s}", rec(ev.Event), rec(ev.Link))
	}
	return rec(ev.Event)
}

func describeMessage(m *esdb.SubscriptionEvent) string {
	switch {
	case m == nil:
		return "<nil>"
	case m.EventAppeared != nil:
		return "event " + describeEvent(m.EventAppeared)
	case m.CheckPointReached != nil:
		return fmt.Sprintf("checkpoint %d/%d", m.CheckPointReached.Commit, m.CheckPointReached.Prepare)
	case m.CaughtUp != nil:
		return "caught up"
	case m.FellBehind != nil:
		return "fell behind"
	case m.SubscriptionDropped != nil:
		return fmt.Sprintf("dropped: %v", m.SubscriptionDropped.Error)
	}
	return "empty message"
}

// subscriptionReader moves a subscription's messages onto a channel so that
// tests can wait for them with a deadline.
type subscriptionReader struct {
	sub      *esdb.Subscription
	messages chan *esdb.SubscriptionEvent
}

func readSubscription(t *testing.T, sub *esdb.Subscription) *subscriptionReader {
	t.Helper()
	r := &subscriptionReader{sub: sub, messages: make(chan *esdb.SubscriptionEvent, 512)}
	go func() {
		defer close(r.messages)
		for {
			m := sub.Recv()
			r.messages <- m
			if m.SubscriptionDropped != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = sub.Close()
		for range r.messages {
		}
	})
	return r
}

// next returns the next message, failing the test if none arrives in time.
func (r *subscriptionReader) next(t *testing.T) *esdb.SubscriptionEvent {
	t.Helper()
	timer := time.NewTimer(waitFor)
	defer timer.Stop()
	select {
	case m, ok := <-r.messages:
		if !ok {
			t.Fatalf("subscription ended without a dropped message")
		}
		return m
	case <-timer.C:
		t.Fatalf("no subscription message within %v", waitFor)
	}
	return nil
}

// nextEvent returns the next message, which must be an event.
func (r *subscriptionReader) nextEvent(t *testing.T) *esdb.ResolvedEvent {
	t.Helper()
	m := r.next(t)
	if m.EventAppeared == nil {
		t.Fatalf("got %s, want an event", describeMessage(m))
	}
	return m.EventAppeared
}

// expectCaughtUp requires the next message to be caught_up.
func (r *subscriptionReader) expectCaughtUp(t *testing.T) {
	t.Helper()
	m := r.next(t)
	if m.CaughtUp == nil {
		t.Fatalf("got %s, want caught up", describeMessage(m))
	}
}

// untilCaughtUp collects every message before caught_up (not included). A
// drop fails the test.
func (r *subscriptionReader) untilCaughtUp(t *testing.T) []*esdb.SubscriptionEvent {
	t.Helper()
	var got []*esdb.SubscriptionEvent
	for {
		m := r.next(t)
		switch {
		case m.CaughtUp != nil:
			return got
		case m.SubscriptionDropped != nil:
			t.Fatalf("subscription dropped before caught up, after %d messages: %v", len(got), m.SubscriptionDropped.Error)
		}
		got = append(got, m)
	}
}

// checkpointsNeverDecrease fails if a checkpoint is below the previous one,
// or has commit != prepare.
func checkpointsNeverDecrease(t *testing.T, messages []*esdb.SubscriptionEvent, floor esdb.Position) esdb.Position {
	t.Helper()
	last := floor
	for i, m := range messages {
		cp := m.CheckPointReached
		if cp == nil {
			continue
		}
		if cp.Commit != cp.Prepare {
			t.Errorf("message %d: checkpoint commit %d != prepare %d", i, cp.Commit, cp.Prepare)
		}
		if cp.Commit < last.Commit {
			t.Errorf("message %d: checkpoint %d is below the previous one %d", i, cp.Commit, last.Commit)
		}
		last = *cp
	}
	return last
}

// lockedBuffer is an io.Writer safe for the server's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lockedBuffer) tail(lines int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	all := strings.Split(strings.TrimRight(b.buf.String(), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// callTracker is a stream interceptor that follows the calls tagged with
// the metadata key tagHeader, so a test can see when the server's handler of
// its own call has returned.
type callTracker struct {
	mu    sync.Mutex
	ended map[string]chan struct{}
}

const tagHeader = "x-conformance-tag"

func newCallTracker() *callTracker {
	return &callTracker{ended: map[string]chan struct{}{}}
}

func (ct *callTracker) channel(tag string) chan struct{} {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	ch, ok := ct.ended[tag]
	if !ok {
		ch = make(chan struct{})
		ct.ended[tag] = ch
	}
	return ch
}

func (ct *callTracker) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	md, _ := metadata.FromIncomingContext(ss.Context())
	tags := md.Get(tagHeader)
	err := handler(srv, ss)
	if len(tags) == 1 {
		close(ct.channel(tags[0]))
	}
	return err
}

// tagged returns a context whose calls the tracker can follow.
func tagged(ctx context.Context, tag string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, tagHeader, tag)
}

// waitEnded waits until the server's handler of the call tagged tag has
// returned.
func (ct *callTracker) waitEnded(t *testing.T, tag string) {
	t.Helper()
	select {
	case <-ct.channel(tag):
	case <-time.After(waitFor):
		t.Fatalf("the server's handler of call %q did not return within %v", tag, waitFor)
	}
}

// Plain gRPC calls for what the official client hides: status codes,
// trailers, and messages the client would panic or exit on.

func streamID(name string) *shared.StreamIdentifier {
	return &shared.StreamIdentifier{StreamName: []byte(name)}
}

// proposed builds a proposed message; an empty eventType or contentType
// leaves that metadata key out.
func proposed(eventType, contentType string, data []byte) *api.AppendReq_ProposedMessage {
	most, least := esdb.UUIDAsInt64(uuid.New())
	md := map[string]string{}
	if eventType != "" {
		md["type"] = eventType
	}
	if contentType != "" {
		md["content-type"] = contentType
	}
	return &api.AppendReq_ProposedMessage{
		Id: &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
			MostSignificantBits:  most,
			LeastSignificantBits: least,
		}}},
		Metadata:       md,
		CustomMetadata: []byte{},
		Data:           data,
	}
}

// rawAppend appends with expected revision Any. If the server ends the call
// early, sending stops and the status comes from CloseAndRecv.
func rawAppend(ctx context.Context, rs api.StreamsClient, stream string, msgs ...*api.AppendReq_ProposedMessage) (*api.AppendResp, metadata.MD, error) {
	var trailer metadata.MD
	call, err := rs.Append(ctx, grpc.Trailer(&trailer))
	if err != nil {
		return nil, trailer, err
	}
	header := &api.AppendReq{Content: &api.AppendReq_Options_{Options: &api.AppendReq_Options{
		StreamIdentifier:       streamID(stream),
		ExpectedStreamRevision: &api.AppendReq_Options_Any{Any: &shared.Empty{}},
	}}}
	if call.Send(header) == nil {
		for _, m := range msgs {
			if call.Send(&api.AppendReq{Content: &api.AppendReq_ProposedMessage_{ProposedMessage: m}}) != nil {
				break
			}
		}
	}
	resp, err := call.CloseAndRecv()
	return resp, trailer, err
}

// rawReadStream reads a stream forwards from Start with a count, the way the
// client does, and returns every message and the final status.
func rawReadStream(ctx context.Context, rs api.StreamsClient, stream string, count uint64) ([]*api.ReadResp, metadata.MD, error) {
	return rawRead(ctx, rs, rawReadRequest(stream, count))
}

func rawReadRequest(stream string, count uint64) *api.ReadReq {
	return &api.ReadReq{Options: &api.ReadReq_Options{
		StreamOption: &api.ReadReq_Options_Stream{Stream: &api.ReadReq_Options_StreamOptions{
			StreamIdentifier: streamID(stream),
			RevisionOption:   &api.ReadReq_Options_StreamOptions_Start{Start: &shared.Empty{}},
		}},
		ReadDirection: api.ReadReq_Options_Forwards,
		CountOption:   &api.ReadReq_Options_Count{Count: count},
		FilterOption:  &api.ReadReq_Options_NoFilter{NoFilter: &shared.Empty{}},
		UuidOption:    &api.ReadReq_Options_UUIDOption{Content: &api.ReadReq_Options_UUIDOption_Structured{Structured: &shared.Empty{}}},
	}}
}

func rawRead(ctx context.Context, rs api.StreamsClient, req *api.ReadReq) ([]*api.ReadResp, metadata.MD, error) {
	var trailer metadata.MD
	call, err := rs.Read(ctx, req, grpc.Trailer(&trailer))
	if err != nil {
		return nil, trailer, err
	}
	var msgs []*api.ReadResp
	for {
		m, err := call.Recv()
		if errors.Is(err, io.EOF) {
			return msgs, trailer, nil
		}
		if err != nil {
			return msgs, trailer, err
		}
		msgs = append(msgs, m)
	}
}

// requireStatus fails unless err is a gRPC status with the wanted code.
func requireStatus(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want status %s", want)
	}
	if got := status.Code(err); got != want {
		t.Fatalf("got status %s (%v), want %s", got, err, want)
	}
}

// requireTrailer fails unless the trailer has exactly one value for key,
// equal to want.
func requireTrailer(t *testing.T, trailer metadata.MD, key, want string) {
	t.Helper()
	got := trailer.Get(key)
	if len(got) != 1 || got[0] != want {
		t.Fatalf("trailer %q = %q, want [%q] (all trailers: %v)", key, got, want, trailer)
	}
}

// requireStreamDeletedStatus checks the status and trailers that the client
// turns into ErrorCodeStreamDeleted; without stream-name the client panics.
func requireStreamDeletedStatus(t *testing.T, err error, trailer metadata.MD, stream string) {
	t.Helper()
	requireStatus(t, err, codes.FailedPrecondition)
	requireTrailer(t, trailer, "exception", "stream-deleted")
	requireTrailer(t, trailer, "stream-name", stream)
}

// checkRawCountRead checks what a count read may carry: only events (or one
// stream_not_found), each with the metadata the client cannot live without.
func checkRawCountRead(t *testing.T, msgs []*api.ReadResp) {
	t.Helper()
	for i, m := range msgs {
		switch c := m.Content.(type) {
		case *api.ReadResp_Event:
			for _, rec := range []*api.ReadResp_ReadEvent_RecordedEvent{c.Event.GetEvent(), c.Event.GetLink()} {
				if rec == nil {
					continue
				}
				created, ok := rec.Metadata["created"]
				if !ok {
					t.Fatalf("message %d: recorded event has no 'created' metadata (the client would exit the process)", i)
				}
				if _, err := strconv.ParseInt(created, 10, 64); err != nil {
					t.Fatalf("message %d: 'created' = %q is not a decimal tick count (the client would exit the process)", i, created)
				}
				if rec.Metadata["type"] == "" || rec.Metadata["content-type"] == "" {
					t.Fatalf("message %d: recorded event metadata lacks type or content-type: %v", i, rec.Metadata)
				}
			}
		case *api.ReadResp_StreamNotFound_:
			if i != len(msgs)-1 {
				t.Fatalf("message %d: stream_not_found is followed by %d more messages", i, len(msgs)-1-i)
			}
		default:
			t.Fatalf("message %d: a count read carried %T; the client panics on anything but event or stream_not_found", i, m.Content)
		}
	}
}
