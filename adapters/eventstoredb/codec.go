package eventstoredb

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// ErrUnknownEventType reports a stored event whose type name the registry
// does not know (a newer build wrote it, or it is not ours). The error
// wrapping it names the type, the stream and the revision.
var ErrUnknownEventType = errors.New("unknown event type")

// jsonContentType is how the server reports ContentTypeJson on reads.
const jsonContentType = "application/json"

// eventMetadata is the custom metadata stored with every event; see the
// package documentation for the format. Field names are part of the stored
// format: never rename one.
type eventMetadata struct {
	Actor         string    `json:"actor"`
	CorrelationID string    `json:"correlationId"`
	CausationID   string    `json:"causationId"`
	RequestTime   time.Time `json:"requestTime"`
	SchemaVersion int       `json:"schemaVersion"`
}

// Codec turns domain events plus metadata into the client's EventData and
// recorded events back into domain events. The read side (subscriptions,
// projections) uses the same codec.
type Codec struct {
	registry *domain.Registry
}

// NewCodec returns a codec over the explicit event registry.
func NewCodec(registry *domain.Registry) (*Codec, error) {
	if registry == nil {
		return nil, errors.New("eventstoredb: codec needs an event registry")
	}
	return &Codec{registry: registry}, nil
}

// Encode serializes one event with its metadata and gives it a fresh random
// EventID. Callers that may retry must encode once and resend the same
// EventData, so that the server recognises the retry.
func (c *Codec) Encode(event domain.Event, meta commands.Metadata) (esdb.EventData, error) {
	if event == nil {
		return esdb.EventData{}, errors.New("eventstoredb: encode: nil event")
	}
	name, version, data, err := c.registry.Encode(event)
	if err != nil {
		return esdb.EventData{}, fmt.Errorf("eventstoredb: encode: %w", err)
	}
	metadata, err := json.Marshal(eventMetadata{
		Actor:         meta.Actor,
		CorrelationID: meta.CorrelationID,
		CausationID:   meta.CausationID,
		RequestTime:   meta.RequestTime.UTC(),
		SchemaVersion: version,
	})
	if err != nil {
		return esdb.EventData{}, fmt.Errorf("eventstoredb: encode metadata of %s: %w", name, err)
	}
	id, err := uuid.NewRandom()
	if err != nil {
		return esdb.EventData{}, fmt.Errorf("eventstoredb: event id for %s: %w", name, err)
	}
	return esdb.EventData{
		EventID:     id,
		EventType:   name,
		ContentType: esdb.ContentTypeJson,
		Data:        data,
		Metadata:    metadata,
	}, nil
}

// Decode turns a recorded event back into its domain event (upcast to the
// current schema version) and its metadata. An unknown type is an error
// wrapping ErrUnknownEventType; so is anything that is not JSON.
func (c *Codec) Decode(rec *esdb.RecordedEvent) (domain.Event, commands.Metadata, error) {
	if rec == nil {
		return nil, commands.Metadata{}, errors.New("eventstoredb: decode: no recorded event (a link to a deleted event?)")
	}
	if err := c.check(rec); err != nil {
		return nil, commands.Metadata{}, err
	}
	var meta eventMetadata
	if len(rec.UserMetadata) > 0 {
		if err := json.Unmarshal(rec.UserMetadata, &meta); err != nil {
			return nil, commands.Metadata{}, fmt.Errorf("eventstoredb: decode metadata of %s (%s): %w", where(rec), rec.EventType, err)
		}
	}
	return c.decode(rec, meta)
}

// check refuses events that are not ours: an unknown type, or not JSON.
func (c *Codec) check(rec *esdb.RecordedEvent) error {
	if !c.registry.Knows(rec.EventType) {
		return fmt.Errorf("eventstoredb: decode %s: %w %q (written by a newer build, or not a domain event)",
			where(rec), ErrUnknownEventType, rec.EventType)
	}
	if rec.ContentType != "" && rec.ContentType != jsonContentType {
		return fmt.Errorf("eventstoredb: decode %s (%s): content type %q, want %q",
			where(rec), rec.EventType, rec.ContentType, jsonContentType)
	}
	return nil
}

// decode is the rest of Decode, with the metadata parsed already:
// DecodeMessage has it from the message, parsed once on delivery.
func (c *Codec) decode(rec *esdb.RecordedEvent, meta eventMetadata) (domain.Event, commands.Metadata, error) {
	event, err := c.registry.Decode(rec.EventType, meta.SchemaVersion, rec.Data)
	if err != nil {
		return nil, commands.Metadata{}, fmt.Errorf("eventstoredb: decode %s: %w", where(rec), err)
	}
	return event, commands.Metadata{
		Actor:         meta.Actor,
		CorrelationID: meta.CorrelationID,
		CausationID:   meta.CausationID,
		RequestTime:   meta.RequestTime,
	}, nil
}

// where names an event in errors; only errors pay for it.
func where(rec *esdb.RecordedEvent) string {
	return fmt.Sprintf("event %d of stream %q", rec.EventNumber, rec.StreamID)
}
