package commands

import (
	"container/list"
	"context"
	"errors"
	"sync"

	"github.com/orgportal/onboarding/domain"
)

// Defaults of the folded-state cache (Config.StateCacheStreams and
// Config.StateCacheEvents).
const (
	DefaultStateCacheStreams = 1024
	// DefaultStateCacheEvents bounds the events the cached states were
	// folded from, all streams together: a roster costs a few hundred
	// bytes a member, so this keeps the cache near 100 MB at worst.
	DefaultStateCacheEvents = 262_144
)

// snapshotter is a state that can copy itself into one Evolve may change
// in place. Only such states are cached: a cached state is shared by every
// request that loads its stream, so folding new events must start from a
// copy. domain.OrganizationState is one: its stream is the one that grows
// with every member, and every administrative request loads it. The other
// aggregates' streams hold a few events each; reading them is cheap.
type snapshotter[S any] interface{ Clone() S }

// cachingStore is the event store as the handlers see it: the port, plus
// the folded states of the streams read through it. The cache only saves
// reading and folding what was read before: every load still asks the
// store for the events after the cached revision, so a load sees every
// write that came before it, by this process or any other, and the
// revision an append expects is still the one of what was loaded.
type cachingStore struct {
	EventStore
	states *stateCache
}

// loadCached is load for states that can be cached. The state it returns
// may be shared with other requests: read it, decide on it, but fold onto
// a Clone (update does).
func loadCached[S any](ctx context.Context, cs *cachingStore, stream domain.StreamName, evolve func(S, domain.Event) S) (S, Revision, error) {
	var zero S
	if entry, ok := cs.states.get(stream); ok {
		if base, ok := entry.state.(S); ok {
			loaded, err := cs.LoadFrom(ctx, stream, entry.revision)
			switch {
			case err == nil && len(loaded.Events) == 0:
				return base, entry.revision, nil
			case err == nil:
				state := domain.Fold(any(base).(snapshotter[S]).Clone(), evolve, loaded.Events...)
				cs.states.put(stream, state, loaded.Revision)
				return state, loaded.Revision, nil
			case !errors.Is(err, ErrHistoryChanged):
				return zero, NoStream, err
			}
		}
		cs.states.drop(stream)
	}
	loaded, err := cs.Load(ctx, stream)
	if err != nil {
		return zero, NoStream, err
	}
	state := domain.Fold(zero, evolve, loaded.Events...)
	if loaded.Revision != NoStream {
		cs.states.put(stream, state, loaded.Revision)
	}
	return state, loaded.Revision, nil
}

// stateCache keeps folded states by stream, least recently used first out,
// within a number of streams and a number of events folded (a state's
// weight is its revision + 1, which bounds the size of what it holds).
// A stored state is never modified: a newer one replaces it.
type stateCache struct {
	maxStreams int
	maxEvents  int64

	mu       sync.Mutex
	events   int64
	order    *list.List // of *cachedState, most recently used first
	byStream map[domain.StreamName]*list.Element
}

type cachedState struct {
	stream   domain.StreamName
	state    any
	revision Revision
}

func (c *cachedState) weight() int64 { return int64(c.revision) + 1 }

func newStateCache(maxStreams int, maxEvents int64) *stateCache {
	return &stateCache{maxStreams: maxStreams, maxEvents: maxEvents, order: list.New(),
		byStream: make(map[domain.StreamName]*list.Element)}
}

func (c *stateCache) get(stream domain.StreamName) (cachedState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byStream[stream]
	if !ok {
		return cachedState{}, false
	}
	c.order.MoveToFront(el)
	return *el.Value.(*cachedState), true
}

// put stores state as of revision unless a state at least as new is there
// already (concurrent loads may finish in any order).
func (c *stateCache) put(stream domain.StreamName, state any, revision Revision) {
	entry := &cachedState{stream: stream, state: state, revision: revision}
	if entry.weight() > c.maxEvents {
		c.drop(stream) // too big to keep; what is there is older
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byStream[stream]; ok {
		old := el.Value.(*cachedState)
		if old.revision >= revision {
			return
		}
		c.events += entry.weight() - old.weight()
		el.Value = entry
		c.order.MoveToFront(el)
	} else {
		c.byStream[stream] = c.order.PushFront(entry)
		c.events += entry.weight()
	}
	for c.order.Len() > c.maxStreams || c.events > c.maxEvents {
		c.remove(c.order.Back())
	}
}

func (c *stateCache) drop(stream domain.StreamName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byStream[stream]; ok {
		c.remove(el)
	}
}

func (c *stateCache) remove(el *list.Element) {
	entry := c.order.Remove(el).(*cachedState)
	delete(c.byStream, entry.stream)
	c.events -= entry.weight()
}

// StateCacheStats tells how full the folded-state cache is.
type StateCacheStats struct {
	Streams int
	Events  int64
}

// StateCacheStats reports the folded-state cache's size; zero when the
// handlers run without one.
func (h *Handlers) StateCacheStats() StateCacheStats {
	cs, ok := h.store.(*cachingStore)
	if !ok {
		return StateCacheStats{}
	}
	cs.states.mu.Lock()
	defer cs.states.mu.Unlock()
	return StateCacheStats{Streams: cs.states.order.Len(), Events: cs.states.events}
}
