package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// ExpectedKind is the optimistic-concurrency condition of a write.
type ExpectedKind uint8

const (
	ExpectAny ExpectedKind = iota
	ExpectNoStream
	ExpectStreamExists
	ExpectRevision
)

// ExpectedRevision is the condition a write puts on the stream's state.
type ExpectedRevision struct {
	Kind     ExpectedKind
	Revision uint64 // for ExpectRevision
}

func (e ExpectedRevision) String() string {
	switch e.Kind {
	case ExpectNoStream:
		return "no stream"
	case ExpectStreamExists:
		return "stream exists"
	case ExpectRevision:
		return fmt.Sprintf("revision %d", e.Revision)
	default:
		return "any"
	}
}

// ProposedEvent is an event to append.
type ProposedEvent struct {
	ID       [16]byte
	Type     string
	JSON     bool
	Metadata []byte
	Data     []byte
}

// WriteResult describes a successful write.
type WriteResult struct {
	// Revision is the stream's last revision after the write, -1 when the
	// stream still has no events (an empty append to a missing stream).
	Revision int64
	// Position is that of the last record written (or, for an idempotent
	// retry, originally written); 0 when the write wrote nothing.
	Position uint64
}

type opKind uint8

const (
	opAppend opKind = iota
	opDelete
	opTombstone
)

type writeOp struct {
	kind     opKind
	stream   string
	expected ExpectedRevision
	events   []ProposedEvent

	result WriteResult
	err    error
	done   chan struct{}
}

// Append appends events to stream atomically if the stream satisfies
// expected. It returns once the events are on disk. A retry of an append
// whose events are already stored returns the original result and writes
// nothing.
func (s *Store) Append(ctx context.Context, stream string, expected ExpectedRevision, events []ProposedEvent) (WriteResult, error) {
	for i := range events {
		if events[i].Type == "" {
			return WriteResult{}, fmt.Errorf("event %d has no type", i)
		}
	}
	return s.submit(ctx, &writeOp{kind: opAppend, stream: stream, expected: expected, events: events})
}

// Delete soft-deletes stream: its events are hidden until it is appended to
// again. It returns the position of the metadata record it wrote.
func (s *Store) Delete(ctx context.Context, stream string, expected ExpectedRevision) (WriteResult, error) {
	return s.submit(ctx, &writeOp{kind: opDelete, stream: stream, expected: expected})
}

// Tombstone deletes stream for good: every later read or write of it fails
// with StreamDeletedError.
func (s *Store) Tombstone(ctx context.Context, stream string, expected ExpectedRevision) (WriteResult, error) {
	return s.submit(ctx, &writeOp{kind: opTombstone, stream: stream, expected: expected})
}

func (s *Store) submit(ctx context.Context, op *writeOp) (WriteResult, error) {
	if op.stream == "" {
		return WriteResult{}, errors.New("stream name is empty")
	}
	if f := s.failed.Load(); f != nil {
		return WriteResult{}, fmt.Errorf("event store refuses writes after a failed commit: %w", *f)
	}
	op.done = make(chan struct{})
	// Holding closeMu while queueing guarantees the writer sees every op
	// queued before Close: Close waits for us, then the writer drains.
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return WriteResult{}, ErrClosed
	}
	select {
	case s.ops <- op:
	case <-ctx.Done():
		s.closeMu.RUnlock()
		return WriteResult{}, ctx.Err()
	}
	s.closeMu.RUnlock()
	// Once queued, the op is carried out whatever the caller does: waiting for
	// it keeps "acknowledged" and "on disk" the same thing.
	<-op.done
	return op.result, op.err
}

// writer is the state owned by the write loop.
type writer struct {
	s           *Store
	recent      *recentIDs
	heads       *headCache
	next        uint64 // position of the next record
	lastWritten uint64 // position of the last record added to a batch
	buf         []byte
}

func (s *Store) writeLoop(next uint64, recent *recentIDs) {
	defer s.writerWG.Done()
	w := &writer{s: s, recent: recent, heads: newHeadCache(headCacheCapacity), next: next, lastWritten: s.head.Load()}
	// The writer decides and applies batch N+1 while batch N's fsync is in
	// flight; the syncer acknowledges batches in order once they are on
	// disk. One batch in the channel plus one syncing keeps the disk busy
	// without letting decisions run far ahead of durability.
	pending := make(chan *pendingBatch, 1)
	synced := make(chan struct{})
	go func() {
		defer close(synced)
		for pb := range pending {
			s.finish(pb)
		}
	}()
	defer func() {
		close(pending)
		<-synced
	}()
	for {
		var first *writeOp
		select {
		case first = <-s.ops:
		case <-s.stop:
			// Close waited for every sender, so what is queued now is all
			// there will ever be: finish it.
			for {
				batch := w.fill(nil)
				if len(batch) == 0 {
					return
				}
				pending <- w.commit(batch)
			}
		}
		pending <- w.commit(w.fill([]*writeOp{first}))
	}
}

func (w *writer) fill(batch []*writeOp) []*writeOp {
	for len(batch) < w.s.maxOps {
		select {
		case op := <-w.s.ops:
			batch = append(batch, op)
		default:
			return batch
		}
	}
	return batch
}

// pendingBatch is a batch applied to the database (so the writer's next
// decisions see it) whose fsync may still be in flight.
type pendingBatch struct {
	b      *pebble.Batch
	ops    []*writeOp // every op of the batch, answered once b is durable
	wrote  int        // how many ops added records
	events uint64
	last   uint64 // position of the batch's last record
	err    error  // apply failed
}

// commit decides ops against one indexed batch (so later ops see earlier
// ones, and the previous batch, which is already applied) and applies it
// with a synced write whose fsync the syncer waits for.
func (w *writer) commit(ops []*writeOp) *pendingBatch {
	s := w.s
	pb := &pendingBatch{b: s.db.NewIndexedBatch(), ops: ops}
	now := s.now()
	for _, op := range ops {
		if f := s.failed.Load(); f != nil {
			op.err = fmt.Errorf("event store refuses writes after a failed commit: %w", *f)
			continue
		}
		changed, err := w.apply(pb.b, op, now)
		if err != nil {
			op.err = err
			continue
		}
		if changed {
			pb.wrote++
			pb.events += uint64(len(op.events))
		}
	}
	if pb.wrote == 0 {
		return pb
	}
	pb.last = w.lastWritten
	// ApplyNoSyncWait is Pebble's pipelined form of Commit(Sync): the batch
	// is in the WAL and visible to the next decisions when it returns, and
	// SyncWait (in finish) returns once it is on disk. Readers never see it
	// before that, because they stop at Store.head, which only finish moves.
	if err := s.db.ApplyNoSyncWait(pb.b, pebble.Sync); err != nil {
		pb.err = err
		s.fail(err)
	}
	return pb
}

// finish waits until pb is durable, then publishes the new head and
// answers its ops. Batches arrive in commit order, and the WAL syncs in that
// order, so acknowledging in order never reports a write whose
// predecessors could still be lost.
func (s *Store) finish(pb *pendingBatch) {
	err := pb.err
	if pb.wrote > 0 && err == nil {
		if hook := s.opts.beforeSync; hook != nil {
			hook()
		}
		if err = pb.b.SyncWait(); err != nil {
			s.fail(err)
		}
	}
	pb.b.Close()
	if err == nil {
		if f := s.failed.Load(); f != nil {
			// An earlier batch failed: this one was decided on state that
			// may not be on disk.
			err = *f
		}
	}
	switch {
	case err != nil:
		for _, op := range pb.ops {
			if op.err == nil {
				op.result, op.err = WriteResult{}, fmt.Errorf("event store commit failed: %w", err)
			}
		}
	case pb.wrote > 0:
		s.stats.Commits.Add(1)
		s.stats.Appends.Add(uint64(pb.wrote))
		s.stats.EventsWritten.Add(pb.events)
		s.head.Store(pb.last)
		s.notify.broadcast()
	}
	for _, op := range pb.ops {
		close(op.done)
	}
}

// fail stops all further writes: after a failed commit the writer's view
// (positions, heads) may no longer match the disk.
func (s *Store) fail(err error) {
	if s.failed.CompareAndSwap(nil, &err) {
		s.log.Error("event store commit failed; refusing further writes until restart", "err", err)
	}
}

// apply decides op against the state visible in b and, if it is allowed,
// adds its records to b. It reads everything before writing anything, so a
// refused op leaves b untouched. changed reports whether records were added.
func (w *writer) apply(b *pebble.Batch, op *writeOp, now time.Time) (changed bool, err error) {
	h, err := w.head(b, op.stream)
	if err != nil {
		return false, err
	}
	if h.tombstoned {
		return false, &StreamDeletedError{Stream: op.stream}
	}
	var ret retention
	if !IsMetastream(op.stream) {
		if ret, err = w.retention(b, op.stream); err != nil {
			return false, err
		}
	}
	switch op.kind {
	case opAppend:
		return w.applyAppend(b, op, h, ret, now)
	case opDelete:
		return w.applyDelete(b, op, h, ret, now)
	default:
		return w.applyTombstone(b, op, h, ret, now)
	}
}

func (w *writer) applyAppend(b *pebble.Batch, op *writeOp, h head, ret retention, now time.Time) (bool, error) {
	cur := h.lastRevision
	wev := &WrongExpectedVersionError{Stream: op.stream, Current: cur, Expected: op.expected}
	switch op.expected.Kind {
	case ExpectAny:
		if done, err := w.retryOfAny(b, op); done || err != nil {
			return false, err
		}
	case ExpectStreamExists:
		if ret.softDeleted() {
			return false, &StreamDeletedError{Stream: op.stream}
		}
		if cur < 0 && !ret.present {
			return false, wev
		}
		if done, err := w.retryOfAny(b, op); done || err != nil {
			return false, err
		}
	case ExpectNoStream:
		if cur >= 0 && !ret.softDeleted() {
			return false, w.retryFrom(b, op, 0, wev)
		}
	case ExpectRevision:
		r := int64(op.expected.Revision)
		switch {
		case op.expected.Revision > DeletedStreamRevision || r > cur:
			return false, wev
		case r < cur:
			return false, w.retryFrom(b, op, uint64(r+1), wev)
		}
	}
	if len(op.events) == 0 {
		op.result = WriteResult{Revision: cur}
		return false, nil
	}

	created := TimeToTicks(now)
	first := uint64(cur + 1)
	if ret.softDeleted() {
		// Appending to a soft-deleted stream recreates it: the old events stay
		// hidden behind a $tb at the first new revision.
		if err := w.appendMetadata(b, op.stream, withTruncateBefore(ret.raw, int64(first)), created); err != nil {
			return false, err
		}
	}
	for i, ev := range op.events {
		rec := Record{
			Stream:   op.stream,
			Revision: first + uint64(i),
			ID:       ev.ID,
			Type:     ev.Type,
			JSON:     ev.JSON,
			Created:  created,
			Metadata: ev.Metadata,
			Data:     ev.Data,
		}
		if err := w.put(b, &rec, true); err != nil {
			return false, err
		}
	}
	last := int64(first) + int64(len(op.events)) - 1
	if err := w.setHead(b, op.stream, head{lastRevision: last}); err != nil {
		return false, err
	}
	op.result = WriteResult{Revision: last, Position: w.lastWritten}
	return true, nil
}

// retryFrom treats op as a retry of an append whose events were stored from
// revision from on: if all of them are there, op succeeds with the original
// result; otherwise the expected version was wrong.
func (w *writer) retryFrom(b *pebble.Batch, op *writeOp, from uint64, wev error) error {
	if len(op.events) == 0 {
		return wev
	}
	var lastPos uint64
	for i, ev := range op.events {
		rec, ok, err := readStreamRecord(b, op.stream, from+uint64(i))
		if err != nil {
			return err
		}
		if !ok || rec.ID != ev.ID {
			return wev
		}
		lastPos = rec.Position
	}
	op.result = WriteResult{Revision: int64(from) + int64(len(op.events)) - 1, Position: lastPos}
	return nil
}

// retryOfAny detects a retry of an append made without a revision condition:
// the first event id is already in the stream. done reports that op was
// answered (with the original result or a wrong-expected-version error).
func (w *writer) retryOfAny(b *pebble.Batch, op *writeOp) (done bool, err error) {
	if len(op.events) == 0 {
		return false, nil
	}
	pos, ok := w.recent.lookup(op.events[0].ID)
	if !ok {
		return false, nil
	}
	rec, found, err := readLogRecord(b, pos)
	if err != nil {
		return true, err
	}
	if !found || rec.Stream != op.stream {
		return false, nil
	}
	h, err := w.head(b, op.stream)
	if err != nil {
		return true, err
	}
	wev := &WrongExpectedVersionError{Stream: op.stream, Current: h.lastRevision, Expected: op.expected}
	return true, w.retryFrom(b, op, rec.Revision, wev)
}

func (w *writer) applyDelete(b *pebble.Batch, op *writeOp, h head, ret retention, now time.Time) (bool, error) {
	if err := checkDeleteExpected(op, h, ret); err != nil {
		return false, err
	}
	// A soft delete replaces the metadata: only $tb survives.
	meta := []byte(fmt.Sprintf(`{"$tb":%d}`, int64(DeletedStreamRevision)))
	if err := w.appendMetadata(b, op.stream, meta, TimeToTicks(now)); err != nil {
		return false, err
	}
	op.result = WriteResult{Revision: h.lastRevision, Position: w.lastWritten}
	return true, nil
}

func (w *writer) applyTombstone(b *pebble.Batch, op *writeOp, h head, ret retention, now time.Time) (bool, error) {
	if err := checkTombstoneExpected(op, h, ret); err != nil {
		return false, err
	}
	rec := Record{
		Stream:   op.stream,
		Revision: DeletedStreamRevision,
		ID:       newEventID(),
		Type:     TypeStreamDeleted,
		Created:  TimeToTicks(now),
	}
	if err := w.put(b, &rec, false); err != nil {
		return false, err
	}
	if err := w.setHead(b, op.stream, head{lastRevision: h.lastRevision, tombstoned: true}); err != nil {
		return false, err
	}
	op.result = WriteResult{Revision: DeletedStreamRevision, Position: w.lastWritten}
	return true, nil
}

func checkDeleteExpected(op *writeOp, h head, ret retention) error {
	cur := h.lastRevision
	wev := &WrongExpectedVersionError{Stream: op.stream, Current: cur, Expected: op.expected}
	if cur < 0 && !ret.present {
		return wev
	}
	switch op.expected.Kind {
	case ExpectNoStream:
		if cur >= 0 {
			return wev
		}
	case ExpectStreamExists:
		if ret.softDeleted() {
			return &StreamDeletedError{Stream: op.stream}
		}
	case ExpectRevision:
		if int64(op.expected.Revision) != cur || op.expected.Revision > DeletedStreamRevision {
			return wev
		}
	}
	return nil
}

func checkTombstoneExpected(op *writeOp, h head, ret retention) error {
	cur := h.lastRevision
	wev := &WrongExpectedVersionError{Stream: op.stream, Current: cur, Expected: op.expected}
	switch op.expected.Kind {
	case ExpectNoStream:
		if cur >= 0 && !ret.softDeleted() {
			return wev
		}
	case ExpectStreamExists:
		if cur < 0 && !ret.present {
			return wev
		}
	case ExpectRevision:
		if int64(op.expected.Revision) != cur || op.expected.Revision > DeletedStreamRevision {
			return wev
		}
	}
	return nil
}

// appendMetadata writes a $metadata record to stream's metastream.
func (w *writer) appendMetadata(b *pebble.Batch, stream string, data []byte, created int64) error {
	meta := MetastreamOf(stream)
	mh, err := w.head(b, meta)
	if err != nil {
		return err
	}
	rec := Record{
		Stream:   meta,
		Revision: uint64(mh.lastRevision + 1),
		ID:       newEventID(),
		Type:     TypeMetadata,
		JSON:     true,
		Created:  created,
		Data:     data,
	}
	if err := w.put(b, &rec, false); err != nil {
		return err
	}
	return w.setHead(b, meta, head{lastRevision: mh.lastRevision + 1})
}

// put assigns rec the next position and adds it to the log and the stream
// index (and, for user events, the event-id index).
func (w *writer) put(b *pebble.Batch, rec *Record, indexID bool) error {
	rec.Position = w.next
	w.buf = rec.encode(w.buf[:0])
	if err := b.Set(logKey(rec.Position), w.buf, nil); err != nil {
		return err
	}
	pos := encodePosition(rec.Position)
	if err := b.Set(streamKey(rec.Stream, rec.Revision), pos, nil); err != nil {
		return err
	}
	if indexID {
		w.recent.add(rec.ID, rec.Position)
	}
	w.lastWritten = rec.Position
	w.next += uint64(len(w.buf)) + recordOverhead
	return nil
}

// head is a stream's write-side state.
type head struct {
	lastRevision int64 // -1: no events
	tombstoned   bool
}

func readHead(r pebble.Reader, stream string) (head, error) {
	v, closer, err := r.Get(headKey(stream))
	if errors.Is(err, pebble.ErrNotFound) {
		return head{lastRevision: -1}, nil
	}
	if err != nil {
		return head{}, err
	}
	defer closer.Close()
	if len(v) != 9 {
		return head{}, fmt.Errorf("%w: bad head entry for stream %q", errCorruptRecord, stream)
	}
	return head{lastRevision: int64(binary.BigEndian.Uint64(v)) - 1, tombstoned: v[8] == 1}, nil
}

func writeHead(b *pebble.Batch, stream string, h head) error {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 9), uint64(h.lastRevision+1))
	var flag byte
	if h.tombstoned {
		flag = 1
	}
	return b.Set(headKey(stream), append(v, flag), nil)
}
