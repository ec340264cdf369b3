// Package store is the storage engine of the embedded event store: an
// append-only log of records ordered by position ($all), a per-stream index,
// stream heads and an event-id index, all kept in Pebble. One writer
// goroutine applies appends in batches and commits each batch with a single
// fsync (group commit); readers and subscriptions read committed state and
// are woken when the head moves.
package store

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

// FormatVersion is the on-disk layout this build reads and writes.
const FormatVersion = 1

// firstPosition is where the log starts. Position 0 means "start of $all" on
// the wire, so no record may have it.
const firstPosition = 1

// Options tune a store. The zero value is usable.
type Options struct {
	Logger *slog.Logger
	// CacheSize is Pebble's block cache in bytes; 64 MiB when zero.
	CacheSize int64
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
	// MaxBatchOps caps how many appends share one commit; 256 when zero.
	MaxBatchOps int

	// beforeSync, when set, runs after a batch is applied and before its
	// fsync is awaited (tests hold a batch in that window).
	beforeSync func()
}

// Store is an open event store. All methods are safe for concurrent use.
type Store struct {
	db     *pebble.DB
	cache  *pebble.Cache
	log    *slog.Logger
	now    func() time.Time
	maxOps int
	opts   Options

	ops      chan *writeOp
	writerWG sync.WaitGroup

	// closeMu guards closed: readers hold it shared while they touch db, Close
	// holds it exclusively while it stops the writer and closes db.
	closeMu sync.RWMutex
	closed  bool
	stop    chan struct{}

	// head is the position of the last committed record (0 when empty).
	head   atomic.Uint64
	notify notifier
	// failed is set when a commit failed: the in-memory state may no longer
	// match the disk, so the store refuses further writes.
	failed atomic.Pointer[error]

	stats Stats
}

// Stats counts the store's work since it opened.
type Stats struct {
	Commits       atomic.Uint64 // fsynced batches
	Appends       atomic.Uint64 // acknowledged write operations
	EventsWritten atomic.Uint64
}

// Errors a caller maps onto the wire.
var (
	ErrClosed         = errors.New("event store is shut down")
	ErrStreamNotFound = errors.New("stream not found")
)

// StreamDeletedError reports a tombstoned stream (or, for stream_exists, a
// soft-deleted one).
type StreamDeletedError struct{ Stream string }

func (e *StreamDeletedError) Error() string { return fmt.Sprintf("stream %q is deleted", e.Stream) }

// WrongExpectedVersionError reports a failed optimistic concurrency check.
// Current is the stream's last revision, -1 when it has no events.
type WrongExpectedVersionError struct {
	Stream   string
	Current  int64
	Expected ExpectedRevision
}

func (e *WrongExpectedVersionError) Error() string {
	return fmt.Sprintf("wrong expected version on stream %q: expected %s, current revision %d", e.Stream, e.Expected, e.Current)
}

// Open opens (creating when needed) the store in dir.
func Open(dir string, opts Options) (*Store, error) {
	if dir == "" {
		return nil, errors.New("event store: no data directory given")
	}
	if err := checkDataDir(dir); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = 64 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBatchOps == 0 {
		opts.MaxBatchOps = 256
	}
	cache := pebble.NewCache(opts.CacheSize)
	db, err := pebble.Open(dir, pebbleOptions(cache, opts.Logger))
	if err != nil {
		cache.Unref()
		return nil, explainOpenError(dir, err)
	}
	s := &Store{
		db:     db,
		cache:  cache,
		log:    opts.Logger,
		now:    opts.Now,
		maxOps: opts.MaxBatchOps,
		opts:   opts,
		ops:    make(chan *writeOp, 1024),
		stop:   make(chan struct{}),
	}
	s.notify.init()
	if err := s.checkFormat(dir); err != nil {
		s.closeDB()
		return nil, err
	}
	next, err := s.recoverHead()
	if err != nil {
		s.closeDB()
		return nil, err
	}
	recent := newRecentIDs(recentIDCapacity)
	if err := s.seedRecentIDs(recent); err != nil {
		s.closeDB()
		return nil, fmt.Errorf("event store: reading the log tail: %w", err)
	}
	s.writerWG.Add(1)
	go s.writeLoop(next, recent)
	return s, nil
}

func pebbleOptions(cache *pebble.Cache, logger *slog.Logger) *pebble.Options {
	o := &pebble.Options{
		Cache:  cache,
		Logger: pebbleLogger{logger},
		// Bigger memtables mean fewer, larger flushes of the append-only log;
		// memory stays bounded (at most two are live at a time).
		MemTableSize: 16 << 20,
	}
	// Most point lookups the writer makes are for keys that do not exist
	// (a new stream's head, a stream without metadata): bloom filters let
	// them skip every table.
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	return o
}

func checkDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("event store: cannot create data directory %s: %w (check the path and its permissions)", dir, err)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("event store: data directory %s is not writable: %w (check its owner and permissions)", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

func explainOpenError(dir string, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "lock"):
		return fmt.Errorf("event store: data directory %s is in use by another process (%v): stop that process or choose another data directory", dir, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("event store: cannot read data directory %s: %w (check its owner and permissions)", dir, err)
	default:
		return fmt.Errorf("event store: cannot open data directory %s: %w (if it holds something other than event store data, choose another directory)", dir, err)
	}
}

func (s *Store) checkFormat(dir string) error {
	v, closer, err := s.db.Get(keyFormatVersion)
	if errors.Is(err, pebble.ErrNotFound) {
		if s.hasAnyKey() {
			return fmt.Errorf("event store: data directory %s has data but no format version: it was not written by this event store; choose another directory", dir)
		}
		return s.db.Set(keyFormatVersion, []byte(strconv.Itoa(FormatVersion)), pebble.Sync)
	}
	if err != nil {
		return fmt.Errorf("event store: reading format version: %w", err)
	}
	got := string(v)
	closer.Close()
	if got != strconv.Itoa(FormatVersion) {
		return fmt.Errorf("event store: data directory %s has format version %s but this build reads version %d: run the portal version that wrote it, or move the directory away to start empty", dir, got, FormatVersion)
	}
	return nil
}

func (s *Store) hasAnyKey() bool {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return false
	}
	defer it.Close()
	return it.First()
}

// recoverHead finds the last record and returns the next free position.
func (s *Store) recoverHead() (uint64, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixLog}, UpperBound: []byte{prefixLog + 1}})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	if !it.Last() {
		return firstPosition, it.Error()
	}
	pos := logKeyPosition(it.Key())
	s.head.Store(pos)
	return pos + uint64(len(it.Value())) + recordOverhead, nil
}

// Head is the position of the last committed record, 0 for an empty store.
func (s *Store) Head() uint64 { return s.head.Load() }

// Stats returns the store's counters.
func (s *Store) Stats() *Stats { return &s.stats }

// Close lets queued writes finish, stops the writer and closes the storage.
// Reads in progress finish first; later calls fail with ErrClosed.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	s.closeMu.Unlock()

	s.writerWG.Wait()
	s.notify.close()

	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	return s.closeDB()
}

func (s *Store) closeDB() error {
	err := s.db.Close()
	s.cache.Unref()
	return err
}

// Done is closed when the store starts shutting down.
func (s *Store) Done() <-chan struct{} { return s.stop }

// read runs fn while the store is guaranteed to stay open.
func (s *Store) read(fn func() error) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return fn()
}

type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("pebble: " + fmt.Sprintf(format, args...))
}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("pebble: " + fmt.Sprintf(format, args...))
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error("pebble fatal: " + fmt.Sprintf(format, args...))
	os.Exit(1)
}
