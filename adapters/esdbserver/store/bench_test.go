package store

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkStoreReadAll measures the storage engine's own catch-up rate
// ($all forwards, page by page), without gRPC and protobuf on top; compare
// with BenchmarkCatchUpReadAll in the parent package to see what the wire
// costs.
func BenchmarkStoreReadAll(b *testing.B) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const events, perAppend = 200_000, 100
	batch := make([]ProposedEvent, perAppend)
	for i := 0; i < events/perAppend; i++ {
		for j := range batch {
			batch[j] = ProposedEvent{ID: newEventID(), Type: "UserInvited", JSON: true, Data: []byte(`{"email":"someone@example.com","role":"member"}`)}
		}
		if _, err := s.Append(context.Background(), fmt.Sprintf("invitation-%d", i%1000), ExpectedRevision{}, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	read := 0
	for read < b.N {
		err := s.ReadAll(0, false, uint64(min(b.N-read, events)), func(*Record) error { read++; return nil })
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
