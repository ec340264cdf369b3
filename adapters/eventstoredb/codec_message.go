package eventstoredb

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// DecodeMessage turns a message delivered by the Subscriber back into its
// domain event (upcast like Decode) and metadata. It fails like Decode on
// events that are not ours. The metadata comes from the message keys,
// which delivery parsed from the stored JSON already: it is not turned
// back into JSON to be parsed again (that was a third of the decoding
// time of a projection's event).
func (c *Codec) DecodeMessage(msg *message.Message) (domain.Event, commands.Metadata, error) {
	if msg == nil {
		return nil, commands.Metadata{}, errors.New("eventstoredb: decode: nil message")
	}
	md := msg.Metadata
	rec := &esdb.RecordedEvent{
		EventType:   md.Get(MetadataEventType),
		ContentType: md.Get(MetadataContentType),
		StreamID:    md.Get(MetadataStream),
		Data:        msg.Payload,
	}
	rec.EventNumber, _ = strconv.ParseUint(md.Get(MetadataRevision), 10, 64)
	stored := eventMetadata{
		Actor:         md.Get(MetadataActor),
		CorrelationID: md.Get(MetadataCorrelationID),
		CausationID:   md.Get(MetadataCausationID),
	}
	if v := md.Get(MetadataSchemaVersion); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, commands.Metadata{}, fmt.Errorf("eventstoredb: decode message %s: schema version %q", msg.UUID, v)
		}
		stored.SchemaVersion = n
	}
	if v := md.Get(MetadataRequestTime); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return nil, commands.Metadata{}, fmt.Errorf("eventstoredb: decode message %s: request time %q", msg.UUID, v)
		}
		stored.RequestTime = t
	}
	if err := c.check(rec); err != nil {
		return nil, commands.Metadata{}, err
	}
	return c.decode(rec, stored)
}
