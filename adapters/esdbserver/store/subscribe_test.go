package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// recorder is a Subscriber that hands what it receives to a channel.
type recorder struct {
	ch chan any
}

type caughtUp struct{}
type checkpoint uint64

func newRecorder() *recorder { return &recorder{ch: make(chan any, 1<<16)} }

func (r *recorder) Event(rec *Record) error     { r.ch <- rec.clone(); return nil }
func (r *recorder) Checkpoint(pos uint64) error { r.ch <- checkpoint(pos); return nil }
func (r *recorder) CaughtUp() error             { r.ch <- caughtUp{}; return nil }

func TestSubscribeAllCatchUpThenLive(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	for i := range 1200 { // more than two pages of catch-up
		mustAppend(t, s, fmt.Sprintf("sub-%d", i%7), any_, ev(fmt.Sprintf("T%d", i%2)))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := newRecorder()
	done := make(chan error, 1)
	go func() {
		done <- s.SubscribeAll(ctx, AllSubscription{
			Filter:             func(r *Record) bool { return r.Type == "T0" },
			CheckpointInterval: 32,
		}, rec)
	}()

	var last uint64
	var lastCheckpoint checkpoint
	events, checkpoints := 0, 0
	sawCaughtUp := false
	for !sawCaughtUp {
		switch m := (<-rec.ch).(type) {
		case Record:
			if m.Type != "T0" || m.Position <= last {
				t.Fatalf("event %+v after position %d", m, last)
			}
			last = m.Position
			events++
		case checkpoint:
			if m < lastCheckpoint {
				t.Fatalf("checkpoint went back: %d after %d", m, lastCheckpoint)
			}
			lastCheckpoint = m
			checkpoints++
		case caughtUp:
			sawCaughtUp = true
		}
	}
	if events != 600 {
		t.Fatalf("caught up after %d events, want 600", events)
	}
	if checkpoints < 1200/32 || uint64(lastCheckpoint) != s.Head() {
		t.Fatalf("%d checkpoints, last %d (head %d)", checkpoints, lastCheckpoint, s.Head())
	}

	live := mustAppend(t, s, "sub-live", any_, ev("T0"))
	for {
		if m, ok := (<-rec.ch).(Record); ok {
			if m.Position != live.Position {
				t.Fatalf("live event at %d, want %d", m.Position, live.Position)
			}
			break
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("subscription ended with %v", err)
	}
}

func TestSubscribeAllResumesExclusively(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	var positions []uint64
	for range 5 {
		positions = append(positions, mustAppend(t, s, "r", any_, ev("A")).Position)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := newRecorder()
	go s.SubscribeAll(ctx, AllSubscription{After: positions[2]}, rec)
	first := (<-rec.ch).(Record)
	if first.Position != positions[3] {
		t.Fatalf("resumed at %d, want %d", first.Position, positions[3])
	}
}

func TestSubscribeStreamDeliversTombstoneThenFails(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	mustAppend(t, s, "ts", noStream, ev("A"), ev("A"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := newRecorder()
	done := make(chan error, 1)
	go func() { done <- s.SubscribeStream(ctx, "ts", 1, rec) }() // from revision 0, exclusive
	if m := (<-rec.ch).(Record); m.Revision != 1 {
		t.Fatalf("first event revision %d, want 1", m.Revision)
	}
	if _, ok := (<-rec.ch).(caughtUp); !ok {
		t.Fatal("want caught up after the backlog")
	}
	if _, err := s.Tombstone(context.Background(), "ts", any_); err != nil {
		t.Fatal(err)
	}
	if m := (<-rec.ch).(Record); m.Type != TypeStreamDeleted {
		t.Fatalf("want the tombstone, got %+v", m)
	}
	var del *StreamDeletedError
	if err := <-done; !errors.As(err, &del) {
		t.Fatalf("subscription ended with %v, want stream deleted", err)
	}
}

func TestSubscriptionEndsWhenStoreCloses(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	done := make(chan error, 1)
	go func() { done <- s.SubscribeAll(context.Background(), AllSubscription{}, rec) }()
	<-rec.ch // caught up on the empty store
	s.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("subscription ended with %v, want ErrClosed", err)
	}
}
