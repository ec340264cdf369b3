package eventstoredb

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// historyBatch is how many events one read of History asks for: large
// enough that an organization's stream takes few round trips, small enough
// that a stopped walk (asOf found its moment) did not read much past it.
const historyBatch = 256

// recorded is one event of a History read.
type recorded struct {
	event    domain.Event
	meta     commands.Metadata
	position commands.Position
	revision uint64
}

// History reads a stream forwards, in stream order, and hands each event
// to visit with its metadata (actor, ids, request time) and its commit
// position. It is the read behind history queries (the membership of an
// organization as of a past moment); the write side uses Load, which
// drops both.
//
// visit runs on the caller's goroutine. An error it returns stops the read
// and is returned as is, so a caller stops early with a sentinel of its
// own. A missing stream visits nothing. The stream is read in batches,
// each bounded like Load (DefaultTimeout when ctx has no deadline) and
// retried whole after a transient failure; a batch is visited only once it
// is complete, so no event is visited twice. An event the codec cannot decode
// fails the read (a history with a hole would answer a wrong past), and an
// unreachable store fails it with an error wrapping commands.ErrUnavailable.
func (s *Store) History(ctx context.Context, stream domain.StreamName,
	visit func(event domain.Event, meta commands.Metadata, position commands.Position) error) error {
	var from esdb.StreamPosition = esdb.Start{}
	for {
		batch, err := s.historyBatch(ctx, stream, from)
		if err != nil {
			return err
		}
		// An empty batch, not a short one, ends the walk: it does not rely
		// on the server filling every batch it can.
		if len(batch) == 0 {
			return nil
		}
		for _, r := range batch {
			if err := visit(r.event, r.meta, r.position); err != nil {
				return err
			}
		}
		from = esdb.Revision(batch[len(batch)-1].revision + 1)
	}
}

func (s *Store) historyBatch(ctx context.Context, stream domain.StreamName, from esdb.StreamPosition) ([]recorded, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	what := fmt.Sprintf("read history of stream %s", stream)
	for attempt := 0; ; attempt++ {
		client, err := s.conn.begin()
		if err != nil {
			return nil, classify(ctx, what, err)
		}
		batch, err := untilDone(ctx, s.conn, client, func() ([]recorded, error) {
			return s.readHistoryBatch(ctx, client, stream, from)
		})
		s.conn.inflight.Done()
		if err == nil {
			return batch, nil
		}
		if p := (permanent{}); errors.As(err, &p) {
			return nil, p.error
		}
		if err = s.retry(ctx, client, attempt, err); err != nil {
			return nil, classify(ctx, what, err)
		}
	}
}

func (s *Store) readHistoryBatch(ctx context.Context, client *esdb.Client, stream domain.StreamName, from esdb.StreamPosition) ([]recorded, error) {
	rs, err := client.ReadStream(ctx, string(stream), esdb.ReadStreamOptions{Direction: esdb.Forwards, From: from}, historyBatch)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var batch []recorded
	for {
		resolved, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return batch, nil
		}
		if err != nil {
			// A missing stream is the read's first answer (see load).
			if len(batch) == 0 && errorCode(err) == esdb.ErrorCodeResourceNotFound {
				return nil, nil
			}
			return nil, fmt.Errorf("after %d events of a batch: %w", len(batch), err)
		}
		rec := resolved.OriginalEvent()
		event, meta, err := s.codec.Decode(rec)
		if err != nil {
			return nil, permanent{err}
		}
		batch = append(batch, recorded{event: event, meta: meta, position: commands.Position(rec.Position.Commit), revision: rec.EventNumber})
	}
}
