package eventstoredb_test

import (
	"context"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/eventstoredb"
	"github.com/orgportal/onboarding/commands"
)

// OnCaughtUp tells a consumer (a rebuild) that it has seen everything the
// server held, and how far that is: after the last acked event, never
// before it is acked.
func TestWatermillSubscriberReportsCaughtUp(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream := testStream("caughtup")
	last, err := e.store.Append(ctx, stream, commands.NoStream, testMeta(), revoked(1), revoked(2), revoked(3))
	if err != nil {
		t.Fatal(err)
	}
	type report struct {
		topic    string
		position uint64
		ok       bool
	}
	reports := make(chan report, 10)
	sub, err := eventstoredb.NewSubscriber(e.conn, eventstoredb.SubscriberConfig{
		Events: &eventstoredb.EventFilter{Types: []string{"InvitationRevoked"}}, Logger: quietLogger(),
		OnCaughtUp: func(topic string, position uint64, ok bool) {
			reports <- report{topic, position, ok}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	msgs, err := sub.Subscribe(ctx, "rebuild")
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for range 3 {
		msg := receive(t, msgs)
		pos, err := eventstoredb.MessagePosition(msg)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, pos)
		select {
		case r := <-reports:
			t.Fatalf("caught up reported at %d before the %d-th event was acked", r.position, len(got))
		default:
		}
		msg.Ack()
	}
	select {
	case r := <-reports:
		if r.topic != "rebuild" || !r.ok || r.position != uint64(last) || r.position != got[2] {
			t.Errorf("caught up: %+v, want topic rebuild at the last event's position %d", r, last)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no caught-up report")
	}
}

// A subscription to nothing reports caught-up with ok false.
func TestWatermillSubscriberReportsCaughtUpWhenEmpty(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reports := make(chan bool, 1)
	sub, err := eventstoredb.NewSubscriber(e.conn, eventstoredb.SubscriberConfig{
		Events: &eventstoredb.EventFilter{Types: []string{"NothingLikeThis"}}, Logger: quietLogger(),
		OnCaughtUp: func(_ string, _ uint64, ok bool) {
			select {
			case reports <- ok:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, err := sub.Subscribe(ctx, "empty"); err != nil {
		t.Fatal(err)
	}
	select {
	case ok := <-reports:
		if ok {
			t.Error("caught up with ok=true, but nothing was delivered")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no caught-up report")
	}
}
