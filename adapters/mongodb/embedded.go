package mongodb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// DefaultEmbeddedListen is where the embedded server listens unless told
// otherwise: loopback only, on a port the kernel picks.
const DefaultEmbeddedListen = "127.0.0.1:0"

// EmbeddedConfig configures StartEmbedded.
type EmbeddedConfig struct {
	// Dir holds the SQLite files, one per database; it is created if
	// missing. Typically $PORTAL_DATA_DIR/readmodels.
	Dir string
	// Listen is the TCP address to listen on; empty means
	// DefaultEmbeddedListen. Anything other than loopback exposes the read
	// models without authentication.
	Listen string
	// Logger receives FerretDB's warnings and errors (it logs every
	// connection at info level, so lower levels are dropped, as is the
	// warning about the driver's endSessions it does not implement). Nil
	// means slog.Default().
	Logger *slog.Logger
}

// Embedded is a FerretDB v1 server with the SQLite backend running inside
// this process, speaking the MongoDB wire protocol on a TCP port.
type Embedded struct {
	uri    string
	dir    string
	unlock func() error
	cancel context.CancelFunc
	done   chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// StartEmbedded starts FerretDB with its data under cfg.Dir and returns once
// it accepts connections. Only one process may serve a directory at a time
// (FerretDB keeps the catalogue of collections in memory): a second
// StartEmbedded on the same directory fails while the first runs.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.Dir == "" {
		return nil, errors.New("mongodb: embedded server needs a data directory")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("mongodb: embedded data directory %q: %w", cfg.Dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mongodb: embedded data directory: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("mongodb: embedded data directory %s: %w", dir, err)
	}
	listen := cfg.Listen
	if listen == "" {
		listen = DefaultEmbeddedListen
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = slog.New(ferretLog{Handler: logger.Handler(), min: slog.LevelWarn}).With("component", "ferretdb")

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: sqliteURL(dir),
	})
	if err != nil {
		_ = unlock()
		return nil, fmt.Errorf("mongodb: start embedded FerretDB in %s: %w", dir, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	e := &Embedded{
		// The listener is bound inside New, so the address is known now.
		uri:    withPoolLimit(f.MongoDBURI()),
		dir:    dir,
		unlock: unlock,
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go func() {
		defer close(e.done)
		if err := f.Run(ctx); err != nil {
			logger.Error("embedded FerretDB stopped", "err", err)
		}
	}()
	return e, nil
}

// sqlitePragmas are the SQLite settings of every database file, in the
// order SQLite must apply them (the busy handler before WAL is enabled).
// FerretDB adds the first two itself when they are missing; naming them
// here keeps that order with our addition.
//
// synchronous(normal) is the one we change: in WAL mode SQLite's default,
// FULL, fsyncs the WAL on every commit, i.e. on every write a projection
// makes (several per event). NORMAL fsyncs only at WAL checkpoints. A
// process crash still loses nothing (the WAL is in the OS's page cache);
// a power loss or kernel crash can lose the last commits, but never
// corrupts the file and loses them in commit order. That is safe here
// because everything in these files can be rebuilt from the event store
// and each projection's checkpoint lives in the same file as its
// documents, committed after them: a rollback takes documents and
// checkpoint back together to an earlier consistent point, and the
// projection re-applies the events after it (apply is idempotent). The
// other documents behave the same way: a lease term lost this way is
// only a lease the restarted process (the only one using an embedded
// database) takes again after its TTL; a mail reactor checkpoint that
// goes back only makes the reactor read events again, and it checks the
// invitation's stream before sending, so no mail goes out twice because
// of it.
//
// temp_store(memory) keeps SQLite's statement journals in memory. FerretDB
// inserts each document of an insertMany as its own statement in one
// transaction, and SQLite journals the pages every statement changes so
// that it can undo that statement alone; past 64 KiB that journal spills
// into a temporary file, so a batch of a thousand documents wrote (and
// then threw away) most of its pages twice. In memory it costs a few MiB
// for the length of a batch; the rebuild of the audit trail, which is
// bound by FerretDB's insert rate, went from about 9,000 to 11,000
// events/s (BENCHMARKS.md).
var sqlitePragmas = []string{"busy_timeout(10000)", "journal_mode(wal)", "synchronous(normal)", "temp_store(memory)"}

// sqliteURL is FerretDB's SQLite URL for the files in dir. A URL built
// this way escapes whatever the path contains (spaces, '?', '#'); FerretDB
// wants a directory URI ending in a slash.
func sqliteURL(dir string) string {
	return (&url.URL{Scheme: "file", Path: dir + "/", RawQuery: url.Values{"_pragma": sqlitePragmas}.Encode()}).String()
}

// URI is the mongodb:// address of the server, for Connect.
func (e *Embedded) URI() string { return e.uri }

// Dir is the absolute directory of the SQLite files.
func (e *Embedded) Dir() string { return e.dir }

// Close stops accepting connections, waits for the open ones to end and
// closes the SQLite databases. Disconnect clients first: FerretDB gives
// connections still open up to 3 s before it cuts them. Close is safe to
// call more than once.
func (e *Embedded) Close() error {
	e.closeOnce.Do(func() {
		e.cancel()
		<-e.done
		e.closeErr = e.unlock()
	})
	return e.closeErr
}

// ferretLog passes on FerretDB's records at min or above, except the noise
// at warn level: it logs every failed command's response as a header record
// and a dump of the message, and the driver's endSessions, which FerretDB
// does not implement, fails on every client disconnect. Other failed
// commands (an operator FerretDB lacks, say) still get through.
//
// FerretDB derives a logger with attributes for every SQL statement it
// runs; the wrapped handler would format those attributes each time (a
// noticeable share of a bulk insert's CPU), so they are only recorded here
// and applied to the few records that pass.
type ferretLog struct {
	slog.Handler
	min slog.Level
	ops []func(slog.Handler) slog.Handler // WithAttrs/WithGroup, in order
}

func (h ferretLog) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h ferretLog) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "Response header:") ||
		strings.Contains(r.Message, "no such command: 'endSessions'") {
		return nil
	}
	handler := h.Handler
	for _, op := range h.ops {
		handler = op(handler)
	}
	return handler.Handle(ctx, r)
}

func (h ferretLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.with(func(next slog.Handler) slog.Handler { return next.WithAttrs(attrs) })
}

func (h ferretLog) WithGroup(name string) slog.Handler {
	return h.with(func(next slog.Handler) slog.Handler { return next.WithGroup(name) })
}

func (h ferretLog) with(op func(slog.Handler) slog.Handler) ferretLog {
	ops := make([]func(slog.Handler) slog.Handler, len(h.ops), len(h.ops)+1)
	copy(ops, h.ops)
	return ferretLog{Handler: h.Handler, min: h.min, ops: append(ops, op)}
}

// embeddedMaxPoolSize bounds the connections a client of the embedded
// FerretDB opens (the driver's default is 100). FerretDB v1's SQLite
// backend has 100 connections per database, and an update holds two of
// them at once (the query that finds the document, then the transaction
// that writes it): a hundred updates in flight each hold one and wait for
// the other, for ever. Updates abandoned by a client timeout keep running
// in FerretDB, so the client's own bound must leave room for them.
const embeddedMaxPoolSize = 16

// withPoolLimit adds maxPoolSize to a mongodb:// URI that sets none.
func withPoolLimit(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	q := u.Query()
	if q.Get("maxPoolSize") == "" {
		q.Set("maxPoolSize", strconv.Itoa(embeddedMaxPoolSize))
	}
	u.RawQuery = q.Encode()
	return u.String()
}
