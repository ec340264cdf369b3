package eventstoredb_test

import (
	"context"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/orgportal/onboarding/adapters/eventstoredb"
)

// inFlightFixture appends events of a type only this test subscribes to
// (by prefix) and reads back where they landed.
type inFlightFixture struct {
	t      *testing.T
	h      *esdbHarness
	prefix string
	pos    map[string]uint64 // event name → commit position
}

func newInFlightFixture(t *testing.T, h *esdbHarness) *inFlightFixture {
	return &inFlightFixture{t: t, h: h, prefix: "Par" + uuid.NewString()[:8], pos: map[string]uint64{}}
}

// append writes event name to stream (a name of this test).
func (f *inFlightFixture) append(stream, name string) {
	f.t.Helper()
	res, err := f.h.conn.Client().AppendToStream(context.Background(), f.prefix+"-"+stream, esdb.AppendToStreamOptions{},
		esdb.EventData{EventID: uuid.New(), EventType: f.prefix + "Happened", ContentType: esdb.ContentTypeJson, Data: []byte(`{"name":"` + name + `"}`)})
	if err != nil {
		f.t.Fatal(err)
	}
	f.pos[name] = res.CommitPosition
}

func (f *inFlightFixture) subscribe(cfg eventstoredb.SubscriberConfig) (<-chan *message.Message, *eventstoredb.MemoryCheckpoints, string) {
	f.t.Helper()
	checkpoints := eventstoredb.NewMemoryCheckpoints()
	cfg.Events = &eventstoredb.EventFilter{Prefixes: []string{f.prefix}}
	cfg.ConsumerGroup, cfg.Checkpoints = "mail-test", checkpoints
	sub := f.h.subscriber(f.t, cfg)
	f.t.Cleanup(func() { _ = sub.Close() })
	msgs, err := sub.Subscribe(context.Background(), f.prefix)
	if err != nil {
		f.t.Fatal(err)
	}
	return msgs, checkpoints, eventstoredb.CheckpointName("mail-test", f.prefix)
}

// name is the event name a message carries.
func name(msg *message.Message) string {
	p := string(msg.Payload)
	return p[len(`{"name":"`) : len(p)-2]
}

// expect receives the next message and checks which event it is.
func (f *inFlightFixture) expect(msgs <-chan *message.Message, want string) *message.Message {
	f.t.Helper()
	msg := receive(f.t, msgs)
	if got := name(msg); got != want {
		f.t.Fatalf("delivered %s, want %s", got, want)
	}
	return msg
}

// checkpointReaches waits until the checkpoint is at event want.
func (f *inFlightFixture) checkpointReaches(checkpoints *eventstoredb.MemoryCheckpoints, cp, want string) {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pos, ok, _ := checkpoints.Load(context.Background(), cp)
		if ok && pos == f.pos[want] {
			return
		}
		if ok && pos > f.pos[want] {
			f.t.Fatalf("checkpoint at %d, beyond %s (%d)", pos, want, f.pos[want])
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("checkpoint at %d (saved %v) after 10 s, want %s (%d)", pos, ok, want, f.pos[want])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// With MaxInFlight above one, events of different streams are with the
// handler at once, the next event of a busy stream waits (and what comes
// after it with it), and the checkpoint never passes an event that is not
// acked, whatever was acked after it.
func TestWatermillSubscriberInFlightAcrossStreams(t *testing.T) {
	h := newESDBHarness(t)
	f := newInFlightFixture(t, h)
	f.append("a", "a1")
	f.append("b", "b1")
	f.append("a", "a2")
	f.append("c", "c1")
	msgs, checkpoints, cp := f.subscribe(eventstoredb.SubscriberConfig{MaxInFlight: 3})

	a1 := f.expect(msgs, "a1")
	b1 := f.expect(msgs, "b1") // while a1 is not acked
	assertSilent(t, msgs)      // a2 waits for a1, c1 behind it
	b1.Ack()
	assertSilent(t, msgs)
	if pos, ok, _ := checkpoints.Load(context.Background(), cp); ok {
		t.Fatalf("checkpoint saved at %d with a1 (%d) not acked", pos, f.pos["a1"])
	}
	a1.Ack()
	a2 := f.expect(msgs, "a2")
	c1 := f.expect(msgs, "c1")
	f.checkpointReaches(checkpoints, cp, "b1")

	// A nacked event comes again by itself; the checkpoint waits for it.
	a2.Nack()
	a2 = f.expect(msgs, "a2")
	c1.Ack()
	assertSilent(t, msgs)
	if pos, _, _ := checkpoints.Load(context.Background(), cp); pos != f.pos["b1"] {
		t.Fatalf("checkpoint at %d with a2 not acked, want b1's %d", pos, f.pos["b1"])
	}
	a2.Ack()
	f.checkpointReaches(checkpoints, cp, "c1")

	// Live events too, and one stream's stay in order.
	f.append("d", "d1")
	f.append("d", "d2")
	f.append("e", "e1")
	d1 := f.expect(msgs, "d1")
	assertSilent(t, msgs)
	d1.Ack()
	f.expect(msgs, "d2").Ack()
	f.expect(msgs, "e1").Ack()
	f.checkpointReaches(checkpoints, cp, "e1")
}

// MaxInFlight bounds the events with the handler.
func TestWatermillSubscriberInFlightLimit(t *testing.T) {
	h := newESDBHarness(t)
	f := newInFlightFixture(t, h)
	for _, s := range []string{"a", "b", "c", "d", "e"} {
		f.append(s, s)
	}
	msgs, checkpoints, cp := f.subscribe(eventstoredb.SubscriberConfig{MaxInFlight: 2, CheckpointEvery: 100, CheckpointDelay: 20 * time.Millisecond})
	a := f.expect(msgs, "a")
	b := f.expect(msgs, "b")
	assertSilent(t, msgs)
	b.Ack()
	c := f.expect(msgs, "c")
	assertSilent(t, msgs)
	a.Ack()
	d := f.expect(msgs, "d")
	f.checkpointReaches(checkpoints, cp, "b") // by the delay, with c and d in flight
	d.Ack()
	e := f.expect(msgs, "e")
	c.Ack()
	e.Ack()
	f.checkpointReaches(checkpoints, cp, "e")
}
