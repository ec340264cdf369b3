package eventstoredb_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/orgportal/onboarding/adapters/eventstoredb"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// Every registered event type goes through the real client and server and
// comes back equal, field by field, with its metadata.
func TestEveryRegisteredEventRoundTrips(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	reg := newRegistry(t)
	stream := testStream("roundtrip")
	meta := testMeta()

	types := reg.Types()
	if len(types) == 0 {
		t.Fatal("registry has no types")
	}
	var want []domain.Event
	for _, name := range types {
		want = append(want, sampleEvent(t, reg, name))
	}
	if _, err := e.store.Append(ctx, stream, commands.NoStream, meta, want...); err != nil {
		t.Fatalf("append: %v", err)
	}

	loaded, err := e.store.Load(ctx, stream)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if got, wantRev := loaded.Revision, commands.Revision(len(want)-1); got != wantRev {
		t.Errorf("revision = %d, want %d", got, wantRev)
	}
	if len(loaded.Events) != len(want) {
		t.Fatalf("loaded %d events, want %d", len(loaded.Events), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(loaded.Events[i], want[i]) {
			t.Errorf("%s did not round-trip:\n got %#v\nwant %#v", types[i], loaded.Events[i], want[i])
		}
	}

	// The raw records: our own ids, JSON, stable names, metadata per event.
	ids := map[uuid.UUID]bool{}
	for i, rec := range readRaw(t, e.client, stream) {
		if rec.EventType != types[i] {
			t.Errorf("event %d stored as %q, want %q", i, rec.EventType, types[i])
		}
		if rec.ContentType != "application/json" {
			t.Errorf("%s content type %q", rec.EventType, rec.ContentType)
		}
		if rec.EventID == uuid.Nil || rec.EventID.Version() != 4 || ids[rec.EventID] {
			t.Errorf("%s: event id %s is not a fresh random UUID", rec.EventType, rec.EventID)
		}
		ids[rec.EventID] = true
		ev, gotMeta, err := e.codec.Decode(rec)
		if err != nil {
			t.Fatalf("decode %s: %v", rec.EventType, err)
		}
		if !reflect.DeepEqual(ev, want[i]) {
			t.Errorf("Codec.Decode(%s) = %#v", rec.EventType, ev)
		}
		assertMetaEqual(t, gotMeta, meta)
	}
}

func assertMetaEqual(t *testing.T, got, want commands.Metadata) {
	t.Helper()
	if got.Actor != want.Actor || got.CorrelationID != want.CorrelationID || got.CausationID != want.CausationID {
		t.Errorf("metadata = %+v, want %+v", got, want)
	}
	if !got.RequestTime.Equal(want.RequestTime) {
		t.Errorf("request time = %s, want %s (same instant)", got.RequestTime, want.RequestTime)
	}
}

// The metadata is a documented, stable JSON object; audits and other tools
// read it, so its keys are part of the stored format.
func TestMetadataFormat(t *testing.T) {
	codec := newCodec(t, newRegistry(t))
	meta := testMeta()
	data, err := codec.Encode(domain.InvitationRevoked{InvitationID: "inv-1", OrgID: "org-1"}, meta)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data.Metadata, &raw); err != nil {
		t.Fatalf("metadata is not a JSON object: %v (%s)", err, data.Metadata)
	}
	var keys []string
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"actor", "causationId", "correlationId", "requestTime", "schemaVersion"}; !slices.Equal(keys, want) {
		t.Errorf("metadata keys = %v, want %v", keys, want)
	}
	if raw["actor"] != meta.Actor || raw["correlationId"] != meta.CorrelationID || raw["causationId"] != meta.CausationID {
		t.Errorf("metadata = %s", data.Metadata)
	}
	if raw["requestTime"] != "2025-03-14T14:09:26.535897932Z" {
		t.Errorf("requestTime = %v, want RFC 3339 in UTC", raw["requestTime"])
	}
	if raw["schemaVersion"] != float64(domain.InitialSchemaVersion) {
		t.Errorf("schemaVersion = %v", raw["schemaVersion"])
	}
	if data.EventType != domain.TypeInvitationRevoked || data.ContentType != esdb.ContentTypeJson {
		t.Errorf("event data = %+v", data)
	}
	if string(data.Data) != `{"invitationId":"inv-1","orgId":"org-1"}` {
		t.Errorf("payload = %s", data.Data)
	}

	// Two encodings of the same event get different ids.
	again, err := codec.Encode(domain.InvitationRevoked{InvitationID: "inv-1", OrgID: "org-1"}, meta)
	if err != nil {
		t.Fatal(err)
	}
	if again.EventID == data.EventID {
		t.Error("Encode reused an event id")
	}
}

// Stored payloads of an older schema version go through the registry's
// upcaster, chosen by the schemaVersion in the metadata.
func TestDecodeUpcastsOlderSchemaVersions(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	stream := testStream("upcast")
	// Written by the current build (schema version 1)...
	old := domain.InvitationEmailFailed{InvitationID: "inv-1", OrgID: "org-1", Generation: 1, Reason: "mailbox full"}
	if _, err := e.store.Append(ctx, stream, commands.NoStream, testMeta(), old); err != nil {
		t.Fatal(err)
	}
	// ...read by a later build whose version 2 renamed the reason.
	reg := newRegistry(t)
	var calledWith []int
	err := reg.RegisterUpcaster(domain.TypeInvitationEmailFailed, 2, func(version int, raw json.RawMessage) (json.RawMessage, error) {
		calledWith = append(calledWith, version)
		var v map[string]any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		v["reason"] = "v1: " + v["reason"].(string)
		return json.Marshal(v)
	})
	if err != nil {
		t.Fatal(err)
	}
	later, err := eventstoredb.NewStore(e.conn, newCodec(t, reg))
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := later.Load(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(calledWith, []int{1}) {
		t.Errorf("upcaster called with versions %v, want [1]", calledWith)
	}
	got := loaded.Events[0].(domain.InvitationEmailFailed)
	if got.Reason != "v1: mailbox full" {
		t.Errorf("reason = %q, want the upcast value", got.Reason)
	}

	// The later build writes version 2, which the earlier build refuses
	// instead of misreading.
	if _, err := later.Append(ctx, stream, loaded.Revision, testMeta(), got); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Load(ctx, stream); err == nil || !strings.Contains(err.Error(), "newer than this build") {
		t.Errorf("old build loading a newer schema: err = %v", err)
	}
}

// An event type this build does not know fails the load and names the type.
func TestUnknownEventTypeIsAnError(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	stream := testStream("unknown")
	if _, err := e.store.Append(ctx, stream, commands.NoStream, testMeta(),
		domain.InvitationRevoked{InvitationID: "inv-1", OrgID: "org-1"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.AppendToStream(ctx, string(stream), esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(0)},
		esdb.EventData{EventID: uuid.New(), EventType: "InvitationTeleported", ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.store.Load(ctx, stream)
	if !errors.Is(err, eventstoredb.ErrUnknownEventType) {
		t.Fatalf("load err = %v, want ErrUnknownEventType", err)
	}
	for _, want := range []string{`"InvitationTeleported"`, string(stream), "event 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}

	// The codec alone says the same for the read side.
	_, _, err = e.codec.Decode(&esdb.RecordedEvent{EventType: "$metadata", StreamID: "x-1", Data: []byte(`{}`)})
	if !errors.Is(err, eventstoredb.ErrUnknownEventType) || !strings.Contains(err.Error(), `"$metadata"`) {
		t.Errorf("decode of a system event: err = %v", err)
	}
}

func TestDecodeRejectsBadRecords(t *testing.T) {
	codec := newCodec(t, newRegistry(t))
	cases := map[string]*esdb.RecordedEvent{
		"nil record":     nil,
		"binary content": {EventType: domain.TypeInvitationRevoked, ContentType: "application/octet-stream", Data: []byte(`{}`)},
		"bad metadata":   {EventType: domain.TypeInvitationRevoked, ContentType: "application/json", Data: []byte(`{}`), UserMetadata: []byte(`{`)},
		"bad payload":    {EventType: domain.TypeInvitationRevoked, ContentType: "application/json", Data: []byte(`[1]`)},
		"future version": {EventType: domain.TypeInvitationRevoked, ContentType: "application/json", Data: []byte(`{}`), UserMetadata: []byte(`{"schemaVersion":9}`)},
	}
	for name, rec := range cases {
		if _, _, err := codec.Decode(rec); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
	// Metadata absent altogether (written by another tool): version 1, no
	// actor; still decodes.
	ev, meta, err := codec.Decode(&esdb.RecordedEvent{EventType: domain.TypeInvitationRevoked, ContentType: "application/json", Data: []byte(`{"invitationId":"i"}`)})
	if err != nil || ev.(domain.InvitationRevoked).InvitationID != "i" || meta.Actor != "" {
		t.Errorf("decode without metadata = %v, %+v, %v", ev, meta, err)
	}
}

func TestCodecRefusesUnregisteredEvents(t *testing.T) {
	codec := newCodec(t, newRegistry(t))
	if _, err := codec.Encode(notRegistered{}, testMeta()); err == nil || !strings.Contains(err.Error(), `"NotRegistered"`) {
		t.Errorf("encode of an unregistered type: err = %v", err)
	}
	if _, err := codec.Encode(nil, testMeta()); err == nil {
		t.Error("encode of nil succeeded")
	}
	if _, err := eventstoredb.NewCodec(nil); err == nil {
		t.Error("NewCodec(nil) succeeded")
	}
}

type notRegistered struct{}

func (notRegistered) EventType() string { return "NotRegistered" }
