package store

import (
	"context"
	"math"
)

// Subscriber receives what a subscription delivers. A returned error ends
// the subscription with that error.
type Subscriber interface {
	Event(rec *Record) error
	// Checkpoint reports that everything up to pos has been scanned (filtered
	// $all subscriptions only).
	Checkpoint(pos uint64) error
	// CaughtUp reports that the subscription has delivered everything
	// committed so far and is now live; it is repeated after the subscription
	// fell behind (more than a page of backlog) and caught up again.
	CaughtUp() error
}

// AllSubscription configures SubscribeAll.
type AllSubscription struct {
	// After is the exclusive start position: records after it are delivered.
	// 0 delivers everything; End only what is committed from now on.
	After uint64
	// Filter selects the records to deliver; nil delivers every record.
	Filter func(*Record) bool
	// CheckpointInterval is the number of scanned records between
	// checkpoints; 0 sends none.
	CheckpointInterval int
}

// SubscribeAll delivers $all to sub until ctx is done, the store closes or
// sub fails. Catch-up and live delivery are the same loop: read a page of
// committed records after the cursor, deliver, and when nothing is left wait
// for the writer's wake-up. A slow subscriber therefore never holds the
// writer back and buffers nothing beyond one page: when it falls behind it
// simply keeps reading from storage.
func (s *Store) SubscribeAll(ctx context.Context, opts AllSubscription, sub Subscriber) error {
	cursor := opts.After
	if cursor == End {
		cursor = s.head.Load()
	}
	live := false
	scanned := 0
	lastCheckpoint := uint64(0)
	checkpoint := func(pos uint64) error {
		if pos < lastCheckpoint {
			pos = lastCheckpoint
		}
		lastCheckpoint = pos
		scanned = 0
		return sub.Checkpoint(pos)
	}
	for {
		page, err := s.allPage(cursor+1, pageSize)
		if err != nil {
			return err
		}
		for i := range page {
			rec := &page[i]
			cursor = rec.Position
			if opts.Filter == nil || opts.Filter(rec) {
				if err := sub.Event(rec); err != nil {
					return err
				}
			}
			scanned++
			if opts.CheckpointInterval > 0 && scanned >= opts.CheckpointInterval {
				if err := checkpoint(cursor); err != nil {
					return err
				}
			}
		}
		if len(page) == pageSize {
			live = false // a full page: there may be more backlog
			continue
		}
		if !live {
			if opts.CheckpointInterval > 0 && cursor > 0 {
				if err := checkpoint(cursor); err != nil {
					return err
				}
			}
			if err := sub.CaughtUp(); err != nil {
				return err
			}
			live = true
		}
		if err := s.WaitBeyond(ctx, cursor); err != nil {
			return err
		}
	}
}

// SubscribeStream delivers stream's visible events after revision after
// (math.MaxUint64-1 style sentinels: use SubscribeFromStart / End) to sub.
// A tombstone is delivered, then the subscription ends with
// *StreamDeletedError.
func (s *Store) SubscribeStream(ctx context.Context, stream string, from uint64, sub Subscriber) error {
	next := from // next revision to deliver
	if from == End {
		var h head
		durable := s.head.Load()
		if err := s.read(func() (err error) { h, err = durableHead(s.db, stream, durable); return err }); err != nil {
			return err
		}
		next = uint64(h.lastRevision + 1)
	}
	live := false
	for {
		headPos := s.head.Load()
		var h head
		var ret retention
		err := s.read(func() (err error) {
			if h, err = durableHead(s.db, stream, headPos); err != nil {
				return err
			}
			ret, err = durableRetention(s.db, stream, headPos)
			return err
		})
		if err != nil {
			return err
		}
		var page []Record
		more := false
		if next <= DeletedStreamRevision {
			if page, more, err = s.streamPage(stream, next, false, math.MaxInt64, headPos, pageSize); err != nil {
				return err
			}
		}
		now := s.now()
		for i := range page {
			rec := &page[i]
			next = rec.Revision + 1
			if rec.Revision == DeletedStreamRevision && rec.Type == TypeStreamDeleted {
				if err := sub.Event(rec); err != nil {
					return err
				}
				return &StreamDeletedError{Stream: stream}
			}
			if !ret.visible(rec, h.lastRevision, now) {
				continue
			}
			if err := sub.Event(rec); err != nil {
				return err
			}
		}
		if more {
			live = false
			continue
		}
		if !live {
			if err := sub.CaughtUp(); err != nil {
				return err
			}
			live = true
		}
		if err := s.WaitBeyond(ctx, headPos); err != nil {
			return err
		}
	}
}
