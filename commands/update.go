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
// position of what it wrote (0 when the decision recorded nothing).
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
			return domain.Fold(ownCopy(state), evolve, events...), pos, nil
		}
		if domain.CodeOf(err) != CodeConcurrentChange || attempt == maxAttempts {
			return state, 0, err
		}
		if err := pause(ctx, attempt); err != nil {
			return state, 0, err
		}
	}
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
