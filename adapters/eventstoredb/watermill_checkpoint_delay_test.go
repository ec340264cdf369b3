package eventstoredb_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

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
	deadline := time.Now().Add(10 * time.Second)
	for {
		pos, ok, _ := checkpoints.Load(ctx, name)
		if ok && pos == last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint %d (saved %v) 10 s after the last ack, want %d", pos, ok, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
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
