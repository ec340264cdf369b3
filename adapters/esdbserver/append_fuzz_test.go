package esdbserver

import (
	"context"
	"io"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/orgportal/onboarding/adapters/esdbserver/store"
)

// fakeAppendCall replays a fixed sequence of AppendReq messages to
// readAppend, as a client stream would.
type fakeAppendCall struct {
	grpc.ServerStream // nil: calling anything not overridden panics
	msgs              []*streams.AppendReq
	trailer           metadata.MD
}

func (c *fakeAppendCall) Recv() (*streams.AppendReq, error) {
	if len(c.msgs) == 0 {
		return nil, io.EOF
	}
	m := c.msgs[0]
	c.msgs = c.msgs[1:]
	return m, nil
}

func (c *fakeAppendCall) SendAndClose(*streams.AppendResp) error { return nil }
func (c *fakeAppendCall) SetTrailer(md metadata.MD)              { c.trailer = metadata.Join(c.trailer, md) }
func (c *fakeAppendCall) Context() context.Context               { return context.Background() }

func mustMarshal(f *testing.F, m proto.Message) []byte {
	f.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// wantInvalidArgument fails unless err is a gRPC status InvalidArgument
// with a message.
func wantInvalidArgument(t *testing.T, what string, err error) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument || st.Message() == "" {
		t.Fatalf("%s: error %v (%T) is not an InvalidArgument status", what, err, err)
	}
}

// FuzzAppendRequestDecoding unmarshals fuzz input into an append's options
// and two proposed messages, as a client on the network could send them,
// and feeds them to setOptions, proposedEvent and the whole readAppend.
// None may panic; every refusal is an InvalidArgument status; what is
// accepted is exactly what was sent (stream, expected revision, event id,
// type, content type, data, metadata).
func FuzzAppendRequestDecoding(f *testing.F) {
	idStruct := &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{MostSignificantBits: -1, LeastSignificantBits: 42}}}
	idString := &shared.UUID{Value: &shared.UUID_String_{String_: "0b6f5a3e-9d5c-4a47-8f0e-7c1d2b3a4e5f"}}
	opts := func(name string, rev any) []byte {
		o := &streams.AppendReq_Options{StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(name)}}
		switch r := rev.(type) {
		case uint64:
			o.ExpectedStreamRevision = &streams.AppendReq_Options_Revision{Revision: r}
		case string:
			switch r {
			case "no_stream":
				o.ExpectedStreamRevision = &streams.AppendReq_Options_NoStream{NoStream: &shared.Empty{}}
			case "exists":
				o.ExpectedStreamRevision = &streams.AppendReq_Options_StreamExists{StreamExists: &shared.Empty{}}
			case "any":
				o.ExpectedStreamRevision = &streams.AppendReq_Options_Any{Any: &shared.Empty{}}
			}
		}
		return mustMarshal(f, o)
	}
	event := func(id *shared.UUID, md map[string]string, data, custom string) []byte {
		return mustMarshal(f, &streams.AppendReq_ProposedMessage{Id: id, Metadata: md, Data: []byte(data), CustomMetadata: []byte(custom)})
	}
	good := event(idStruct, map[string]string{"type": "UserInvited", "content-type": "application/json"}, `{"a":1}`, `{"actor":"x"}`)
	f.Add(opts("organization-1", "no_stream"), good, event(idString, map[string]string{"type": "T", "content-type": "application/octet-stream"}, "\x00\xff", ""))
	f.Add(opts("s", uint64(0)), good, []byte(nil))
	f.Add(opts("s", ^uint64(0)), good, good)
	f.Add(opts("s", "exists"), event(nil, map[string]string{"type": "T", "content-type": "application/json"}, "", ""), []byte(nil))
	f.Add(opts("s", "any"), event(idString, map[string]string{"content-type": "application/json"}, "{}", ""), []byte(nil))
	f.Add(opts("s", nil), event(idString, map[string]string{"type": "T"}, "{}", ""), []byte(nil))
	f.Add(opts("s", nil), event(idString, map[string]string{"type": "", "content-type": ""}, "", ""), []byte(nil))
	f.Add(opts("s", nil), event(&shared.UUID{Value: &shared.UUID_String_{String_: "not-a-uuid"}}, map[string]string{"type": "T", "content-type": ""}, "", ""), []byte(nil))
	f.Add(opts("s", nil), event(&shared.UUID{}, nil, "", ""), []byte(nil))
	f.Add(opts("", nil), good, []byte(nil))
	f.Add(opts(string(make([]byte, MaxStreamNameLength+1)), nil), good, []byte(nil))
	f.Add([]byte(nil), good, good)
	f.Add([]byte{0xff, 0xff, 0xff}, []byte{0x0a, 0x80}, []byte{0x12})

	f.Fuzz(func(t *testing.T, optsBytes, first, second []byte) {
		// The options message: nil (an AppendReq without options) when
		// the bytes are not one.
		var o *streams.AppendReq_Options
		if candidate := new(streams.AppendReq_Options); proto.Unmarshal(optsBytes, candidate) == nil {
			o = candidate
		}
		var req appendRequest
		if err := req.setOptions(o); err != nil {
			wantInvalidArgument(t, "setOptions", err)
		} else {
			name := string(o.GetStreamIdentifier().GetStreamName())
			if req.stream != name || name == "" || len(name) > MaxStreamNameLength {
				t.Fatalf("stream %q accepted as %q", name, req.stream)
			}
			want := store.ExpectedRevision{Kind: store.ExpectAny}
			switch e := o.ExpectedStreamRevision.(type) {
			case *streams.AppendReq_Options_Revision:
				want = store.ExpectedRevision{Kind: store.ExpectRevision, Revision: e.Revision}
			case *streams.AppendReq_Options_NoStream:
				want.Kind = store.ExpectNoStream
			case *streams.AppendReq_Options_StreamExists:
				want.Kind = store.ExpectStreamExists
			}
			if req.expected != want {
				t.Fatalf("expected revision %+v read as %+v", o.ExpectedStreamRevision, req.expected)
			}
		}

		msgs := []*streams.AppendReq{{Content: &streams.AppendReq_Options_{Options: o}}}
		if o == nil {
			msgs[0] = &streams.AppendReq{}
		}
		var proposed []*streams.AppendReq_ProposedMessage
		for i, b := range [][]byte{first, second} {
			if b == nil {
				continue
			}
			pm := new(streams.AppendReq_ProposedMessage)
			if proto.Unmarshal(b, pm) != nil {
				// Not a proposed message: send options again instead.
				msgs = append(msgs, &streams.AppendReq{Content: &streams.AppendReq_Options_{Options: o}})
				proposed = append(proposed, nil)
				continue
			}
			proposed = append(proposed, pm)
			msgs = append(msgs, &streams.AppendReq{Content: &streams.AppendReq_ProposedMessage_{ProposedMessage: pm}})

			ev, err := proposedEvent(pm, i)
			if err != nil {
				wantInvalidArgument(t, "proposedEvent", err)
				continue
			}
			checkProposed(t, pm, ev)
		}

		call := &fakeAppendCall{msgs: msgs}
		got, err := (&streamsService{}).readAppend(call)
		if len(call.msgs) != 0 {
			t.Fatalf("readAppend left %d messages unread", len(call.msgs))
		}
		if err != nil {
			wantInvalidArgument(t, "readAppend", err)
			return
		}
		if o == nil || got.stream != req.stream || got.expected != req.expected || len(got.events) != len(proposed) {
			t.Fatalf("readAppend accepted %+v from options %v and %d messages", got, o, len(proposed))
		}
		for i, pm := range proposed {
			if pm == nil {
				t.Fatalf("readAppend accepted a non-event message %d", i)
			}
			checkProposed(t, pm, got.events[i])
		}
	})
}

// checkProposed: an accepted event is exactly the proposed message.
func checkProposed(t *testing.T, pm *streams.AppendReq_ProposedMessage, ev store.ProposedEvent) {
	t.Helper()
	if _, asString := pm.Id.GetValue().(*shared.UUID_String_); !asString {
		w := wireUUID(ev.ID, false).GetStructured()
		if w.GetMostSignificantBits() != pm.Id.GetStructured().GetMostSignificantBits() ||
			w.GetLeastSignificantBits() != pm.Id.GetStructured().GetLeastSignificantBits() {
			t.Fatalf("event id %v read as %x", pm.Id, ev.ID)
		}
	} else if again, err := parseUUID(wireUUID(ev.ID, true)); err != nil || again != ev.ID {
		t.Fatalf("event id %v read as %x does not round-trip: %v", pm.Id, ev.ID, err)
	}
	ct, hasCT := pm.Metadata["content-type"]
	if ev.Type == "" || ev.Type != pm.Metadata["type"] || !hasCT || ev.JSON != (ct == contentTypeJSON) {
		t.Fatalf("metadata %v read as type %q json %v", pm.Metadata, ev.Type, ev.JSON)
	}
	if string(ev.Data) != string(pm.Data) || string(ev.Metadata) != string(pm.CustomMetadata) {
		t.Fatalf("data or metadata changed: %q %q, sent %q %q", ev.Data, ev.Metadata, pm.Data, pm.CustomMetadata)
	}
}
