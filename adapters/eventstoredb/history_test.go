package eventstoredb_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/orgportal/onboarding/adapters/eventstoredb"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

type visited struct {
	event domain.Event
	meta  commands.Metadata
	pos   commands.Position
}

func history(t *testing.T, s *eventstoredb.Store, stream domain.StreamName) []visited {
	t.Helper()
	var out []visited
	err := s.History(context.Background(), stream, func(e domain.Event, m commands.Metadata, p commands.Position) error {
		out = append(out, visited{e, m, p})
		return nil
	})
	if err != nil {
		t.Fatalf("history of %s: %v", stream, err)
	}
	return out
}

// History hands out every event in stream order with the metadata it was
// written with and the commit position the server gave it, across batch
// boundaries.
func TestHistoryVisitsEventsWithMetadataAndPosition(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	stream := testStream("history")
	const n = 600 // more than two batches
	metas := make([]commands.Metadata, 0, n)
	for first := 0; first < n; first += 100 {
		meta := testMeta()
		meta.RequestTime = meta.RequestTime.Add(time.Duration(first) * time.Minute)
		events := make([]domain.Event, 100)
		for i := range events {
			events[i] = revoked(first + i)
			metas = append(metas, meta)
		}
		expected := commands.Revision(first - 1)
		if first == 0 {
			expected = commands.NoStream
		}
		if _, err := e.store.Append(ctx, stream, expected, meta, events...); err != nil {
			t.Fatal(err)
		}
	}

	got := history(t, e.store, stream)
	raw := readRaw(t, e.client, stream)
	if len(got) != n || len(raw) != n {
		t.Fatalf("visited %d events, raw read %d, want %d", len(got), len(raw), n)
	}
	for i, v := range got {
		if v.event != revoked(i) {
			t.Fatalf("event %d = %+v, want %+v", i, v.event, revoked(i))
		}
		want := metas[i]
		if v.meta.Actor != want.Actor || v.meta.CorrelationID != want.CorrelationID ||
			v.meta.CausationID != want.CausationID || !v.meta.RequestTime.Equal(want.RequestTime) {
			t.Fatalf("event %d: metadata %+v, want %+v", i, v.meta, want)
		}
		if uint64(v.pos) != raw[i].Position.Commit || v.pos == 0 {
			t.Fatalf("event %d: position %d, want the stored %d", i, v.pos, raw[i].Position.Commit)
		}
		if i > 0 && v.pos <= got[i-1].pos {
			t.Fatalf("event %d: position %d not after %d", i, v.pos, got[i-1].pos)
		}
	}
}

func TestHistoryOfMissingStreamVisitsNothing(t *testing.T) {
	e := newEnv(t)
	if got := history(t, e.store, testStream("missing")); len(got) != 0 {
		t.Errorf("visited %d events of a missing stream", len(got))
	}
}

// The visitor's error stops the walk and comes back unchanged, so that a
// caller can stop early with a sentinel.
func TestHistoryStopsOnTheVisitorsError(t *testing.T) {
	e := newEnv(t)
	stream := testStream("stop")
	if _, err := e.store.Append(context.Background(), stream, commands.NoStream, testMeta(), revoked(1), revoked(2), revoked(3)); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("seen enough")
	calls := 0
	err := e.store.History(context.Background(), stream, func(domain.Event, commands.Metadata, commands.Position) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 2 {
		t.Errorf("err %v after %d calls, want the visitor's error after 2", err, calls)
	}
}

// An event this build cannot decode fails the read: a past with a hole in
// it would be a wrong answer.
func TestHistoryFailsOnAnUndecodableEvent(t *testing.T) {
	e := newEnv(t)
	stream := testStream("unknown")
	if _, err := e.store.Append(context.Background(), stream, commands.NoStream, testMeta(), revoked(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.AppendToStream(context.Background(), string(stream), esdb.AppendToStreamOptions{},
		esdb.EventData{EventID: uuid.New(), EventType: "FromTheFuture", ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	calls := 0
	err := e.store.History(context.Background(), stream, func(domain.Event, commands.Metadata, commands.Position) error {
		calls++
		return nil
	})
	if !errors.Is(err, eventstoredb.ErrUnknownEventType) || calls != 0 {
		t.Errorf("err %v after %d visits, want ErrUnknownEventType before any visit", err, calls)
	}
}

func TestHistoryWithTheServerDownIsUnavailable(t *testing.T) {
	e := newEnv(t)
	stream := testStream("down")
	if _, err := e.store.Append(context.Background(), stream, commands.NoStream, testMeta(), revoked(1)); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := e.store.History(ctx, stream, func(domain.Event, commands.Metadata, commands.Position) error { return nil })
	if !errors.Is(err, commands.ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
}
