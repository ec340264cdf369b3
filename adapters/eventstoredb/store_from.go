package eventstoredb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// LoadFrom reads the events after revision after. The read starts at after
// itself: the event found there proves that the stream still holds the
// history the caller folded. A missing or deleted stream, or one whose
// first readable event is a later one (truncated, or deleted and written
// again), fails with commands.ErrHistoryChanged. Transient failures are
// retried as in Load.
func (s *Store) LoadFrom(ctx context.Context, stream domain.StreamName, after commands.Revision) (commands.Loaded, error) {
	if after < 0 {
		return commands.Loaded{}, fmt.Errorf("eventstoredb: read stream %s: invalid revision %d", stream, after)
	}
	what := fmt.Sprintf("read stream %s after revision %d", stream, after)
	return s.read(ctx, what, func(ctx context.Context, client *esdb.Client) (commands.Loaded, error) {
		return s.loadFrom(ctx, client, stream, after)
	})
}

func (s *Store) loadFrom(ctx context.Context, client *esdb.Client, stream domain.StreamName, after commands.Revision) (commands.Loaded, error) {
	changed := func(why string) error {
		return permanent{fmt.Errorf("eventstoredb: stream %s %s: %w", stream, why, commands.ErrHistoryChanged)}
	}
	rs, err := client.ReadStream(ctx, string(stream), esdb.ReadStreamOptions{Direction: esdb.Forwards, From: esdb.Revision(uint64(after))}, math.MaxUint64)
	if err != nil {
		return commands.Loaded{}, err
	}
	defer rs.Close()
	loaded := commands.Loaded{Revision: after}
	anchored := false
	for {
		resolved, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			if !anchored {
				return commands.Loaded{}, changed(fmt.Sprintf("holds no event at revision %d", after))
			}
			return loaded, nil
		}
		if err != nil {
			if !anchored {
				switch errorCode(err) {
				case esdb.ErrorCodeResourceNotFound:
					return commands.Loaded{}, changed("was deleted")
				case esdb.ErrorCodeStreamDeleted:
					return commands.Loaded{}, changed("was tombstoned")
				}
			}
			// As in load: a broken read is not the end of the stream.
			return commands.Loaded{}, fmt.Errorf("after %d events: %w", len(loaded.Events), err)
		}
		rec := resolved.OriginalEvent()
		if !anchored {
			if commands.Revision(rec.EventNumber) != after {
				return commands.Loaded{}, changed(fmt.Sprintf("starts at revision %d now", rec.EventNumber))
			}
			anchored = true // already folded by the caller: not decoded again
			continue
		}
		event, _, err := s.codec.Decode(rec)
		if err != nil {
			return commands.Loaded{}, permanent{err}
		}
		loaded.Events = append(loaded.Events, event)
		loaded.Revision = commands.Revision(rec.EventNumber)
	}
}
