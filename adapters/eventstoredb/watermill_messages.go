package eventstoredb

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
)

// Metadata keys of the Watermill messages the Subscriber delivers.
//
// The esdb_* keys describe the recorded event. They are filled in on
// delivery; the Publisher reads MetadataEventType and MetadataContentType
// and drops the other esdb_* keys, so a delivered message can be published
// again without carrying stale positions.
const (
	MetadataEventID         = "esdb_event_id"         // the event's UUID
	MetadataEventType       = "esdb_event_type"       // on publish: the event type to store (DefaultMessageEventType if absent)
	MetadataContentType     = "esdb_content_type"     // "application/json" or "application/octet-stream"
	MetadataStream          = "esdb_stream"           // the stream the event is in
	MetadataRevision        = "esdb_revision"         // its revision (event number) in that stream, decimal
	MetadataCommitPosition  = "esdb_commit_position"  // its commit position in $all, decimal (the checkpoint value)
	MetadataPreparePosition = "esdb_prepare_position" // its prepare position in $all, decimal
	MetadataCreated         = "esdb_created"          // when the server wrote it, RFC 3339 UTC
)

// Metadata keys for our event metadata (see the package documentation for
// the stored format). The stored JSON keys are camelCase; the message keys
// follow Watermill's snake_case, and MetadataCorrelationID is the key of
// Watermill's correlation middleware, so that it propagates our correlation
// ids. Other custom metadata keys are copied through unchanged.
const (
	MetadataActor         = "actor"
	MetadataCorrelationID = "correlation_id" // stored as correlationId; equals middleware.CorrelationIDMetadataKey
	MetadataCausationID   = "causation_id"   // stored as causationId
	MetadataRequestTime   = "request_time"   // stored as requestTime, RFC 3339
	MetadataSchemaVersion = "schema_version" // stored as the number schemaVersion
)

// DefaultMessageEventType is the event type of a published message that
// does not name one in MetadataEventType.
const DefaultMessageEventType = "watermill.message"

// storedMessageUUIDKey keeps a message UUID that is not itself a UUID (the
// event id is then derived from it) so that delivery restores it.
const storedMessageUUIDKey = "watermillMessageUuid"

// messageIDNamespace is the UUID v5 namespace of event ids derived from
// message UUIDs that are not UUIDs. Part of the stored format: never change.
var messageIDNamespace = uuid.MustParse("6f1d6a2e-4b47-4a43-9c1e-2f6a0c9b7d15")

// storedKeys maps our message metadata keys to the stored JSON keys.
var storedKeys = map[string]string{
	MetadataActor:         "actor",
	MetadataCorrelationID: "correlationId",
	MetadataCausationID:   "causationId",
	MetadataRequestTime:   "requestTime",
	MetadataSchemaVersion: "schemaVersion",
}

// messageKeys is storedKeys reversed.
var messageKeys = func() map[string]string {
	m := make(map[string]string, len(storedKeys))
	for msgKey, stored := range storedKeys {
		m[stored] = msgKey
	}
	return m
}()

// eventIDFor returns the event id for a message UUID: the UUID itself when
// it is one (in canonical form), else a UUID v5 derived from it, so that a
// retried publish of the same message is recognised by the server either way.
// keep reports that the message UUID must be stored to be restored exactly.
func eventIDFor(msgUUID string) (id uuid.UUID, keep bool) {
	if msgUUID == "" {
		// Nothing to derive from: a fresh id, no idempotency.
		return uuid.New(), false
	}
	if id, err := uuid.Parse(msgUUID); err == nil {
		return id, id.String() != msgUUID
	}
	return uuid.NewSHA1(messageIDNamespace, []byte(msgUUID)), true
}

// eventDataFromMessage turns a Watermill message into the event to append.
func eventDataFromMessage(msg *message.Message) (esdb.EventData, error) {
	if msg == nil {
		return esdb.EventData{}, errors.New("nil message")
	}
	id, keep := eventIDFor(msg.UUID)
	eventType := msg.Metadata.Get(MetadataEventType)
	if eventType == "" {
		eventType = DefaultMessageEventType
	}
	contentType := esdb.ContentTypeBinary
	switch ct := msg.Metadata.Get(MetadataContentType); ct {
	case jsonContentType:
		contentType = esdb.ContentTypeJson
	case "", "application/octet-stream":
		if ct == "" && len(msg.Payload) > 0 && json.Valid(msg.Payload) {
			contentType = esdb.ContentTypeJson
		}
	default:
		return esdb.EventData{}, fmt.Errorf("message %s: content type %q: only %s and application/octet-stream can be stored",
			msg.UUID, ct, jsonContentType)
	}

	custom := make(map[string]any, len(msg.Metadata)+1)
	for k, v := range msg.Metadata {
		if strings.HasPrefix(k, "esdb_") {
			continue
		}
		if stored, ok := storedKeys[k]; ok {
			switch k {
			case MetadataSchemaVersion:
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					return esdb.EventData{}, fmt.Errorf("message %s: metadata %s=%q is not a schema version", msg.UUID, k, v)
				}
				custom[stored] = n
				continue
			case MetadataRequestTime:
				if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
					return esdb.EventData{}, fmt.Errorf("message %s: metadata %s=%q is not an RFC 3339 time", msg.UUID, k, v)
				}
			}
			k = stored
		}
		custom[k] = v
	}
	if keep {
		custom[storedMessageUUIDKey] = msg.UUID
	}
	var metadata []byte
	if len(custom) > 0 {
		var err error
		if metadata, err = json.Marshal(custom); err != nil {
			return esdb.EventData{}, fmt.Errorf("message %s: metadata: %w", msg.UUID, err)
		}
	}
	return esdb.EventData{
		EventID:     id,
		EventType:   eventType,
		ContentType: contentType,
		Data:        msg.Payload,
		Metadata:    metadata,
	}, nil
}

// messageFromEvent turns a recorded event into a Watermill message: the
// payload is the event's data; see the Metadata* constants for the metadata.
//
// Custom metadata that is not a JSON object (written by another tool) is
// not interpreted; the event is still delivered, never skipped.
func messageFromEvent(rec *esdb.RecordedEvent) *message.Message {
	msgUUID := rec.EventID.String()
	md := make(message.Metadata, 16)
	if len(rec.UserMetadata) > 0 {
		var custom map[string]json.RawMessage
		if json.Unmarshal(rec.UserMetadata, &custom) == nil {
			for k, raw := range custom {
				var s string
				if json.Unmarshal(raw, &s) != nil {
					// Numbers (schemaVersion), booleans, objects: their JSON text.
					s = string(raw)
				}
				if k == storedMessageUUIDKey {
					msgUUID = s
					continue
				}
				if msgKey, ok := messageKeys[k]; ok {
					k = msgKey
				}
				md[k] = s
			}
		}
	}
	if t, ok := md[MetadataRequestTime]; ok {
		// The codec writes UTC; normalise other writers' offsets the same way.
		if parsed, err := time.Parse(time.RFC3339Nano, t); err == nil {
			md[MetadataRequestTime] = parsed.UTC().Format(time.RFC3339Nano)
		}
	}
	md[MetadataEventID] = rec.EventID.String()
	md[MetadataEventType] = rec.EventType
	md[MetadataContentType] = rec.ContentType
	md[MetadataStream] = rec.StreamID
	md[MetadataRevision] = strconv.FormatUint(rec.EventNumber, 10)
	md[MetadataCommitPosition] = strconv.FormatUint(rec.Position.Commit, 10)
	md[MetadataPreparePosition] = strconv.FormatUint(rec.Position.Prepare, 10)
	if !rec.CreatedDate.IsZero() {
		md[MetadataCreated] = rec.CreatedDate.UTC().Format(time.RFC3339Nano)
	}
	msg := message.NewMessage(msgUUID, rec.Data)
	msg.Metadata = md
	return msg
}

// MessageWritten returns when the event store wrote the event a delivered
// message carries, or the zero time when the message does not say.
func MessageWritten(msg *message.Message) time.Time {
	t, err := time.Parse(time.RFC3339Nano, msg.Metadata.Get(MetadataCreated))
	if err != nil {
		return time.Time{}
	}
	return t
}

// MessagePosition returns the commit position in $all of the event a
// delivered message carries: what the checkpoint records and what a read
// model remembers per document.
func MessagePosition(msg *message.Message) (uint64, error) {
	commit, err := strconv.ParseUint(msg.Metadata.Get(MetadataCommitPosition), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("eventstoredb: message %s has no commit position: %w", msg.UUID, err)
	}
	return commit, nil
}
