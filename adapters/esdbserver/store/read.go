package store

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

func newEventID() [16]byte {
	var id [16]byte
	_, _ = rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40 // version 4
	id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
	return id
}

func readLogRecord(r pebble.Reader, pos uint64) (Record, bool, error) {
	v, closer, err := r.Get(logKey(pos))
	if errors.Is(err, pebble.ErrNotFound) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, err
	}
	defer closer.Close()
	rec, err := decodeRecord(pos, v)
	if err != nil {
		return Record{}, false, err
	}
	return rec.clone(), true, nil
}

func readStreamRecord(r pebble.Reader, stream string, rev uint64) (Record, bool, error) {
	v, closer, err := r.Get(streamKey(stream, rev))
	if errors.Is(err, pebble.ErrNotFound) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, err
	}
	pos, ok := decodePosition(v)
	closer.Close()
	if !ok {
		return Record{}, false, fmt.Errorf("%w: bad stream index entry for %q@%d", errCorruptRecord, stream, rev)
	}
	return readLogRecord(r, pos)
}

// loadRetention returns stream's current metadata, as far as the store acts
// on it, given how to find a stream's head (the writer's view, or the
// durable one). Metastreams have the implicit retention of one event.
func loadRetention(r pebble.Reader, stream string, headOf func(string) (head, error)) (retention, error) {
	if IsMetastream(stream) {
		return metastreamRetention, nil
	}
	meta := MetastreamOf(stream)
	h, err := headOf(meta)
	if err != nil || h.lastRevision < 0 {
		return retention{}, err
	}
	rec, ok, err := readStreamRecord(r, meta, uint64(h.lastRevision))
	if err != nil || !ok {
		return retention{}, err
	}
	return parseRetention(rec.Data), nil
}

// End, as a start revision or position, means "the last event" for reads and
// "only what comes next" for subscriptions.
const End = ^uint64(0)

// pageSize bounds how many records a reader takes per visit to storage, so a
// reader never holds the store open while it waits on its consumer.
const pageSize = 512

// ErrInvalidPosition reports a $all position that is not on a record.
var ErrInvalidPosition = errors.New("position is not on a record")

// ReadStream calls fn for each visible event of stream, from revision from
// (or End), in the given direction, at most count events. It fails with
// ErrStreamNotFound for a missing or soft-deleted stream and with
// *StreamDeletedError for a tombstoned one. fn's record is valid only during
// the call.
func (s *Store) ReadStream(stream string, from uint64, backwards bool, count uint64, fn func(*Record) error) error {
	// Records past the head are applied but maybe not yet on disk: no
	// reader may see them (a crash could take them back).
	durable := s.head.Load()
	var h head
	var ret retention
	err := s.read(func() (err error) {
		if h, err = durableHead(s.db, stream, durable); err != nil {
			return err
		}
		if h.tombstoned {
			return &StreamDeletedError{Stream: stream}
		}
		if h.lastRevision < 0 {
			return ErrStreamNotFound
		}
		if ret, err = durableRetention(s.db, stream, durable); err != nil {
			return err
		}
		if ret.softDeleted() {
			return ErrStreamNotFound
		}
		return nil
	})
	if err != nil {
		return err
	}
	last := uint64(h.lastRevision)
	if from == End || from > last {
		if !backwards {
			if from == End {
				from = last
			} else {
				return nil
			}
		} else {
			from = last
		}
	}
	now := s.now()
	next := from
	for count > 0 {
		page, more, err := s.streamPage(stream, next, backwards, last, durable, min(count, pageSize))
		if err != nil {
			return err
		}
		for i := range page {
			rec := &page[i]
			if backwards {
				next = rec.Revision - 1
			} else {
				next = rec.Revision + 1
			}
			if !ret.visible(rec, h.lastRevision, now) {
				continue
			}
			if err := fn(rec); err != nil {
				return err
			}
			count--
			if count == 0 {
				return nil
			}
		}
		if !more || (backwards && page[len(page)-1].Revision == 0) {
			return nil
		}
	}
	return nil
}

// streamPage reads up to n records of stream starting at revision from,
// never beyond revision last nor position durable. more reports that the
// page was full.
func (s *Store) streamPage(stream string, from uint64, backwards bool, last, durable uint64, n uint64) (page []Record, more bool, err error) {
	err = s.read(func() error {
		prefix := streamPrefix(stream)
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: streamKey(stream, last+1)})
		if err != nil {
			return err
		}
		defer it.Close()
		var ok bool
		if backwards {
			ok = it.SeekLT(streamKey(stream, from+1))
		} else {
			ok = it.SeekGE(streamKey(stream, from))
		}
		for ; ok && uint64(len(page)) < n; ok = step(it, backwards) {
			pos, valid := decodePosition(it.Value())
			if !valid {
				return fmt.Errorf("%w: bad stream index entry for %q", errCorruptRecord, stream)
			}
			rec, found, err := readLogRecord(s.db, pos)
			if err != nil {
				return err
			}
			if !found {
				continue
			}
			if rec.Position > durable {
				if backwards {
					continue
				}
				break // later revisions are later in the log too
			}
			page = append(page, rec)
		}
		more = uint64(len(page)) == n
		return it.Error()
	})
	return page, more, err
}

func step(it *pebble.Iterator, backwards bool) bool {
	if backwards {
		return it.Prev()
	}
	return it.Next()
}

// ReadAll calls fn for each record in $all: forwards, those at positions >=
// from; backwards, those at positions < from (End: from the last). It stops
// after count records.
func (s *Store) ReadAll(from uint64, backwards bool, count uint64, fn func(*Record) error) error {
	if err := s.CheckPosition(from); err != nil {
		return err
	}
	if backwards && from == 0 {
		return nil
	}
	for count > 0 {
		var page []Record
		var err error
		if backwards {
			page, err = s.allPageBackwards(from, min(count, pageSize))
		} else {
			page, err = s.allPage(from, min(count, pageSize))
		}
		if err != nil || len(page) == 0 {
			return err
		}
		for i := range page {
			if err := fn(&page[i]); err != nil {
				return err
			}
		}
		count -= uint64(len(page))
		if backwards {
			from = page[len(page)-1].Position
		} else {
			from = page[len(page)-1].Position + 1
		}
	}
	return nil
}

// CheckPosition accepts Start (0), End, positions past the head and the
// positions of records.
func (s *Store) CheckPosition(pos uint64) error {
	if pos == 0 || pos == End || pos > s.head.Load() {
		return nil
	}
	return s.read(func() error {
		_, closer, err := s.db.Get(logKey(pos))
		if errors.Is(err, pebble.ErrNotFound) {
			return fmt.Errorf("%w: %d", ErrInvalidPosition, pos)
		}
		if err != nil {
			return err
		}
		return closer.Close()
	})
}

// allPage reads up to n committed records at positions >= from.
func (s *Store) allPage(from uint64, n uint64) ([]Record, error) {
	head := s.head.Load()
	if from > head {
		return nil, nil
	}
	return s.logRange(logKey(max(from, firstPosition)), logKey(head+1), false, n)
}

// allPageBackwards reads up to n records at positions < from, newest first.
func (s *Store) allPageBackwards(from uint64, n uint64) ([]Record, error) {
	head := s.head.Load()
	upper := logKey(head + 1)
	if from != End && from <= head {
		upper = logKey(from)
	}
	return s.logRange(logKey(firstPosition), upper, true, n)
}

func (s *Store) logRange(lower, upper []byte, backwards bool, n uint64) (page []Record, err error) {
	err = s.read(func() error {
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
		if err != nil {
			return err
		}
		defer it.Close()
		var ok bool
		if backwards {
			ok = it.Last()
		} else {
			ok = it.First()
		}
		for ; ok && uint64(len(page)) < n; ok = step(it, backwards) {
			rec, err := decodeRecord(logKeyPosition(it.Key()), it.Value())
			if err != nil {
				return err
			}
			page = append(page, rec.clone())
		}
		return it.Error()
	})
	return page, err
}

// ResolveLink returns the event a link record ("$>", data "<rev>@<stream>")
// points to, if it still exists.
func (s *Store) ResolveLink(link *Record) (Record, bool) {
	if link.Type != TypeLink {
		return Record{}, false
	}
	rev, stream, ok := parseLink(link.Data)
	if !ok {
		return Record{}, false
	}
	var rec Record
	var found bool
	_ = s.read(func() (err error) {
		rec, found, err = readStreamRecord(s.db, stream, rev)
		return err
	})
	return rec, found && rec.Position <= s.head.Load()
}

func parseLink(data []byte) (rev uint64, stream string, ok bool) {
	for i, c := range data {
		if c == '@' {
			if i == 0 || i == len(data)-1 {
				return 0, "", false
			}
			for _, d := range data[:i] {
				if d < '0' || d > '9' {
					return 0, "", false
				}
				rev = rev*10 + uint64(d-'0')
			}
			return rev, string(data[i+1:]), true
		}
	}
	return 0, "", false
}

// durableHead is a stream's state as of position durable: the writer's
// head key may already include a batch whose fsync is still in flight, so
// readers derive the head from the stream index instead, ignoring entries
// past durable.
func durableHead(r pebble.Reader, stream string, durable uint64) (head, error) {
	prefix := streamPrefix(stream)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upperBound(prefix)})
	if err != nil {
		return head{}, err
	}
	defer it.Close()
	h := head{lastRevision: -1}
	for ok := it.Last(); ok; ok = it.Prev() {
		pos, valid := decodePosition(it.Value())
		if !valid {
			return head{}, fmt.Errorf("%w: bad stream index entry for %q", errCorruptRecord, stream)
		}
		if pos > durable {
			continue
		}
		rev := streamKeyRevision(it.Key())
		if rev == DeletedStreamRevision {
			h.tombstoned = true
			continue // the last event before the tombstone
		}
		h.lastRevision = int64(rev)
		return h, nil
	}
	return h, it.Error()
}

// durableRetention is a stream's retention as of position durable.
//
// Most streams have no metadata. Finding that out with durableHead costs
// an iterator positioned in every level of the LSM tree, on every read;
// the metastream's head key costs one point lookup, which the bloom
// filters answer without touching a table when it is absent. The head key
// is written in the same batch as the metastream's first record, so when
// it is absent the metastream has no record, durable or not. When it is
// present the durable view still comes from the stream index, as before.
func durableRetention(r pebble.Reader, stream string, durable uint64) (retention, error) {
	if !IsMetastream(stream) {
		if ok, err := hasHead(r, MetastreamOf(stream)); err != nil || !ok {
			return retention{}, err
		}
	}
	return loadRetention(r, stream, func(s string) (head, error) { return durableHead(r, s, durable) })
}

// hasHead reports whether the writer has ever written stream's head key,
// that is whether the stream has, or had, any record at all.
func hasHead(r pebble.Reader, stream string) (bool, error) {
	_, closer, err := r.Get(headKey(stream))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, closer.Close()
}
