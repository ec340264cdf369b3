package mongodb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
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

	// A URL built this way escapes whatever the path contains (spaces, '?',
	// '#'); FerretDB wants a directory URI ending in a slash.
	sqliteURL := (&url.URL{Scheme: "file", Path: dir + "/"}).String()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
	})
	if err != nil {
		_ = unlock()
		return nil, fmt.Errorf("mongodb: start embedded FerretDB in %s: %w", dir, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	e := &Embedded{
		// The listener is bound inside New, so the address is known now.
		uri:    f.MongoDBURI(),
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
type ferretLog struct {
	slog.Handler
	min slog.Level
}

func (h ferretLog) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h ferretLog) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "Response header:") ||
		strings.Contains(r.Message, "no such command: 'endSessions'") {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h ferretLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	return ferretLog{Handler: h.Handler.WithAttrs(attrs), min: h.min}
}

func (h ferretLog) WithGroup(name string) slog.Handler {
	return ferretLog{Handler: h.Handler.WithGroup(name), min: h.min}
}
