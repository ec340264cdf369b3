package eventstoredb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Connect builds one client for the connection string (for example
// "esdb://localhost:2113?tls=false") and routes its logs into logger. A
// malformed string is an error that says so (with any password redacted).
//
// The client connects lazily, on its first call, so Connect does not need
// the server to be up. Beware: when the client's node discovery fails (the
// server was down when a call needed a new connection) the client closes
// itself for good, and every later call fails with ErrorCodeConnectionClosed
// even after the server is back. Long-running code should use Dial, whose
// Conn replaces such a client.
func Connect(ctx context.Context, connectionString string, logger *slog.Logger) (*esdb.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	conf, err := esdb.ParseConnectionString(connectionString)
	if err != nil {
		return nil, fmt.Errorf("event store connection string %s is not valid (expected e.g. esdb://host:2113?tls=false): %w",
			redactURL(connectionString), err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	conf.Logger = clientLogging(logger)
	client, err := esdb.NewClient(conf)
	if err != nil {
		return nil, fmt.Errorf("event store client for %s: %w", redactURL(connectionString), err)
	}
	return client, nil
}

// Conn is a long-lived connection to the event store: it hands out the
// current client and replaces a client that closed itself (see Connect).
// Share one Conn between the Store, health checks and subscriptions, and
// close the Conn, never one of its clients: the client panics ("send on
// closed channel") in calls that are still waiting for a connection when it
// is closed.
type Conn struct {
	connect func() (*esdb.Client, error)
	log     *slog.Logger

	mu       sync.Mutex
	client   *esdb.Client
	replaced chan struct{} // closed when Renew replaces client
	closed   bool
	inflight sync.WaitGroup // the Store's calls, which Close waits for
}

// errConnClosed reports a call on a Conn its owner closed.
var errConnClosed = errors.New("event store connection closed")

// closeWait bounds how long Close waits for calls in flight.
const closeWait = 2 * time.Second

// Dial validates the connection string and returns a Conn; like Connect it
// does not wait for the server.
func Dial(ctx context.Context, connectionString string, logger *slog.Logger) (*Conn, error) {
	if logger == nil {
		logger = slog.Default()
	}
	client, err := Connect(ctx, connectionString, logger)
	if err != nil {
		return nil, err
	}
	return &Conn{
		client:   client,
		replaced: make(chan struct{}),
		log:      logger,
		connect: func() (*esdb.Client, error) {
			return Connect(context.Background(), connectionString, logger)
		},
	}, nil
}

// Client returns the current client. Calls that fail with
// ErrorCodeConnectionClosed should report it through Renew.
func (c *Conn) Client() *esdb.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.client
}

// begin registers a call in flight and returns the client to use; end it
// with c.inflight.Done().
func (c *Conn) begin() (*esdb.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errConnClosed
	}
	c.inflight.Add(1)
	return c.client, nil
}

// Renew replaces dead, a client that closed itself, with a fresh one and
// returns the client to use from now on. Concurrent callers holding the same
// dead client get one replacement between them.
//
// The dead client is dropped, not closed: calls that queued for it while
// it was failing discovery wait on it forever (the Store's calls stop
// waiting when their context ends), and closing it would make them panic.
func (c *Conn) Renew(dead *esdb.Client) (*esdb.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errConnClosed
	}
	if c.client != dead {
		return c.client, nil
	}
	fresh, err := c.connect()
	if err != nil {
		return nil, err
	}
	c.client = fresh
	close(c.replaced) // releases the calls still waiting on dead (untilDone)
	c.replaced = make(chan struct{})
	c.log.Warn("event store client gave up after failed discovery; replaced it with a new one")
	return fresh, nil
}

// replacedSignal returns a channel closed once client is no longer the
// current one (closed already if it is not).
func (c *Conn) replacedSignal(client *esdb.Client) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != client {
		gone := make(chan struct{})
		close(gone)
		return gone
	}
	return c.replaced
}

// Close waits a little for the Store's calls in flight, then closes the
// current client. If calls are still stuck (the server is unreachable) it
// leaves the client open rather than make them panic; the process is
// about to exit anyway.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	client := c.client
	c.mu.Unlock()

	drained := make(chan struct{})
	go func() {
		c.inflight.Wait()
		close(drained)
	}()
	select {
	case <-drained:
		return client.Close()
	case <-time.After(closeWait):
		c.log.Warn("event store calls still waiting for the server at close; leaving the client to the exiting process")
		return nil
	}
}

// clientLogging routes the client's log lines into slog, under the
// caller's logger (which names the component). Its info lines (discovery
// attempts) are chatter, so they go to debug, and so does an error about
// a call this process cancelled: the client reports every subscription
// we close (a projection stopping, a rebuild's catch-up done) as
// "subscription has dropped" at error level.
func clientLogging(logger *slog.Logger) esdb.LoggingFunc {
	return func(level esdb.LogLevel, format string, args ...any) {
		l := slog.LevelDebug
		switch {
		case level == esdb.LogWarn:
			l = slog.LevelWarn
		case level == esdb.LogError && !cancelledHere(args):
			l = slog.LevelError
		}
		if !logger.Enabled(context.Background(), l) {
			return
		}
		logger.Log(context.Background(), l, fmt.Sprintf(format, args...))
	}
}

// cancelledHere tells whether a client log line is about a call cancelled
// by its context: one of its arguments is that error, or the gRPC status
// the client turns it into.
func cancelledHere(args []any) bool {
	for _, a := range args {
		if err, ok := a.(error); ok && (errors.Is(err, context.Canceled) || status.Code(err) == codes.Canceled) {
			return true
		}
	}
	return false
}

// redactURL hides a password before a connection string goes into an error
// message (and from there into logs).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		// Cluster strings with several hosts do not parse as URLs; do not
		// echo something that may contain credentials.
		return "(unparsable URL)"
	}
	return fmt.Sprintf("%q", u.Redacted())
}
