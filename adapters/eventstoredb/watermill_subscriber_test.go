package eventstoredb_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/orgportal/onboarding/adapters/eventstoredb"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// receive waits for the next message; a closed channel or a silence of
// 10 s fails the test.
func receive(t *testing.T, msgs <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case msg, ok := <-msgs:
		if !ok {
			t.Fatal("messages channel closed")
		}
		return msg
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10 s")
	}
	return nil
}

// assertSilent checks that nothing more arrives for a moment.
func assertSilent(t *testing.T, msgs <-chan *message.Message) {
	t.Helper()
	select {
	case msg, ok := <-msgs:
		if ok {
			t.Fatalf("unexpected message %s of type %s in %s", msg.UUID, msg.Metadata.Get(eventstoredb.MetadataEventType), msg.Metadata.Get(eventstoredb.MetadataStream))
		}
	case <-time.After(300 * time.Millisecond):
	}
}

func publishNumbered(t *testing.T, pub message.Publisher, topic string, from, to int) []string {
	t.Helper()
	var ids []string
	for i := from; i <= to; i++ {
		msg := message.NewMessage(watermill.NewUUID(), []byte(strconv.Itoa(i)))
		if err := pub.Publish(topic, msg); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		ids = append(ids, msg.UUID)
	}
	return ids
}

// A projection subscribes to "all our event types": it gets the domain
// events of every stream with their metadata, and nothing else, however
// close the other types' names are.
func TestWatermillSubscriberDeliversOurEventTypesOnly(t *testing.T) {
	h := newESDBHarness(t)
	ctx := context.Background()
	reg := newRegistry(t)
	codec := newCodec(t, reg)
	store, err := eventstoredb.NewStore(h.conn, codec)
	if err != nil {
		t.Fatal(err)
	}
	meta := testMeta()
	invitations := testStream("invitations")
	users := testStream("users")
	invited := sampleEvent(t, reg, domain.TypeUserInvited)
	if _, err := store.Append(ctx, invitations, commands.NoStream, meta, revoked(1), revoked(2)); err != nil {
		t.Fatal(err)
	}
	// Foreign events in between: another tool's, one whose type starts
	// like ours, and a plain Watermill message.
	foreign := []esdb.EventData{
		{EventID: uuid.New(), EventType: "InvitationRevokedByOtherProduct", ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)},
		{EventID: uuid.New(), EventType: "billing.InvoiceSent", ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)},
	}
	if _, err := h.conn.Client().AppendToStream(ctx, "billing-1", esdb.AppendToStreamOptions{}, foreign...); err != nil {
		t.Fatal(err)
	}
	if err := h.publisher(t).Publish("chatter", message.NewMessage(watermill.NewUUID(), []byte("x"))); err != nil {
		t.Fatal(err)
	}
	lastPos, err := store.Append(ctx, users, commands.NoStream, meta, invited)
	if err != nil {
		t.Fatal(err)
	}

	sub := h.subscriber(t, eventstoredb.SubscriberConfig{Events: &eventstoredb.EventFilter{Types: reg.Types()}})
	defer func() { _ = sub.Close() }()
	msgs, err := sub.Subscribe(ctx, "all-our-events")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		stream   domain.StreamName
		revision int
		event    domain.Event
	}{{invitations, 0, revoked(1)}, {invitations, 1, revoked(2)}, {users, 0, invited}}
	for _, w := range want {
		msg := receive(t, msgs)
		md := msg.Metadata
		if md.Get(eventstoredb.MetadataStream) != string(w.stream) || md.Get(eventstoredb.MetadataRevision) != strconv.Itoa(w.revision) {
			t.Errorf("got %s@%s, want %s@%d", md.Get(eventstoredb.MetadataStream), md.Get(eventstoredb.MetadataRevision), w.stream, w.revision)
		}
		if md.Get(eventstoredb.MetadataEventType) != w.event.EventType() || md.Get(eventstoredb.MetadataEventID) != msg.UUID {
			t.Errorf("type %q id %q (message %s), want %s", md.Get(eventstoredb.MetadataEventType), md.Get(eventstoredb.MetadataEventID), msg.UUID, w.event.EventType())
		}
		if md.Get(eventstoredb.MetadataActor) != meta.Actor || md.Get(eventstoredb.MetadataCorrelationID) != meta.CorrelationID ||
			md.Get(eventstoredb.MetadataCausationID) != meta.CausationID || md.Get(eventstoredb.MetadataSchemaVersion) != "1" {
			t.Errorf("metadata %v does not carry %+v", md, meta)
		}
		if md.Get(eventstoredb.MetadataRequestTime) != meta.RequestTime.UTC().Format(time.RFC3339Nano) {
			t.Errorf("request time %q", md.Get(eventstoredb.MetadataRequestTime))
		}
		ev, gotMeta, err := codec.DecodeMessage(msg)
		if err != nil {
			t.Fatalf("decode message: %v", err)
		}
		if !reflect.DeepEqual(ev, w.event) {
			t.Errorf("decoded %#v, want %#v", ev, w.event)
		}
		assertMetaEqual(t, gotMeta, meta)
		pos, err := eventstoredb.MessagePosition(msg)
		if err != nil || pos == 0 {
			t.Errorf("position %d, %v", pos, err)
		}
		if w.stream == users && pos != uint64(lastPos) {
			t.Errorf("commit position %d, want %d as the append reported", pos, lastPos)
		}
		msg.Ack()
	}
	assertSilent(t, msgs)

	// Live events arrive the same way; foreign ones still do not.
	if _, err := h.conn.Client().AppendToStream(ctx, "billing-1", esdb.AppendToStreamOptions{},
		esdb.EventData{EventID: uuid.New(), EventType: "UserInvitedX", ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(ctx, invitations, 1, meta, revoked(3)); err != nil {
		t.Fatal(err)
	}
	if msg := receive(t, msgs); msg.Metadata.Get(eventstoredb.MetadataRevision) != "2" {
		t.Errorf("live: got %s@%s", msg.Metadata.Get(eventstoredb.MetadataStream), msg.Metadata.Get(eventstoredb.MetadataRevision))
	} else {
		msg.Ack()
	}
	assertSilent(t, msgs)

	// A prefix filter is a prefix filter: it takes the other product's
	// "Invitation…" event too.
	byPrefix := h.subscriber(t, eventstoredb.SubscriberConfig{Events: &eventstoredb.EventFilter{Prefixes: []string{"Invitation"}}})
	defer func() { _ = byPrefix.Close() }()
	prefixed, err := byPrefix.Subscribe(ctx, "invitation-events")
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for range 4 {
		msg := receive(t, prefixed)
		types = append(types, msg.Metadata.Get(eventstoredb.MetadataEventType))
		msg.Ack()
	}
	if want := []string{"InvitationRevoked", "InvitationRevoked", "InvitationRevokedByOtherProduct", "InvitationRevoked"}; !slices.Equal(types, want) {
		t.Errorf("prefix filter delivered %v, want %v", types, want)
	}
	assertSilent(t, prefixed)
}

func TestWatermillSubscriberConfigErrors(t *testing.T) {
	h := newESDBHarness(t)
	bad := map[string]eventstoredb.SubscriberConfig{
		"group without store": {ConsumerGroup: "users"},
		"store without group": {Checkpoints: eventstoredb.NewMemoryCheckpoints()},
		"slash in group":      {ConsumerGroup: "a/b", Checkpoints: eventstoredb.NewMemoryCheckpoints()},
		"empty filter":        {Events: &eventstoredb.EventFilter{}},
		"two filters":         {Events: &eventstoredb.EventFilter{Types: []string{"A"}, Prefixes: []string{"B"}}},
		"empty prefix":        {Events: &eventstoredb.EventFilter{Prefixes: []string{""}}},
		"bad regex":           {Events: &eventstoredb.EventFilter{Regex: "("}},
	}
	for name, cfg := range bad {
		if _, err := eventstoredb.NewSubscriber(h.conn, cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	sub := h.subscriber(t, eventstoredb.SubscriberConfig{})
	for _, topic := range []string{"", "$all", "$$users-1"} {
		if _, err := sub.Subscribe(context.Background(), topic); err == nil {
			t.Errorf("Subscribe(%q) accepted", topic)
		}
		if err := h.publisher(t).Publish(topic, message.NewMessage(watermill.NewUUID(), nil)); err == nil {
			t.Errorf("Publish(%q) accepted", topic)
		}
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Subscribe(context.Background(), "t"); err == nil {
		t.Error("Subscribe after Close accepted")
	}
}

// A durable subscriber resumes after the last acked message, in a new
// Subscriber; a nacked message comes again and is not checkpointed.
func TestWatermillSubscriberResumesFromCheckpoint(t *testing.T) {
	h := newESDBHarness(t)
	ctx := context.Background()
	topic := "resume-" + uuid.NewString()
	pub := h.publisher(t)
	ids := publishNumbered(t, pub, topic, 1, 10)
	checkpoints := eventstoredb.NewMemoryCheckpoints()
	name := eventstoredb.CheckpointName("users-v1", topic)
	durable := eventstoredb.SubscriberConfig{ConsumerGroup: "users-v1", Checkpoints: checkpoints, CheckpointEvery: 3}

	first := h.subscriber(t, durable)
	msgs, err := first.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	positions := map[string]uint64{}
	for i := range 4 {
		msg := receive(t, msgs)
		if msg.UUID != ids[i] {
			t.Fatalf("message %d is %s, want %s", i+1, msg.UUID, ids[i])
		}
		positions[msg.UUID], err = eventstoredb.MessagePosition(msg)
		if err != nil {
			t.Fatal(err)
		}
		msg.Ack()
	}
	fifth := receive(t, msgs)
	fifth.Nack()
	again := receive(t, msgs)
	if again.UUID != ids[4] || string(again.Payload) != "5" {
		t.Fatalf("after a nack got %s (%s), want message 5 again", again.UUID, again.Payload)
	}
	// Batched by three: the third ack was saved, the fourth is pending.
	if pos, ok, _ := checkpoints.Load(ctx, name); !ok || pos != positions[ids[2]] {
		t.Errorf("checkpoint while running = %d (saved %v), want message 3's %d", pos, ok, positions[ids[2]])
	}
	// Close with message 5 still unacked: the pending ack (4) is saved.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if _, open := <-msgs; open {
		t.Error("channel still open after Close")
	}
	if pos, _, _ := checkpoints.Load(ctx, name); pos != positions[ids[3]] {
		t.Errorf("checkpoint after Close = %d, want message 4's %d", pos, positions[ids[3]])
	}
	// The unacked message's context ended with the subscriber.
	if again.Context().Err() == nil {
		t.Error("context of an unacked message still alive after Close")
	}

	// A new subscriber with the same group starts at message 5 and goes
	// on live.
	second := h.subscriber(t, durable)
	defer func() { _ = second.Close() }()
	msgs, err = second.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, publishNumbered(t, pub, topic, 11, 11)...)
	for i := 4; i < 11; i++ {
		msg := receive(t, msgs)
		if msg.UUID != ids[i] {
			t.Fatalf("resumed: message %d is %s (%s), want %s", i+1, msg.UUID, msg.Payload, ids[i])
		}
		msg.Ack()
	}
	assertSilent(t, msgs)

	// Another group, and a subscriber without one, start from the beginning.
	for _, cfg := range []eventstoredb.SubscriberConfig{{ConsumerGroup: "audit-v1", Checkpoints: checkpoints}, {}} {
		other := h.subscriber(t, cfg)
		msgs, err := other.Subscribe(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		if msg := receive(t, msgs); msg.UUID != ids[0] {
			t.Errorf("group %q starts at %s, want the first message", cfg.ConsumerGroup, msg.Payload)
		}
		_ = other.Close()
	}
}

// The server goes away under a running subscription, long enough for the
// client to give up on it, and comes back on the same data: the subscriber
// reconnects and goes on after the last acked message, with nothing lost
// and, as it acks one message at a time, nothing repeated.
func TestWatermillSubscriberSurvivesServerRestart(t *testing.T) {
	h := newESDBHarness(t)
	ctx := context.Background()
	topic := "restart-" + uuid.NewString()
	pub := h.publisher(t)
	ids := publishNumbered(t, pub, topic, 1, 20)

	sub := h.subscriber(t, eventstoredb.SubscriberConfig{ConsumerGroup: "g", Checkpoints: h.checkpoints})
	defer func() { _ = sub.Close() }()
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	// A second subscriber is closed while the server is down.
	other := h.subscriber(t, eventstoredb.SubscriberConfig{})
	otherMsgs, err := other.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	receive(t, otherMsgs).Ack()

	var got []string
	for range 10 {
		msg := receive(t, msgs)
		got = append(got, msg.UUID)
		msg.Ack()
	}
	held := receive(t, msgs) // message 11: in the consumer's hands during the outage

	restarted := make(chan error, 1)
	down := make(chan struct{})
	go func() { restarted <- h.restartSignalling(3*time.Second, down) }()
	select {
	case <-down:
	case err := <-restarted:
		t.Fatalf("the server did not stop: %v", err)
	}

	// While the server is down: publishing fails as unavailable, and
	// closing a subscriber does not hang.
	err = pub.Publish(topic, message.NewMessage(watermill.NewUUID(), []byte("lost")))
	if !errors.Is(err, commands.ErrUnavailable) {
		t.Errorf("publish with the server down: err = %v, want ErrUnavailable", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- other.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(10 * time.Second):
		t.Error("Close hangs while the server is down")
	}

	held.Ack() // acked while the server is down
	got = append(got, held.UUID)
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	// More messages after the restart (the first publish may meet the
	// client that gave up).
	for i := 21; i <= 30; i++ {
		msg := message.NewMessage(watermill.NewUUID(), []byte(strconv.Itoa(i)))
		var err error
		for range 5 {
			if err = pub.Publish(topic, msg); err == nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("publish %d after the restart: %v", i, err)
		}
		ids = append(ids, msg.UUID)
	}
	for len(got) < len(ids) {
		msg := receive(t, msgs)
		got = append(got, msg.UUID)
		msg.Ack()
	}
	if !slices.Equal(got, ids) {
		t.Errorf("received across the restart:\n%v\nwant\n%v", got, ids)
	}
	if h.renewals.n.Load() == 0 {
		t.Error("the client never gave up during a 3 s outage: the test did not cover Conn.Renew")
	}
	assertSilent(t, msgs)
}

// Messages published through the Publisher are stored as documented and
// come back as they were sent.
func TestWatermillPublisherStoredFormat(t *testing.T) {
	h := newESDBHarness(t)
	ctx := context.Background()
	topic := "format-" + uuid.NewString()
	pub := h.publisher(t)

	plain := message.NewMessage("order-42", []byte("not json"))
	plain.Metadata.Set("tenant", "acme")
	plain.Metadata.Set(eventstoredb.MetadataCorrelationID, "corr-1")
	plain.Metadata.Set(eventstoredb.MetadataStream, "stale value of a delivered message")
	typed := message.NewMessage(watermill.NewUUID(), []byte(`{"a":1}`))
	typed.Metadata.Set(eventstoredb.MetadataEventType, "MailQueued")
	upper := message.NewMessage("6BA7B810-9DAD-11D1-80B4-00C04FD430C8", nil)
	if err := pub.Publish(topic, plain, typed, upper); err != nil {
		t.Fatal(err)
	}
	// Publishing the same message again is recognised as a retry.
	if err := pub.Publish(topic, plain, typed, upper); err != nil {
		t.Fatal(err)
	}

	recs := readRaw(t, h.conn.Client(), domain.StreamName(topic))
	if len(recs) != 3 {
		t.Fatalf("stream has %d events, want 3 (a republish is idempotent)", len(recs))
	}
	if want := uuid.NewSHA1(uuid.MustParse("6f1d6a2e-4b47-4a43-9c1e-2f6a0c9b7d15"), []byte("order-42")); recs[0].EventID != want {
		t.Errorf("event id of a non-UUID message = %s, want the UUID v5 %s", recs[0].EventID, want)
	}
	if recs[0].EventType != eventstoredb.DefaultMessageEventType || recs[0].ContentType != "application/octet-stream" {
		t.Errorf("plain message stored as %s / %s", recs[0].EventType, recs[0].ContentType)
	}
	var custom map[string]any
	if err := json.Unmarshal(recs[0].UserMetadata, &custom); err != nil {
		t.Fatal(err)
	}
	if custom["tenant"] != "acme" || custom["correlationId"] != "corr-1" || custom["esdb_stream"] != nil {
		t.Errorf("stored metadata = %s", recs[0].UserMetadata)
	}
	if recs[1].EventID.String() != typed.UUID || recs[1].EventType != "MailQueued" || recs[1].ContentType != "application/json" {
		t.Errorf("typed message stored as %s %s %s", recs[1].EventID, recs[1].EventType, recs[1].ContentType)
	}

	sub := h.subscriber(t, eventstoredb.SubscriberConfig{})
	defer func() { _ = sub.Close() }()
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, sent := range []*message.Message{plain, typed, upper} {
		msg := receive(t, msgs)
		if msg.UUID != sent.UUID || string(msg.Payload) != string(sent.Payload) {
			t.Errorf("received %q %q, want %q %q", msg.UUID, msg.Payload, sent.UUID, sent.Payload)
		}
		for k, v := range sent.Metadata {
			if k == eventstoredb.MetadataStream {
				v = topic
			}
			if msg.Metadata.Get(k) != v {
				t.Errorf("%s: metadata %s = %q, want %q", sent.UUID, k, msg.Metadata.Get(k), v)
			}
		}
		msg.Ack()
	}
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(topic, message.NewMessage(watermill.NewUUID(), nil)); err == nil {
		t.Error("Publish after Close succeeded")
	}
	bad := message.NewMessage(watermill.NewUUID(), nil)
	bad.Metadata.Set(eventstoredb.MetadataRequestTime, "yesterday")
	if err := h.publisher(t).Publish(topic, bad); err == nil {
		t.Error("a request time that is not RFC 3339 was stored")
	}
}
