package commands

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/orgportal/onboarding/domain"
)

// maxAttempts bounds how often one step is decided again after losing an
// optimistic-concurrency race. Every retry reloads and decides anew, so
// it can only turn into the answer the winner's write implies (already
// invited, already accepted, …); three attempts cover every race seen in
// practice, and a caller that still loses gets a 409 it may retry.
const maxAttempts = 3

// load folds one stream into its aggregate state. States that can be
// cached (see snapshotter) come from the handlers' cache when store has
// one, brought up to date with the events written since: such a state may
// be shared, so it is read-only to the caller.
func load[S any](ctx context.Context, store EventStore, stream domain.StreamName, evolve func(S, domain.Event) S) (S, Revision, error) {
	var zero S
	if cs, ok := store.(*cachingStore); ok {
		if _, ok := any(zero).(snapshotter[S]); ok {
			return loadCached(ctx, cs, stream, evolve)
		}
	}
	loaded, err := store.Load(ctx, stream)
	if err != nil {
		return zero, NoStream, err
	}
	return domain.Fold(zero, evolve, loaded.Events...), loaded.Revision, nil
}

// update is one step of a use case: load a stream, decide, append with the
// revision that was loaded. When another writer got there first it starts
// over, up to maxAttempts. It returns the state after the step and the
// position of what it wrote (0 when the decision recorded nothing); like a
// loaded state, that state may be shared (see load): read it only.
// decide may do I/O of its own (look at another stream) but must not write.
func update[S any](ctx context.Context, store EventStore, stream domain.StreamName, evolve func(S, domain.Event) S,
	meta Metadata, decide func(S) ([]domain.Event, error),
) (S, Position, error) {
	for attempt := 1; ; attempt++ {
		state, revision, err := load(ctx, store, stream, evolve)
		if err != nil {
			return state, 0, err
		}
		events, err := decide(state)
		if err != nil || len(events) == 0 {
			return state, 0, err
		}
		pos, err := store.Append(ctx, stream, revision, meta, events...)
		if err == nil {
			return appended(store, stream, evolve, state, revision, events), pos, nil
		}
		if domain.CodeOf(err) != CodeConcurrentChange || attempt == maxAttempts {
			return state, 0, err
		}
		if err := pause(ctx, attempt); err != nil {
			return state, 0, err
		}
	}
}

// updateNew is update for a stream that most likely does not exist yet:
// one named after an id this process has just generated, or one that
// exists only for the addresses that were invited before. The first
// attempt decides on the empty state and appends with NoStream without
// reading the stream: the event store checks that guess as it checks any
// expected revision. If the stream exists after all, that append fails
// with a conflict and update takes over (reads, decides again, appends
// with the revision it read), so the outcome is the one update would have
// given, at the cost of one refused append.
func updateNew[S any](ctx context.Context, store EventStore, stream domain.StreamName, evolve func(S, domain.Event) S,
	meta Metadata, decide func(S) ([]domain.Event, error),
) (S, Position, error) {
	var empty S
	events, err := decide(empty)
	if err != nil || len(events) == 0 {
		// Nothing to write to a missing stream: the answer may depend on
		// what the stream holds, so read it.
		return update(ctx, store, stream, evolve, meta, decide)
	}
	pos, err := store.Append(ctx, stream, NoStream, meta, events...)
	if err == nil {
		return appended(store, stream, evolve, empty, NoStream, events), pos, nil
	}
	if domain.CodeOf(err) != CodeConcurrentChange {
		return empty, 0, err
	}
	return update(ctx, store, stream, evolve, meta, decide)
}

// appended returns the state after events were appended to stream at
// revision. States that can be cached are cached at the stream's new
// revision (the append succeeded with that expected revision, so the
// stream's history is what was loaded plus events), so that the next load
// reads only what others write after this.
func appended[S any](store EventStore, stream domain.StreamName, evolve func(S, domain.Event) S, state S, revision Revision, events []domain.Event) S {
	next := domain.Fold(ownCopy(state), evolve, events...)
	if cs, ok := store.(*cachingStore); ok {
		if _, ok := any(next).(snapshotter[S]); ok {
			cs.states.put(stream, next, revision+Revision(len(events)))
		}
	}
	return next
}

// ownCopy returns a state Evolve may change: a copy of one that may be
// shared (a cached state), the state itself otherwise.
func ownCopy[S any](state S) S {
	if s, ok := any(state).(snapshotter[S]); ok {
		return s.Clone()
	}
	return state
}

// pause waits a short, jittered time so that racing writers spread out.
func pause(ctx context.Context, attempt int) error {
	d := time.Duration(attempt)*5*time.Millisecond + rand.N(10*time.Millisecond)
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
