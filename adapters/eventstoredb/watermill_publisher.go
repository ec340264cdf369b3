package eventstoredb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/ThreeDotsLabs/watermill/message"
)

// PublisherConfig tunes a Publisher.
type PublisherConfig struct {
	// Timeout bounds one Publish call, retries included; DefaultTimeout
	// when zero.
	Timeout time.Duration
}

// Publisher is a Watermill publisher that appends messages to the event
// store: Publish(topic, msgs...) appends the messages, in one atomic
// append, to the stream named topic, with no expected revision.
//
// Each message becomes one event (see eventDataFromMessage): its UUID is
// the event id (a UUID v5 derived from it when it is not a UUID), so a
// retried publish of the same message is written once; the payload is the
// data; MetadataEventType names the event type (DefaultMessageEventType
// otherwise); the other metadata is stored as the event's custom metadata
// JSON, with our own keys (MetadataActor, …) under their stored names.
//
// Domain events are not published this way: commands append them through
// Store, with expected revisions. The Publisher is for Watermill's side.
type Publisher struct {
	conn    *Conn
	timeout time.Duration

	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup
}

var _ message.Publisher = (*Publisher)(nil)

// NewPublisher returns a publisher on conn. Closing the publisher leaves
// conn open: its owner closes it after the publishers and subscribers.
func NewPublisher(conn *Conn, cfg PublisherConfig) (*Publisher, error) {
	if conn == nil {
		return nil, errors.New("eventstoredb: publisher needs a connection")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	return &Publisher{conn: conn, timeout: cfg.Timeout}, nil
}

// errPublisherClosed reports a Publish after Close.
var errPublisherClosed = errors.New("eventstoredb: publisher is closed")

// Publish appends msgs to the stream topic, all or none. Transient
// failures are retried (with the same event ids) within the timeout; an
// event store that stays unreachable is an error wrapping
// commands.ErrUnavailable.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	if err := checkTopic(topic); err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errPublisherClosed
	}
	p.inflight.Add(1)
	p.mu.Unlock()
	defer p.inflight.Done()

	events := make([]esdb.EventData, len(msgs))
	for i, msg := range msgs {
		ev, err := eventDataFromMessage(msg)
		if err != nil {
			return fmt.Errorf("eventstoredb: publish to %s: %w", topic, err)
		}
		events[i] = ev
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	what := fmt.Sprintf("publish %d messages to %s", len(msgs), topic)
	for attempt := 0; ; attempt++ {
		client, err := p.conn.begin()
		if err != nil {
			return classify(ctx, what, err)
		}
		_, err = untilDone(ctx, p.conn, client, func() (*esdb.WriteResult, error) {
			return client.AppendToStream(ctx, topic, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, events...)
		})
		p.conn.inflight.Done()
		if err == nil {
			return nil
		}
		if err = retryAfter(ctx, p.conn, client, attempt, err); err != nil {
			return classify(ctx, what, err)
		}
	}
}

// Close waits for publishes in flight; later Publish calls fail.
func (p *Publisher) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.inflight.Wait()
	return nil
}

// checkTopic refuses topics that cannot name a stream of ours.
func checkTopic(topic string) error {
	switch {
	case topic == "":
		return errors.New("eventstoredb: empty topic (a topic is a stream name)")
	case strings.HasPrefix(topic, "$"):
		return fmt.Errorf("eventstoredb: topic %q names a system stream", topic)
	case len(topic) > 2048:
		return fmt.Errorf("eventstoredb: topic of %d bytes is longer than a stream name may be", len(topic))
	}
	return nil
}

// retryAfter decides after a failed attempt whether to try again, like
// Store.retry: nil means "try again" (after a pause, a client that closed
// itself replaced), otherwise the error to report.
func retryAfter(ctx context.Context, conn *Conn, client *esdb.Client, attempt int, err error) error {
	if clientGaveUp(err) {
		// Replace it even when giving up: the calls still waiting on it
		// are released only by its replacement (untilDone).
		if _, rerr := conn.Renew(client); rerr != nil {
			return fmt.Errorf("%w (and no new client: %w)", err, rerr)
		}
	}
	if attempt >= maxRetries || ctx.Err() != nil || !retryable(err) {
		return err
	}
	select {
	case <-time.After(retryBackoff(attempt + 1)):
		return nil
	case <-ctx.Done():
		return err
	}
}
