package eventstoredb_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/orgportal/onboarding/adapters/eventstoredb"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// FuzzCodecDecode feeds recorded events of every registered type (picked
// by index; an index past the registry uses the fuzzed name instead) with
// arbitrary data, metadata and content type to Codec.Decode, as a store
// holding foreign or damaged events would. Decode never panics; an error
// names the stream and the revision, wraps ErrUnknownEventType exactly
// when the type is unknown, and names the type; what decodes has that
// type and survives decode(encode(e)) == e with its metadata.
func FuzzCodecDecode(f *testing.F) {
	reg, err := domain.NewRegistry()
	if err != nil {
		f.Fatal(err)
	}
	codec, err := eventstoredb.NewCodec(reg)
	if err != nil {
		f.Fatal(err)
	}
	types := reg.Types()
	meta := commands.Metadata{Actor: "user-7f0c", CorrelationID: "corr-1", CausationID: "cause-1",
		RequestTime: time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)}
	for i, name := range types {
		// The zero value of each type, encoded as the codec writes it.
		zero, err := reg.Decode(name, domain.InitialSchemaVersion, []byte("{}"))
		if err != nil {
			f.Fatal(err)
		}
		ed, err := codec.Encode(zero, meta)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), "", "application/json", ed.Data, ed.Metadata)
		// One damaged variant per type, in turn (few seeds: the CI run
		// is short and every seed costs a baseline execution).
		switch i % 4 {
		case 0:
			f.Add(uint8(i), "", "", []byte(`{"at":"2025-01-02T03:04:05.000006+01:00","email":"Ada@Example.com","role":"admin"}`), []byte(`{"schemaVersion":0}`))
		case 1:
			f.Add(uint8(i), "", "application/octet-stream", ed.Data, ed.Metadata)
		case 2:
			f.Add(uint8(i), "", "application/json", []byte(`not json`), []byte(`{"schemaVersion":99}`))
		case 3:
			f.Add(uint8(i), "", "application/json", []byte(`[]`), []byte(`{"requestTime":"yesterday"}`))
		}
	}
	f.Add(uint8(255), "NotADomainEvent", "application/json", []byte(`{}`), []byte(`{}`))
	f.Add(uint8(255), "$metadata", "", []byte(nil), []byte(nil))
	f.Add(uint8(255), "", "", []byte(nil), []byte(nil))
	f.Add(uint8(0), "", "application/json", []byte(nil), []byte(`{"schemaVersion":-1}`))
	f.Add(uint8(0), "", "application/json", []byte(`null`), []byte(`null`))
	f.Add(uint8(0), "", "application/json", []byte(`{"a":`+strings.Repeat("[", 5000)), []byte(`{"schemaVersion":1e400}`))

	f.Fuzz(func(t *testing.T, pick uint8, name, contentType string, data, metadata []byte) {
		known := int(pick) < len(types)
		if known {
			name = types[pick]
		}
		rec := &esdb.RecordedEvent{StreamID: "fuzz-stream", EventNumber: 42, EventType: name,
			ContentType: contentType, Data: data, UserMetadata: metadata}
		event, gotMeta, err := codec.Decode(rec)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "eventstoredb: decode") || !strings.Contains(msg, `event 42 of stream "fuzz-stream"`) {
				t.Fatalf("error does not say which event: %v", err)
			}
			if errors.Is(err, eventstoredb.ErrUnknownEventType) != !reg.Knows(name) {
				t.Fatalf("type %q (known %v): error %v", name, reg.Knows(name), err)
			}
			if reg.Knows(name) && !strings.Contains(msg, name) {
				t.Fatalf("error does not name the type %q: %v", name, err)
			}
			if event != nil {
				t.Fatalf("error %v with event %#v", err, event)
			}
			return
		}
		if !reg.Knows(name) || event == nil || event.EventType() != name {
			t.Fatalf("decoded %q as %#v", name, event)
		}
		if contentType != "" && contentType != "application/json" {
			t.Fatalf("decoded content type %q", contentType)
		}
		// Round trip: encoding the decoded event and decoding it again
		// gives the same event and metadata.
		ed, err := codec.Encode(event, gotMeta)
		if err != nil {
			t.Fatalf("decoded %#v does not encode: %v", event, err)
		}
		if ed.ContentType != esdb.ContentTypeJson || ed.EventType != name {
			t.Fatalf("%s encodes as %s with content type %d", name, ed.EventType, ed.ContentType)
		}
		again, againMeta, err := codec.Decode(&esdb.RecordedEvent{StreamID: "fuzz-stream", EventNumber: 42, EventType: ed.EventType,
			ContentType: "application/json", Data: ed.Data, UserMetadata: ed.Metadata})
		if err != nil {
			t.Fatalf("re-encoded %s %s does not decode: %v", ed.Data, ed.Metadata, err)
		}
		if !reflect.DeepEqual(again, event) {
			a, _ := json.Marshal(again)
			b, _ := json.Marshal(event)
			t.Fatalf("decode(encode(e)) != e for %s:\n got %#v (%s)\nwant %#v (%s)", name, again, a, event, b)
		}
		if !againMeta.RequestTime.Equal(gotMeta.RequestTime) {
			t.Fatalf("request time %v became %v", gotMeta.RequestTime, againMeta.RequestTime)
		}
		againMeta.RequestTime, gotMeta.RequestTime = time.Time{}, time.Time{}
		if againMeta != gotMeta {
			t.Fatalf("metadata %+v became %+v", gotMeta, againMeta)
		}
	})
}
