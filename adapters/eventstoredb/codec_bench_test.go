package eventstoredb

import (
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// BenchmarkDecodeMessage decodes a UserInvited as the projections get it
// (a delivered message: messageFromEvent, then DecodeMessage), beside
// Decode of the recorded event itself, the baseline:
//
//	go test -run '^$' -bench BenchmarkDecodeMessage -benchmem ./adapters/eventstoredb/
func BenchmarkDecodeMessage(b *testing.B) {
	registry, err := domain.NewRegistry()
	if err != nil {
		b.Fatal(err)
	}
	codec, err := NewCodec(registry)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	data, err := codec.Encode(domain.UserInvited{InvitationID: "inv-1", OrgID: "org-1", Email: "Ann@Example.org", NormalizedEmail: "ann@example.org",
		Role: domain.RoleMember, InvitedBy: "u-owner", Generation: 1, ExpiresAt: now.Add(time.Hour)},
		commands.Metadata{Actor: "u-owner", CorrelationID: "corr-1", CausationID: "cause-1", RequestTime: now})
	if err != nil {
		b.Fatal(err)
	}
	rec := &esdb.RecordedEvent{EventID: data.EventID, EventType: data.EventType, ContentType: jsonContentType, StreamID: "invitation-inv-1",
		EventNumber: 0, Position: esdb.Position{Commit: 1234, Prepare: 1234}, CreatedDate: now, Data: data.Data, UserMetadata: data.Metadata}
	b.Run("record", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := codec.Decode(rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("message", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := codec.DecodeMessage(messageFromEvent(rec)); err != nil {
				b.Fatal(err)
			}
		}
	})
	msg := messageFromEvent(rec)
	b.Run("decodeOnly", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := codec.DecodeMessage(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}
