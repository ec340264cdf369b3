package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTest(t *testing.T, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ev(typ string) ProposedEvent {
	return ProposedEvent{ID: newEventID(), Type: typ, JSON: true, Data: []byte(`{"k":"v"}`)}
}

func exact(r uint64) ExpectedRevision { return ExpectedRevision{Kind: ExpectRevision, Revision: r} }

var (
	any_         = ExpectedRevision{Kind: ExpectAny}
	noStream     = ExpectedRevision{Kind: ExpectNoStream}
	streamExists = ExpectedRevision{Kind: ExpectStreamExists}
)

func mustAppend(t *testing.T, s *Store, stream string, exp ExpectedRevision, events ...ProposedEvent) WriteResult {
	t.Helper()
	res, err := s.Append(context.Background(), stream, exp, events)
	if err != nil {
		t.Fatalf("append to %s: %v", stream, err)
	}
	return res
}

func readStream(t *testing.T, s *Store, stream string) ([]Record, error) {
	t.Helper()
	var out []Record
	err := s.ReadStream(stream, 0, false, End, func(r *Record) error {
		out = append(out, r.clone())
		return nil
	})
	return out, err
}

func wantWEV(t *testing.T, err error) {
	t.Helper()
	var wev *WrongExpectedVersionError
	if !errors.As(err, &wev) {
		t.Fatalf("want wrong expected version, got %v", err)
	}
}

func wantDeleted(t *testing.T, err error) {
	t.Helper()
	var del *StreamDeletedError
	if !errors.As(err, &del) {
		t.Fatalf("want stream deleted, got %v", err)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	rec := Record{Stream: "user-1", Revision: 42, ID: newEventID(), Type: "UserInvited", JSON: true, Created: 1234567, Metadata: []byte(`{"actor":"x"}`), Data: []byte(`{"a":1}`)}
	got, err := decodeRecord(99, rec.encode(nil))
	if err != nil {
		t.Fatal(err)
	}
	rec.Position = 99
	if fmt.Sprint(got) != fmt.Sprint(rec) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, rec)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	rec := Record{Stream: "s", Revision: 1, Type: "T", Data: []byte("d")}
	f.Add(rec.encode(nil))
	f.Add([]byte{recordFormat})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(1, b)
		if err != nil {
			return
		}
		// Whatever decodes must encode back to the same bytes' meaning.
		again, err := decodeRecord(1, r.encode(nil))
		if err != nil || fmt.Sprint(again) != fmt.Sprint(r) {
			t.Fatalf("re-encode of %+v gives %+v, %v", r, again, err)
		}
	})
}

func TestExpectedRevisionRules(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})

	// Missing stream.
	_, err := s.Append(context.Background(), "a", streamExists, []ProposedEvent{ev("A")})
	wantWEV(t, err)
	_, err = s.Append(context.Background(), "a", exact(0), []ProposedEvent{ev("A")})
	wantWEV(t, err)
	res := mustAppend(t, s, "a", noStream, ev("A"), ev("A"))
	if res.Revision != 1 || res.Position == 0 {
		t.Fatalf("first append: %+v", res)
	}
	_, err = s.Append(context.Background(), "a", noStream, []ProposedEvent{ev("A")})
	wantWEV(t, err)
	_, err = s.Append(context.Background(), "a", exact(5), []ProposedEvent{ev("A")})
	wantWEV(t, err)
	if r := mustAppend(t, s, "a", exact(1), ev("A")); r.Revision != 2 || r.Position <= res.Position {
		t.Fatalf("exact append: %+v after %+v", r, res)
	}
	if r := mustAppend(t, s, "a", streamExists, ev("A")); r.Revision != 3 {
		t.Fatalf("stream exists append: %+v", r)
	}
	if r := mustAppend(t, s, "a", any_, ev("A")); r.Revision != 4 {
		t.Fatalf("any append: %+v", r)
	}
	// An empty append checks the condition and writes nothing.
	if r, err := s.Append(context.Background(), "b", any_, nil); err != nil || r.Revision != -1 || r.Position != 0 {
		t.Fatalf("empty append to missing stream: %+v %v", r, err)
	}
}

func TestIdempotentRetries(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	a, b, c := ev("A"), ev("B"), ev("C")
	first := mustAppend(t, s, "s", noStream, a, b)
	for _, exp := range []ExpectedRevision{noStream, any_, streamExists} {
		again := mustAppend(t, s, "s", exp, a, b)
		if again != first {
			t.Fatalf("retry with %s: got %+v, want original %+v", exp, again, first)
		}
	}
	// Partial match is a conflict, not a silent success.
	_, err := s.Append(context.Background(), "s", noStream, []ProposedEvent{a, c})
	wantWEV(t, err)

	second := mustAppend(t, s, "s", exact(1), c)
	if again := mustAppend(t, s, "s", exact(1), c); again != second {
		t.Fatalf("retry with revision: got %+v, want %+v", again, second)
	}
	recs, err := readStream(t, s, "s")
	if err != nil || len(recs) != 3 {
		t.Fatalf("stream holds %d events (%v), want 3", len(recs), err)
	}
}

func TestIdempotentRetryWithinOneBatch(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	e := ev("A")
	var wg sync.WaitGroup
	results := make([]WriteResult, 8)
	errs := make([]error, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = s.Append(context.Background(), "dup", noStream, []ProposedEvent{e})
		}()
	}
	wg.Wait()
	for i := range results {
		if errs[i] != nil || results[i] != results[0] {
			t.Fatalf("append %d: %+v %v, want %+v", i, results[i], errs[i], results[0])
		}
	}
	if recs, _ := readStream(t, s, "dup"); len(recs) != 1 {
		t.Fatalf("stream holds %d events, want 1", len(recs))
	}
}

func TestSoftDeleteAndRecreate(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	mustAppend(t, s, "d", noStream, ev("A"), ev("A"), ev("A"))
	if _, err := s.Delete(context.Background(), "d", exact(5)); err == nil {
		t.Fatal("delete with the wrong revision succeeded")
	}
	del, err := s.Delete(context.Background(), "d", exact(2))
	if err != nil || del.Position == 0 {
		t.Fatalf("delete: %+v %v", del, err)
	}
	if _, err := readStream(t, s, "d"); !errors.Is(err, ErrStreamNotFound) {
		t.Fatalf("read after delete: %v, want not found", err)
	}
	_, err = s.Append(context.Background(), "d", streamExists, []ProposedEvent{ev("A")})
	wantDeleted(t, err)

	res := mustAppend(t, s, "d", noStream, ev("B"))
	if res.Revision != 3 {
		t.Fatalf("recreated stream continues at %d, want 3", res.Revision)
	}
	recs, err := readStream(t, s, "d")
	if err != nil || len(recs) != 1 || recs[0].Revision != 3 || recs[0].Type != "B" {
		t.Fatalf("after recreate: %+v %v", recs, err)
	}
	// $all still has everything, including the metadata records.
	var all []Record
	if err := s.ReadAll(0, false, End, func(r *Record) error { all = append(all, *r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(all) != 6 { // 3 events, delete metadata, recreate metadata, 1 event
		t.Fatalf("$all holds %d records, want 6", len(all))
	}
}

func TestDeleteOfEmptyStreamIsWrongExpectedVersion(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	_, err := s.Delete(context.Background(), "nothing", any_)
	wantWEV(t, err)
}

func TestTombstone(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	mustAppend(t, s, "t", noStream, ev("A"))
	res, err := s.Tombstone(context.Background(), "t", exact(0))
	if err != nil || res.Position == 0 {
		t.Fatalf("tombstone: %+v %v", res, err)
	}
	_, err = s.Append(context.Background(), "t", any_, []ProposedEvent{ev("A")})
	wantDeleted(t, err)
	_, err = readStream(t, s, "t")
	wantDeleted(t, err)
	_, err = s.Delete(context.Background(), "t", any_)
	wantDeleted(t, err)
	_, err = s.Tombstone(context.Background(), "t", any_)
	wantDeleted(t, err)
}

func TestRetention(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	s := openTest(t, t.TempDir(), Options{Now: clock})
	for range 5 {
		mustAppend(t, s, "r", any_, ev("A"))
	}
	mustAppend(t, s, MetastreamOf("r"), any_, ProposedEvent{ID: newEventID(), Type: TypeMetadata, JSON: true, Data: []byte(`{"$maxCount":2}`)})
	recs, err := readStream(t, s, "r")
	if err != nil || len(recs) != 2 || recs[0].Revision != 3 {
		t.Fatalf("maxCount 2: %+v %v", recs, err)
	}
	mustAppend(t, s, MetastreamOf("r"), any_, ProposedEvent{ID: newEventID(), Type: TypeMetadata, JSON: true, Data: []byte(`{"$maxAge":10}`)})
	now = now.Add(11 * time.Second)
	recs, err = readStream(t, s, "r")
	if err != nil || len(recs) != 0 {
		t.Fatalf("maxAge: every event is hidden, want empty read without error, got %d %v", len(recs), err)
	}
	// The metastream keeps only the latest metadata.
	meta, err := readStream(t, s, MetastreamOf("r"))
	if err != nil || len(meta) != 1 || !strings.Contains(string(meta[0].Data), "maxAge") {
		t.Fatalf("metastream: %+v %v", meta, err)
	}
}

func TestGroupCommitSharesSyncs(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	const writers, each = 32, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := s.Append(context.Background(), fmt.Sprintf("g-%d", w), any_, []ProposedEvent{ev("A")}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	appends, commits := s.Stats().Appends.Load(), s.Stats().Commits.Load()
	if appends != writers*each {
		t.Fatalf("appends = %d, want %d", appends, writers*each)
	}
	if commits >= appends {
		t.Fatalf("%d appends took %d commits: concurrent appends must share syncs", appends, commits)
	}
	t.Logf("%d appends in %d commits (%.1f per fsync)", appends, commits, float64(appends)/float64(commits))
}

func TestReopenContinuesPositions(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Append(context.Background(), "p", noStream, []ProposedEvent{ev("A")})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTest(t, dir, Options{})
	if s.Head() != first.Position {
		t.Fatalf("head after reopen = %d, want %d", s.Head(), first.Position)
	}
	second := mustAppend(t, s, "p", exact(0), ev("A"))
	if second.Position <= first.Position || second.Revision != 1 {
		t.Fatalf("after reopen: %+v, first %+v", second, first)
	}
}

func TestReadAllDirectionsAndPositions(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	for i := range 10 {
		mustAppend(t, s, fmt.Sprintf("x-%d", i%3), any_, ev("A"))
	}
	var all []uint64
	s.ReadAll(0, false, End, func(r *Record) error { all = append(all, r.Position); return nil })
	if len(all) != 10 {
		t.Fatalf("read %d records, want 10", len(all))
	}
	mid := all[4]
	var fwd, back []uint64
	s.ReadAll(mid, false, 2, func(r *Record) error { fwd = append(fwd, r.Position); return nil })
	s.ReadAll(mid, true, 2, func(r *Record) error { back = append(back, r.Position); return nil })
	if fwd[0] != mid || len(fwd) != 2 {
		t.Fatalf("forwards from %d: %v (inclusive)", mid, fwd)
	}
	if back[0] != all[3] || back[1] != all[2] {
		t.Fatalf("backwards from %d: %v (exclusive)", mid, back)
	}
	if err := s.ReadAll(mid+1, false, 1, func(*Record) error { return nil }); !errors.Is(err, ErrInvalidPosition) {
		t.Fatalf("read from a position inside a record: %v, want ErrInvalidPosition", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	_ = s
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second open of a locked directory: %v", err)
	}

	other := t.TempDir()
	s2, err := Open(other, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.db.Set(keyFormatVersion, []byte("99"), nil); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if _, err := Open(other, Options{}); err == nil || !strings.Contains(err.Error(), "format version 99") {
		t.Fatalf("open of a newer format: %v", err)
	}

	if os.Geteuid() != 0 { // root reads everything
		ro := filepath.Join(t.TempDir(), "ro")
		os.Mkdir(ro, 0o500)
		if _, err := Open(ro, Options{}); err == nil || !strings.Contains(err.Error(), "not writable") {
			t.Fatalf("open of a read-only directory: %v", err)
		}
	}
}

func TestAppendAfterCloseFails(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Append(context.Background(), "c", any_, []ProposedEvent{ev("A")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if err := s.ReadAll(0, false, 1, func(*Record) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
}

func TestRecentIDsEvictOldest(t *testing.T) {
	r := newRecentIDs(2)
	a, b, c := newEventID(), newEventID(), newEventID()
	r.add(a, 1)
	r.add(b, 2)
	r.add(a, 3) // a again: its newer entry must survive the eviction of the older one
	r.add(c, 4)
	if p, ok := r.lookup(a); !ok || p != 3 {
		t.Fatalf("a = %d %v, want 3", p, ok)
	}
	if _, ok := r.lookup(b); ok {
		t.Fatal("b should have been evicted")
	}
	if p, ok := r.lookup(c); !ok || p != 4 {
		t.Fatalf("c = %d %v, want 4", p, ok)
	}
}

func TestIdempotentAnyRetryAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := ev("A")
	first, err := s.Append(context.Background(), "restart", any_, []ProposedEvent{e})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTest(t, dir, Options{})
	again := mustAppend(t, s, "restart", any_, e)
	if again != first {
		t.Fatalf("retry after restart: %+v, want %+v", again, first)
	}
	if recs, _ := readStream(t, s, "restart"); len(recs) != 1 {
		t.Fatalf("stream holds %d events, want 1", len(recs))
	}
}

// Pebble makes a batch visible before its fsync completes; readers must not
// see it until it is durable, since a crash could still take it back.
func TestReadersNeverSeeUnsyncedRecords(t *testing.T) {
	applied := make(chan struct{})
	release := make(chan struct{})
	hold := false
	s := openTest(t, t.TempDir(), Options{beforeSync: func() {
		if hold {
			close(applied)
			<-release
		}
	}})
	mustAppend(t, s, "durable", noStream, ev("A"))
	hold = true // the writer goroutine reads it only after the next op is queued
	done := make(chan error, 1)
	go func() {
		_, err := s.Append(context.Background(), "pending", noStream, []ProposedEvent{ev("B")})
		if err == nil {
			_, err = s.Tombstone(context.Background(), "durable", any_)
		}
		done <- err
	}()
	<-applied // "pending" is applied in Pebble, its fsync not yet awaited

	if _, err := readStream(t, s, "pending"); !errors.Is(err, ErrStreamNotFound) {
		t.Fatalf("read of an unsynced stream: %v, want not found", err)
	}
	var all []Record
	s.ReadAll(0, false, End, func(r *Record) error { all = append(all, *r); return nil })
	if len(all) != 1 || all[0].Stream != "durable" {
		t.Fatalf("$all shows %d records before the sync, want only the durable one", len(all))
	}
	hold = false
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if recs, err := readStream(t, s, "pending"); err != nil || len(recs) != 1 {
		t.Fatalf("after the sync: %d records, %v", len(recs), err)
	}
	if _, err := readStream(t, s, "durable"); err == nil {
		t.Fatal("tombstoned stream still readable")
	}
}

func TestHeadCacheEvictsButStaysCorrect(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Exact revisions keep working across rounds whether or not the head
	// was cached.
	for round := range 3 {
		for i := range 50 {
			exp := noStream
			if round > 0 {
				exp = exact(uint64(round - 1))
			}
			if _, err := s.Append(context.Background(), fmt.Sprintf("hc-%d", i), exp, []ProposedEvent{ev("A")}); err != nil {
				t.Fatalf("round %d stream %d: %v", round, i, err)
			}
		}
	}
	c := newHeadCache(2)
	c.put("a", head{lastRevision: 1})
	c.put("b", head{lastRevision: 2})
	c.put("a", head{lastRevision: 3}) // update: no eviction
	c.put("c", head{lastRevision: 4}) // evicts a (oldest inserted)
	if _, ok := c.m["a"]; ok || c.m["b"].lastRevision != 2 || c.m["c"].lastRevision != 4 {
		t.Fatalf("cache after eviction: %v", c.m)
	}
}
