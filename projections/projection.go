package projections

import (
	"context"
	"errors"
	"time"

	"github.com/orgportal/onboarding/adapters/eventstoredb"
	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// Envelope is one decoded event as a projection sees it: the domain event,
// its metadata, and where it sits in $all.
type Envelope struct {
	EventID string
	Type    string
	Stream  string
	// Position is the event's commit position in $all: what checkpoints
	// record and what each read-model document remembers.
	Position uint64
	// Created is when the event store wrote the event.
	Created time.Time
	Event   domain.Event
	Meta    commands.Metadata
}

// At is when the event happened for the people involved: the time of the
// request that caused it, or the store's timestamp when that is missing.
func (e Envelope) At() time.Time {
	if !e.Meta.RequestTime.IsZero() {
		return e.Meta.RequestTime.UTC()
	}
	return e.Created.UTC()
}

// Projection is a read model the Runner keeps up to date and can rebuild.
// Its data lives in versioned collections "<Base>_v<N>" (plus any side
// collections of the same version); mongodb.Versions says which version
// serves reads.
type Projection interface {
	// Name is the handler name and the projection's durable identity: its
	// lease is Name and its checkpoint of version N is
	// CheckpointName(Name, Base, N). Renaming a projection starts it over
	// from the beginning of $all (into the active version, where idempotent
	// apply skips what is there already).
	Name() string
	// Base is the collection base name of the version registry.
	Base() string
	// Handles reports whether events of this type change the read model.
	// The runner delivers every domain event, so that the checkpoint
	// passes the positions of the others too (a consistency token is the
	// position of whatever event a command wrote last), but only hands
	// these to Apply.
	Handles(eventType string) bool
	// Prepare creates the collections and indexes of version for live
	// writes. Calling it again is harmless.
	Prepare(ctx context.Context, version int) error
	// Live returns the writer of version for one lease term: events in
	// commit order, one at a time, each at least once. Apply must be
	// idempotent (each document remembers the last position applied to
	// it).
	Live(version int) Applier
	// Rebuild returns a builder that fills version, which must be empty,
	// from the whole history, in bulk.
	Rebuild(ctx context.Context, version int) (Builder, error)
	// Drop removes the collections of version.
	Drop(ctx context.Context, version int) error
}

// Applier writes events into a read model as they come.
type Applier interface {
	Apply(ctx context.Context, e Envelope) error
}

// Flusher is implemented by an Applier that defers its writes (to write
// many events' worth in a few round trips): Flush makes them durable. The
// runner calls it before each checkpoint save, between events, so that a
// checkpoint never passes an event whose writes are not all stored. The
// applier may also write early by itself (to bound its memory): that never
// moves the checkpoint.
//
// A failed Flush may have lost deferred writes of events that were
// acknowledged already: the runner then delivers every event after the
// last saved checkpoint again, to a new Applier (see ErrRedeliver).
type Flusher interface {
	Flush(ctx context.Context) error
}

// ErrRedeliver is wrapped by the errors of an Applier that lost deferred
// writes (a failed Flush, or one it started by itself in Apply) and
// cannot go on: the runner stops the subscription without saving a
// checkpoint and starts over from the last saved one with a new Applier.
var ErrRedeliver = errors.New("projections: deferred writes lost; delivering again from the last checkpoint")

// Builder folds the whole history of a read model and writes it in bulk:
// Apply is called for every handled event in commit order, then Finish
// once, after which the version is complete up to the last position
// applied.
type Builder interface {
	Apply(ctx context.Context, e Envelope) error
	Finish(ctx context.Context) error
}

// ErrUnavailable marks a failure of the read-model database that is
// expected to pass (network, server selection, timeouts): the runner
// retries such an event for as long as it takes instead of stalling the
// projection on it.
var ErrUnavailable = errors.New("projections: read-model database unavailable")

// CheckpointName is the checkpoint of version of a projection: a new
// version starts from the checkpoint its rebuild left, the old one keeps
// its own. It is the subscriber's consumer group Name and topic
// "<base>_v<version>".
func CheckpointName(name, base string, version int) string {
	return eventstoredb.CheckpointName(name, mongodb.CollectionName(base, version))
}
