package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/orgportal/onboarding/adapters/eventstoredb"
	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// Decoder turns a delivered message back into its event and metadata
// (eventstoredb.Codec.DecodeMessage).
type Decoder func(*message.Message) (domain.Event, commands.Metadata, error)

// Source is where projections read events from.
type Source struct {
	Conn   *eventstoredb.Conn
	Decode Decoder
	// EventTypes are all domain event types (domain.Registry.Types()):
	// every projection receives all of them, so that its checkpoint passes
	// every position a command can hand out as a consistency token.
	EventTypes []string
	// Head returns the commit position of the last event in $all, for
	// rebuild progress; optional.
	Head func(ctx context.Context) (uint64, error)
	// Backlog counts the domain events after position (up to a cap the
	// implementation chooses) and tells when the oldest of them was
	// written, for lag figures; optional.
	Backlog func(ctx context.Context, after uint64) (events int, oldest time.Time, err error)
}

// VersionStore is the registry of active read-model versions
// (mongodb.Versions).
type VersionStore interface {
	Active(ctx context.Context, base string) (mongodb.Active, bool, error)
	Switch(ctx context.Context, base string, version int) error
	Stored(ctx context.Context, base string) ([]int, error)
}

// envelopeOf decodes a message the subscriber delivered.
func envelopeOf(msg *message.Message, decode Decoder) (Envelope, error) {
	env := Envelope{
		EventID: msg.Metadata.Get(eventstoredb.MetadataEventID),
		Type:    msg.Metadata.Get(eventstoredb.MetadataEventType),
		Stream:  msg.Metadata.Get(eventstoredb.MetadataStream),
	}
	if env.EventID == "" {
		env.EventID = msg.UUID
	}
	env.Position, _ = eventstoredb.MessagePosition(msg)
	env.Created = eventstoredb.MessageWritten(msg)
	var err error
	env.Event, env.Meta, err = decode(msg)
	if err != nil {
		return env, fmt.Errorf("decode %s %s at %d: %w", env.Type, env.EventID, env.Position, err)
	}
	return env, nil
}
