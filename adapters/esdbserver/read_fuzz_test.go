package esdbserver

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/orgportal/onboarding/adapters/esdbserver/store"
)

// fakeReadCall collects what Read sends. A subscription ends (its context
// is cancelled) once it reports caught up, or after a liveness bound.
type fakeReadCall struct {
	grpc.ServerStream // nil: calling anything not overridden panics
	ctx               context.Context
	cancel            context.CancelFunc
	mu                sync.Mutex
	sent              []*streams.ReadResp
}

func (c *fakeReadCall) Send(m *streams.ReadResp) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	// The server reuses its message structs; keep a copy.
	c.sent = append(c.sent, proto.Clone(m).(*streams.ReadResp))
	if m.GetCaughtUp() != nil {
		c.cancel()
	}
	return nil
}

func (c *fakeReadCall) SetTrailer(metadata.MD)   {}
func (c *fakeReadCall) Context() context.Context { return c.ctx }

// fuzzReadStore is a small store with events of a few types in a few
// streams, a link, a metastream and a deleted stream, opened once per
// fuzz target.
func fuzzReadStore(f *testing.F) (*store.Store, map[[16]byte]bool) {
	f.Helper()
	st, err := store.Open(f.TempDir(), store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = st.Close() })
	ids := map[[16]byte]bool{}
	n := byte(0)
	add := func(stream, typ string, data string) {
		n++
		id := [16]byte{15: n}
		ids[id] = true
		ev := store.ProposedEvent{ID: id, Type: typ, JSON: true, Data: []byte(data), Metadata: []byte(`{"actor":"system"}`)}
		if _, err := st.Append(context.Background(), stream, store.ExpectedRevision{Kind: store.ExpectAny}, []store.ProposedEvent{ev}); err != nil {
			f.Fatal(err)
		}
	}
	add("organization-1", "OrganizationCreated", `{"name":"Acme"}`)
	add("user-2", "AccountCreated", `{"email":"a@b.example"}`)
	add("organization-1", "MemberAdded", `{}`)
	add("invitation-3", "UserInvited", `{}`)
	add("$ce-user", store.TypeLink, "0@user-2")
	add("$$user-2", "$metadata", `{"$maxCount":10}`)
	add("gone-4", "Deleted", `{}`)
	if _, err := st.Delete(context.Background(), "gone-4", store.ExpectedRevision{Kind: store.ExpectAny}); err != nil {
		f.Fatal(err)
	}
	// The store writes events of its own (the deletion's metadata).
	err = st.ReadAll(0, false, store.End, func(r *store.Record) error {
		ids[r.ID] = true
		return nil
	})
	if err != nil || len(ids) < 8 {
		f.Fatalf("%d events in the store: %v", len(ids), err)
	}
	return st, ids
}

// FuzzReadRequestDecoding sends arbitrary ReadReq messages, as a client on
// the network could, to Streams.Read over a real store: bounded reads and
// subscriptions, of a stream or of $all, with event-type or stream-name
// filters (regex or prefixes) and checkpoint windows. Read never panics or
// hangs; a refusal is InvalidArgument (or FailedPrecondition for a deleted
// stream), never Internal; a bounded read sends at most count events; a
// subscription is confirmed before anything else; every event sent is one
// of the store's and passes the request's filter.
func FuzzReadRequestDecoding(f *testing.F) {
	st, ids := fuzzReadStore(f)
	svc := &streamsService{store: st, log: slog.New(slog.DiscardHandler), shutdown: context.Background()}

	stream := func(name string, rev any) *streams.ReadReq_Options_Stream {
		so := &streams.ReadReq_Options_StreamOptions{StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(name)}}
		switch r := rev.(type) {
		case uint64:
			so.RevisionOption = &streams.ReadReq_Options_StreamOptions_Revision{Revision: r}
		case string:
			if r == "end" {
				so.RevisionOption = &streams.ReadReq_Options_StreamOptions_End{End: &shared.Empty{}}
			} else {
				so.RevisionOption = &streams.ReadReq_Options_StreamOptions_Start{Start: &shared.Empty{}}
			}
		}
		return &streams.ReadReq_Options_Stream{Stream: so}
	}
	all := func(pos *streams.ReadReq_Options_Position) *streams.ReadReq_Options_All {
		ao := &streams.ReadReq_Options_AllOptions{AllOption: &streams.ReadReq_Options_AllOptions_Start{Start: &shared.Empty{}}}
		if pos != nil {
			ao.AllOption = &streams.ReadReq_Options_AllOptions_Position{Position: pos}
		}
		return &streams.ReadReq_Options_All{All: ao}
	}
	count := func(n uint64) *streams.ReadReq_Options_Count { return &streams.ReadReq_Options_Count{Count: n} }
	sub := &streams.ReadReq_Options_Subscription{Subscription: &streams.ReadReq_Options_SubscriptionOptions{}}
	typeRegex := func(re string) *streams.ReadReq_Options_FilterOptions {
		return &streams.ReadReq_Options_FilterOptions{Filter: &streams.ReadReq_Options_FilterOptions_EventType{
			EventType: &streams.ReadReq_Options_FilterOptions_Expression{Regex: re}}, Window: &streams.ReadReq_Options_FilterOptions_Count{Count: &shared.Empty{}}}
	}
	streamPrefix := func(max uint32, mult uint32, prefixes ...string) *streams.ReadReq_Options_FilterOptions {
		return &streams.ReadReq_Options_FilterOptions{Filter: &streams.ReadReq_Options_FilterOptions_StreamIdentifier{
			StreamIdentifier: &streams.ReadReq_Options_FilterOptions_Expression{Prefix: prefixes}},
			Window: &streams.ReadReq_Options_FilterOptions_Max{Max: max}, CheckpointIntervalMultiplier: mult}
	}
	for _, o := range []*streams.ReadReq_Options{
		{StreamOption: stream("organization-1", "start"), CountOption: count(10)},
		{StreamOption: stream("organization-1", "end"), CountOption: count(1), ReadDirection: streams.ReadReq_Options_Backwards},
		{StreamOption: stream("organization-1", uint64(1)), CountOption: count(^uint64(0))},
		{StreamOption: stream("no-such-stream", "start"), CountOption: count(5)},
		{StreamOption: stream("gone-4", "start"), CountOption: count(5)},
		{StreamOption: stream("$ce-user", "start"), CountOption: count(5), ResolveLinks: true},
		{StreamOption: stream("", "start"), CountOption: count(5)},
		{StreamOption: stream("$$user-2", "start"), CountOption: count(5), UuidOption: &streams.ReadReq_Options_UUIDOption{Content: &streams.ReadReq_Options_UUIDOption_String_{String_: &shared.Empty{}}}},
		{StreamOption: all(nil), CountOption: count(100), FilterOption: &streams.ReadReq_Options_Filter{Filter: typeRegex("^(Organization|Account)")}},
		{StreamOption: all(nil), CountOption: count(100), FilterOption: &streams.ReadReq_Options_Filter{Filter: typeRegex("(")}},
		{StreamOption: all(nil), CountOption: count(100), FilterOption: &streams.ReadReq_Options_Filter{Filter: typeRegex(`(a+)+$|\1|(?=x)`)}},
		{StreamOption: all(nil), CountOption: count(100), FilterOption: &streams.ReadReq_Options_Filter{Filter: streamPrefix(0, 0, "user-", "invitation-")}},
		{StreamOption: all(&streams.ReadReq_Options_Position{CommitPosition: 3, PreparePosition: 4}), CountOption: count(10)},
		{StreamOption: all(&streams.ReadReq_Options_Position{CommitPosition: 12345, PreparePosition: 12345}), CountOption: count(10), ReadDirection: streams.ReadReq_Options_Backwards},
		{StreamOption: stream("user-2", "start"), CountOption: count(10), FilterOption: &streams.ReadReq_Options_Filter{Filter: typeRegex(".")}},
		{StreamOption: all(nil), CountOption: sub, FilterOption: &streams.ReadReq_Options_Filter{Filter: streamPrefix(1<<32-1, 1<<32-1, "organization-")}},
		{StreamOption: all(nil), CountOption: sub, FilterOption: &streams.ReadReq_Options_Filter{Filter: typeRegex("Created$")}},
		{StreamOption: stream("organization-1", "start"), CountOption: sub},
		{StreamOption: stream("organization-1", uint64(0)), CountOption: sub, ReadDirection: streams.ReadReq_Options_Backwards},
		{StreamOption: all(nil)},
		{},
	} {
		b, err := proto.Marshal(&streams.ReadReq{Options: o})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(nil))
	f.Add([]byte{0x0a, 0x80})

	f.Fuzz(func(t *testing.T, raw []byte) {
		req := new(streams.ReadReq)
		if proto.Unmarshal(raw, req) != nil {
			return // gRPC refuses what does not unmarshal before Read sees it
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		call := &fakeReadCall{ctx: ctx, cancel: cancel}
		err := svc.Read(req, call)
		if ctx.Err() == context.DeadlineExceeded {
			t.Fatalf("Read did not finish: %v", req)
		}
		o := req.GetOptions()
		_, subscription := o.GetCountOption().(*streams.ReadReq_Options_Subscription)
		if err != nil {
			st, ok := status.FromError(err)
			if !ok {
				t.Fatalf("error %v (%T) is not a gRPC status", err, err)
			}
			switch st.Code() {
			case codes.InvalidArgument, codes.FailedPrecondition:
			case codes.Canceled:
				if !subscription {
					t.Fatalf("a bounded read was cancelled: %v", err)
				}
			default:
				t.Fatalf("status %v for %v", err, req)
			}
		}

		match := filterOf(o)
		events := 0
		for i, m := range call.sent {
			if subscription && i == 0 && m.GetConfirmation() == nil {
				t.Fatalf("a subscription's first message is %v", m)
			}
			ev := m.GetEvent()
			if ev == nil {
				continue
			}
			events++
			rec := ev.GetEvent()
			if ev.GetLink() != nil {
				rec = ev.GetLink() // the filter and the ids apply to what was read
			}
			if rec == nil {
				t.Fatalf("an event message without an event: %v", m)
			}
			id, err := parseUUID(rec.GetId())
			if err != nil || !ids[id] {
				t.Fatalf("sent an event that is not in the store: %v (%v)", rec, err)
			}
			if match != nil && !match(rec.GetMetadata()["type"], string(rec.GetStreamIdentifier().GetStreamName())) {
				t.Fatalf("sent %s/%s, which the filter %v does not pass", rec.GetStreamIdentifier().GetStreamName(), rec.GetMetadata()["type"], o.GetFilter())
			}
		}
		if c, ok := o.GetCountOption().(*streams.ReadReq_Options_Count); ok && uint64(events) > c.Count {
			t.Fatalf("a read of count %d sent %d events", c.Count, events)
		}
	})
}

// filterOf is the request's filter as the test understands it; nil when
// there is none (or it does not compile, and Read refused the request).
func filterOf(o *streams.ReadReq_Options) func(typ, stream string) bool {
	f := o.GetFilter()
	if f == nil {
		return nil
	}
	expr := f.GetEventType()
	byType := expr != nil
	if !byType {
		expr = f.GetStreamIdentifier()
	}
	var pass func(string) bool
	switch {
	case expr == nil:
		return nil
	case expr.GetRegex() != "":
		re, err := regexp.Compile(expr.GetRegex())
		if err != nil {
			return nil
		}
		pass = re.MatchString
	default:
		pass = func(s string) bool {
			for _, p := range expr.GetPrefix() {
				if strings.HasPrefix(s, p) {
					return true
				}
			}
			return false
		}
	}
	return func(typ, stream string) bool {
		if byType {
			return pass(typ)
		}
		return pass(stream)
	}
}
