package eventstoredb_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/orgportal/onboarding/adapters/eventstoredb"
)

// countingCheckpoints counts saves and records what BeforeCheckpoint saw.
type countingCheckpoints struct {
	*eventstoredb.MemoryCheckpoints
	mu    sync.Mutex
	saves int
}

func (c *countingCheckpoints) Save(ctx context.Context, name string, pos uint64) error {
	c.mu.Lock()
	c.saves++
	c.mu.Unlock()
	return c.MemoryCheckpoints.Save(ctx, name, pos)
}

func (c *countingCheckpoints) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.saves
}

// With a large CheckpointEvery and a CheckpointDelay, a burst is saved in
// far fewer saves than events, the hook runs before every save, and the
// last acked position is saved without any further event arriving (an
// idle subscription does not keep its progress unsaved).
func TestWatermillSubscriberCheckpointDelayFlushesWhenIdle(t *testing.T) {
	h := newESDBHarness(t)
	ctx := context.Background()
	topic := "delay-" + uuid.NewString()
	pub := h.publisher(t)
	checkpoints := &countingCheckpoints{MemoryCheckpoints: eventstoredb.NewMemoryCheckpoints()}
	name := eventstoredb.CheckpointName("users-v1", topic)
	var hookMu sync.Mutex
	var hooks, hookFails int
	failHook := true
	sub := h.subscriber(t, eventstoredb.SubscriberConfig{
		ConsumerGroup: "users-v1", Checkpoints: checkpoints, CheckpointEvery: 1000, CheckpointDelay: 50 * time.Millisecond,
		BeforeCheckpoint: func(_ context.Context, got string) error {
			hookMu.Lock()
			defer hookMu.Unlock()
			if got != topic {
				t.Errorf("BeforeCheckpoint topic %q, want %q", got, topic)
			}
			hooks++
			if failHook {
				// The first attempt fails: nothing may be saved then.
				failHook = false
				hookFails++
				return errors.New("not yet")
			}
			return nil
		},
	})
	defer func() { _ = sub.Close() }()
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	ids := publishNumbered(t, pub, topic, 1, n)
	var last uint64
	for i := range n {
		msg := receive(t, msgs)
		if msg.UUID != ids[i] {
			t.Fatalf("message %d is %s, want %s", i+1, msg.UUID, ids[i])
		}
		last, err = eventstoredb.MessagePosition(msg)
		if err != nil {
			t.Fatal(err)
		}
		msg.Ack()
	}
	// No event comes any more: the pending position is saved by the timer
	// (after the failed hook, by its retry).
	waitFor(t, fmt.Sprintf("checkpoint at the last ack (%d)", last), func() bool {
		pos, ok, _ := checkpoints.Load(ctx, name)
		return ok && pos == last
	})
	saves := checkpoints.count()
	if saves >= n {
		t.Errorf("%d saves for %d events, want them batched", saves, n)
	}
	hookMu.Lock()
	defer hookMu.Unlock()
	if hookFails != 1 || hooks != saves+hookFails {
		t.Errorf("hook ran %d times (%d failed) for %d saves, want once before each save plus the failed one", hooks, hookFails, saves)
	}
}

// announcingCheckpoints is countingCheckpoints that is also told the
// positions whose save is put off.
type announcingCheckpoints struct {
	countingCheckpoints
	announced map[string]uint64
	hooked    uint64 // the position BeforeCheckpoint last ran for
	early     int    // announcements the hook had not run for
}

func (a *announcingCheckpoints) Announce(name string, pos uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.announced[name] = max(a.announced[name], pos)
	if a.hooked < pos {
		a.early++
	}
}

func (a *announcingCheckpoints) get(name string) (announced uint64, early int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.announced[name], a.early
}

// With CheckpointSaveEvery, the checkpoints taken between two saves are
// only announced to a store that can be told (after BeforeCheckpoint, as
// a save would be): the first checkpoint is saved, the later ones wait
// for the timer, or for the subscription's end, which saves at once.
func TestWatermillSubscriberCheckpointSaveEveryAnnouncesBetweenSaves(t *testing.T) {
	h := newESDBHarness(t)
	ctx := context.Background()
	pub := h.publisher(t)
	// run acks events of a new topic one by one, each after the last one
	// was checkpointed (saved or announced), and returns the last
	// position.
	var hookFails atomic.Bool
	run := func(t *testing.T, saveEvery time.Duration) (*announcingCheckpoints, *eventstoredb.Subscriber, string, uint64, <-chan *message.Message) {
		topic := "save-every-" + uuid.NewString()
		store := &announcingCheckpoints{countingCheckpoints: countingCheckpoints{MemoryCheckpoints: eventstoredb.NewMemoryCheckpoints()}, announced: map[string]uint64{}}
		name := eventstoredb.CheckpointName("users-v1", topic)
		var acked uint64
		sub := h.subscriber(t, eventstoredb.SubscriberConfig{
			ConsumerGroup: "users-v1", Checkpoints: store, CheckpointEvery: 1000, CheckpointDelay: time.Millisecond,
			CheckpointSaveEvery: saveEvery,
			BeforeCheckpoint: func(context.Context, string) error {
				if hookFails.Load() {
					return errors.New("writes failed")
				}
				store.mu.Lock()
				defer store.mu.Unlock()
				store.hooked = acked
				return nil
			},
		})
		msgs, err := sub.Subscribe(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			// One at a time: with none waiting, each ack is checkpointed
			// at once (a waiting one would be delivered first).
			publishNumbered(t, pub, topic, i+1, i+1)
			msg := receive(t, msgs)
			pos, err := eventstoredb.MessagePosition(msg)
			if err != nil {
				t.Fatal(err)
			}
			store.mu.Lock()
			acked = pos
			store.mu.Unlock()
			msg.Ack()
			waitFor(t, "the checkpoint of the last ack", func() bool {
				announced, _ := store.get(name)
				saved, _, _ := store.Load(ctx, name)
				return max(announced, saved) == pos
			})
		}
		return store, sub, name, acked, msgs
	}

	t.Run("until the subscription ends", func(t *testing.T) {
		store, sub, name, last, _ := run(t, time.Hour)
		saved, _, _ := store.Load(ctx, name)
		announced, early := store.get(name)
		if store.count() != 1 || saved >= last || announced != last || early != 0 {
			t.Fatalf("%d saves up to %d, announced %d (%d before the hook), last ack %d; want the first checkpoint saved and the others announced after the hook",
				store.count(), saved, announced, early, last)
		}
		if err := sub.Close(); err != nil {
			t.Fatal(err)
		}
		if saved, _, _ := store.Load(ctx, name); saved != last || store.count() != 2 {
			t.Errorf("after Close: saved %d in %d saves, want %d in 2", saved, store.count(), last)
		}
	})
	t.Run("leaving after failed writes", func(t *testing.T) {
		// The writes of the events after the last announced checkpoint
		// fail: on its way out the subscription saves that one, whose
		// writes were done, not the last acked position.
		store, sub, name, last, msgs := run(t, time.Hour)
		hookFails.Store(true)
		defer hookFails.Store(false)
		publishNumbered(t, pub, strings.TrimPrefix(name, "users-v1/"), 11, 11)
		receive(t, msgs).Ack()
		if err := sub.Close(); err != nil {
			t.Fatal(err)
		}
		if saved, _, _ := store.Load(ctx, name); saved != last {
			t.Errorf("after Close with failed writes: saved %d, want %d, the last announced", saved, last)
		}
	})
	t.Run("until the timer", func(t *testing.T) {
		store, _, name, last, _ := run(t, 50*time.Millisecond)
		waitFor(t, "the save of the last announced checkpoint", func() bool {
			saved, _, _ := store.Load(ctx, name)
			return saved == last
		})
	})
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
