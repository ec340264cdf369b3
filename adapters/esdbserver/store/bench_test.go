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

// BenchmarkStoreReadStream measures one bounded read of a short stream, as
// the command handlers make per request (a session, a membership, an
// invitation: 0 to 3 events), and of the tail of a long one (what a cached
// state's LoadFrom reads: the event at the cached revision, nothing after
// it), without gRPC on top. Run with -benchmem: allocations per read are
// what the wire adds to.
func BenchmarkStoreReadStream(b *testing.B) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	event := func() ProposedEvent {
		return ProposedEvent{ID: newEventID(), Type: "UserInvited", JSON: true, Data: []byte(`{"email":"someone@example.com","role":"member"}`)}
	}
	// Some unrelated history, so that lookups do not run on an empty store.
	for i := range 1000 {
		if _, err := s.Append(ctx, fmt.Sprintf("other-%d", i), ExpectedRevision{}, []ProposedEvent{event(), event()}); err != nil {
			b.Fatal(err)
		}
	}
	for _, n := range []int{1, 3} {
		for range n {
			if _, err := s.Append(ctx, fmt.Sprintf("short-%d", n), ExpectedRevision{}, []ProposedEvent{event()}); err != nil {
				b.Fatal(err)
			}
		}
	}
	const long = 10_000
	for i := 0; i < long; i += 100 {
		batch := make([]ProposedEvent, 100)
		for j := range batch {
			batch[j] = event()
		}
		if _, err := s.Append(ctx, "long", ExpectedRevision{}, batch); err != nil {
			b.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		stream string
		from   uint64
		want   int
	}{
		{"missing", "never-written", 0, 0},
		{"events=1", "short-1", 0, 1},
		{"events=3", "short-3", 0, 3},
		{"tail-of-10000", "long", long - 1, 1},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got := 0
				err := s.ReadStream(c.stream, c.from, false, ^uint64(0), func(*Record) error { got++; return nil })
				if c.want == 0 && err == ErrStreamNotFound {
					continue
				}
				if err != nil || got != c.want {
					b.Fatalf("read %d events, err %v; want %d", got, err, c.want)
				}
			}
		})
	}
}
