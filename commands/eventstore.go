// Package commands holds one handler per use case: load the streams it
// needs, let the domain decide, append with the expected revision of what
// was loaded. It declares the ports it needs here, where they are used;
// adapters implement them.
package commands

import (
	"context"
	"errors"
	"time"

	"github.com/orgportal/onboarding/domain"
)

// Revision is a stream's last revision as loaded; NoStream when the stream
// has no events. Appends pass it back as the expected revision.
type Revision int64

// NoStream is the revision of a stream that does not exist yet.
const NoStream Revision = -1

// Position is the commit position of the last event an append wrote. The
// HTTP layer hands it out as the consistency token: a read model that has
// passed it shows the write.
type Position uint64

// Metadata travels with every event; audits read it.
type Metadata struct {
	// Actor is a user id, or ActorSystem / ActorSelfServiceLink.
	Actor         string
	CorrelationID string
	CausationID   string
	// RequestTime is when the request that caused the event arrived.
	RequestTime time.Time
}

// Loaded is a stream folded into events plus the revision to expect.
type Loaded struct {
	Events   []domain.Event
	Revision Revision
}

// EventStore is the port to the event store.
type EventStore interface {
	// Load reads a whole stream. A missing stream is not an error: it
	// loads as no events and NoStream.
	Load(ctx context.Context, stream domain.StreamName) (Loaded, error)
	// LoadFrom reads what a stream holds after revision after (>= 0), the
	// last revision the caller has already folded: Loaded.Events are the
	// events after it and Loaded.Revision the stream's last revision
	// (after itself when nothing is new). It fails with ErrHistoryChanged
	// when the stream no longer holds the event at after (deleted,
	// tombstoned, truncated past it): what the caller folded is no longer
	// the stream's history, so it must Load the stream again.
	LoadFrom(ctx context.Context, stream domain.StreamName, after Revision) (Loaded, error)
	// Append appends events if the stream is still at expected. It fails
	// with a domain Conflict (code CodeConcurrentChange) when another
	// writer got there first, and with ErrUnavailable when the store cannot
	// be reached; in that case nothing was written, or the whole append
	// was (retrying the same call is safe: event ids are fixed per call).
	Append(ctx context.Context, stream domain.StreamName, expected Revision, meta Metadata, events ...domain.Event) (Position, error)
}

// ErrUnavailable reports that the event store cannot be reached. The HTTP
// layer answers 503 with Retry-After.
var ErrUnavailable = errors.New("event store unavailable")

// ErrHistoryChanged reports that a stream no longer holds an event it held
// before (see EventStore.LoadFrom).
var ErrHistoryChanged = errors.New("stream history changed")

// CodeConcurrentChange is the conflict code for a lost optimistic
// concurrency race; handlers that may retry look for it.
const CodeConcurrentChange = "concurrent_change"
