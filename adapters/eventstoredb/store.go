package eventstoredb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// maxRetries is how often Append and Load retry after a transient failure.
// An append retry resends the same event ids, so the server writes the
// events at most once even when the first attempt did reach it.
const maxRetries = 2

// retryBackoff is the pause before the n-th retry (n starts at 1).
func retryBackoff(n int) time.Duration { return time.Duration(n) * 150 * time.Millisecond }

// DefaultTimeout bounds a Load or Append (retries included) whose context
// has no deadline. The client's search for a server ignores contexts and
// can leave a call waiting forever; no request should.
const DefaultTimeout = 15 * time.Second

// Store implements commands.EventStore on an EventStoreDB connection.
type Store struct {
	conn  *Conn
	codec *Codec
}

// bounded gives ctx the default deadline unless it has one.
func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

var _ commands.EventStore = (*Store)(nil)

// NewStore returns a store over conn (see Dial) and codec.
func NewStore(conn *Conn, codec *Codec) (*Store, error) {
	if conn == nil || codec == nil {
		return nil, errors.New("eventstoredb: store needs a connection and a codec")
	}
	return &Store{conn: conn, codec: codec}, nil
}

// Load reads the whole stream forwards. A missing stream loads as no events
// and commands.NoStream. A stored event the codec cannot decode fails the
// load: folding a history with a hole in it would decide on a wrong state.
func (s *Store) Load(ctx context.Context, stream domain.StreamName) (commands.Loaded, error) {
	return s.read(ctx, fmt.Sprintf("read stream %s", stream), func(ctx context.Context, client *esdb.Client) (commands.Loaded, error) {
		return s.load(ctx, client, stream)
	})
}

// read runs one read of a stream (Load, LoadFrom) within the default
// deadline, retrying transient failures on a fresh client; what names the
// read in errors.
func (s *Store) read(ctx context.Context, what string, read func(context.Context, *esdb.Client) (commands.Loaded, error)) (commands.Loaded, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	for attempt := 0; ; attempt++ {
		client, err := s.conn.begin()
		if err != nil {
			return commands.Loaded{}, classify(ctx, what, err)
		}
		// The whole read runs under untilDone: besides opening it, a failing
		// Recv can block too (the client reports the failure to its
		// connection loop, which may have stopped).
		loaded, err := untilDone(ctx, s.conn, client, func() (commands.Loaded, error) {
			return read(ctx, client)
		})
		s.conn.inflight.Done()
		if err == nil {
			return loaded, nil
		}
		if p := (permanent{}); errors.As(err, &p) {
			return commands.Loaded{}, p.error
		}
		if err = s.retry(ctx, client, attempt, err); err != nil {
			return commands.Loaded{}, classify(ctx, what, err)
		}
	}
}

func (s *Store) load(ctx context.Context, client *esdb.Client, stream domain.StreamName) (commands.Loaded, error) {
	loaded := commands.Loaded{Revision: commands.NoStream}
	rs, err := client.ReadStream(ctx, string(stream), esdb.ReadStreamOptions{Direction: esdb.Forwards, From: esdb.Start{}}, math.MaxUint64)
	if err != nil {
		return commands.Loaded{}, err
	}
	defer rs.Close()
	for {
		resolved, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return loaded, nil
		}
		if err != nil {
			// The server reports a missing stream as the first answer of
			// the read, not as an error of ReadStream.
			if len(loaded.Events) == 0 && errorCode(err) == esdb.ErrorCodeResourceNotFound {
				return commands.Loaded{Revision: commands.NoStream}, nil
			}
			// Anything else, a broken connection included, is not the end
			// of the stream: what we have so far is not the history.
			return commands.Loaded{}, fmt.Errorf("after %d events: %w", len(loaded.Events), err)
		}
		rec := resolved.OriginalEvent()
		event, _, err := s.codec.Decode(rec)
		if err != nil {
			return commands.Loaded{}, permanent{err}
		}
		loaded.Events = append(loaded.Events, event)
		loaded.Revision = commands.Revision(rec.EventNumber)
	}
}

// Append writes events if the stream is still at expected and returns the
// commit position of the last one. It retries transient failures up to
// maxRetries times with the same event ids.
func (s *Store) Append(ctx context.Context, stream domain.StreamName, expected commands.Revision, meta commands.Metadata, events ...domain.Event) (commands.Position, error) {
	if len(events) == 0 {
		return 0, fmt.Errorf("eventstoredb: append to %s: no events", stream)
	}
	var want esdb.ExpectedRevision
	switch {
	case expected == commands.NoStream:
		want = esdb.NoStream{}
	case expected >= 0:
		want = esdb.Revision(uint64(expected))
	default:
		return 0, fmt.Errorf("eventstoredb: append to %s: invalid expected revision %d", stream, expected)
	}
	// Encode once: the ids must stay the same across retries.
	data := make([]esdb.EventData, len(events))
	for i, e := range events {
		d, err := s.codec.Encode(e, meta)
		if err != nil {
			return 0, err
		}
		data[i] = d
	}
	opts := esdb.AppendToStreamOptions{ExpectedRevision: want}
	what := fmt.Sprintf("append %d events to %s at revision %d", len(events), stream, expected)
	ctx, cancel := bounded(ctx)
	defer cancel()
	for attempt := 0; ; attempt++ {
		client, err := s.conn.begin()
		if err != nil {
			return 0, classify(ctx, what, err)
		}
		res, err := untilDone(ctx, s.conn, client, func() (*esdb.WriteResult, error) {
			return client.AppendToStream(ctx, string(stream), opts, data...)
		})
		s.conn.inflight.Done()
		if err == nil {
			return commands.Position(res.CommitPosition), nil
		}
		if errorCode(err) == esdb.ErrorCodeWrongExpectedVersion {
			conflict := domain.Conflict(commands.CodeConcurrentChange,
				"someone else changed this at the same time; reload and try again")
			return 0, fmt.Errorf("eventstoredb: %s: %w (%v)", what, conflict, err)
		}
		if err = s.retry(ctx, client, attempt, err); err != nil {
			return 0, classify(ctx, what, err)
		}
	}
}

// retry decides after a failed attempt: nil means "try again" (after a
// pause), otherwise the error to report. A client that closed itself is
// replaced first (see retryAfter).
func (s *Store) retry(ctx context.Context, client *esdb.Client, attempt int, err error) error {
	return retryAfter(ctx, s.conn, client, attempt, err)
}

// errClientReplaced ends a call that was still waiting on a client that
// gave up and was replaced: that client never answers it.
var errClientReplaced = errors.New("the event store client gave up finding the server and was replaced")

// untilDone runs call, made on client, but returns when ctx is done even
// if call has not: the client looks for a server without looking at the
// context, which with an unreachable host takes far longer than any
// request may wait. It also returns, with errClientReplaced, once client
// has been replaced: calls that queued on a client while its discovery
// was failing are never answered, and would otherwise hold their request
// until its deadline (15 s for every concurrent command while the event
// store is down, found by cmd/portal's TestE2EEventStoreOutage). The call
// stays registered with conn until it really returns, so that Close does
// not close the client under it; a result that arrives after we gave up is
// dropped (the buffered channel lets the goroutine end).
func untilDone[T any](ctx context.Context, conn *Conn, client *esdb.Client, call func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	conn.inflight.Add(1) // the caller holds one already, so this cannot race Close's Wait
	callWorkers.run(func() {
		defer conn.inflight.Done()
		v, err := call()
		done <- result{v, err}
	})
	var zero T
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-conn.replacedSignal(client):
		select {
		case r := <-done: // answered after all
			return r.v, r.err
		default:
			return zero, errClientReplaced
		}
	}
}

// ForDomain wires the write side onto conn: a codec over the domain's event
// registry and the commands.EventStore using it.
func ForDomain(conn *Conn) (*Codec, *Store, error) {
	registry, err := domain.NewRegistry()
	if err != nil {
		return nil, nil, fmt.Errorf("event registry: %w", err)
	}
	codec, err := NewCodec(registry)
	if err != nil {
		return nil, nil, err
	}
	store, err := NewStore(conn, codec)
	if err != nil {
		return nil, nil, err
	}
	return codec, store, nil
}
