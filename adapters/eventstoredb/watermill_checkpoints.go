package eventstoredb

import (
	"context"
	"sync"
)

// CheckpointStore keeps how far each durable subscription has got: the
// commit position of the last event its consumer acknowledged. The
// Subscriber resumes after it (exclusive), using it as both commit and
// prepare position. That is exact as long as no explicit (legacy TCP)
// transactions were written to the store, which neither this product nor
// the gRPC client can do (see kurrent-io/KurrentDB#4975). The Mongo
// adapter's CheckpointStore has this shape.
//
// Save may be called by several subscribers of the same name at once (two
// replicas before a lease settles, a test's competing consumers); each of
// them processes the events in order, so keeping the highest position is
// safe, and an implementation should ignore a Save that would move the
// checkpoint backwards.
type CheckpointStore interface {
	// Load returns the saved commit position; ok is false when there is none.
	Load(ctx context.Context, name string) (position uint64, ok bool, err error)
	// Save records position as that of the last processed event.
	Save(ctx context.Context, name string, position uint64) error
}

// CheckpointAnnouncer is a CheckpointStore that can also be told a
// position before it is saved: the subscription's handlers are done with
// the events up to it (BeforeCheckpoint included), and only the save is
// put off (SubscriberConfig.CheckpointSaveEvery). Whoever learns progress
// from the store in the same process, such as a reader that waits for
// its writes, can then count it at once.
type CheckpointAnnouncer interface {
	CheckpointStore
	// Announce records position as reached by the subscription name. It
	// must not block on I/O: it runs between deliveries.
	Announce(name string, position uint64)
}

// MemoryCheckpoints is a CheckpointStore in memory, for tests and for
// consumers that may start over after a restart.
type MemoryCheckpoints struct {
	mu  sync.Mutex
	pos map[string]uint64
}

// NewMemoryCheckpoints returns an empty in-memory checkpoint store.
func NewMemoryCheckpoints() *MemoryCheckpoints {
	return &MemoryCheckpoints{pos: map[string]uint64{}}
}

// Load implements CheckpointStore.
func (m *MemoryCheckpoints) Load(_ context.Context, name string) (uint64, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pos[name]
	return p, ok, nil
}

// Save implements CheckpointStore; it keeps the highest position.
func (m *MemoryCheckpoints) Save(_ context.Context, name string, position uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.pos[name]; !ok || position > cur {
		m.pos[name] = position
	}
	return nil
}
