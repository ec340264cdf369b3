package readmodels

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections"
)

// Strategy is how MongoReader answers Users pages.
type Strategy int

const (
	// StrategyAuto picks StrategyCached on FerretDB, StrategyIndexed
	// otherwise.
	StrategyAuto Strategy = iota
	// StrategyIndexed filters, sorts and pages on the server (one query
	// for the page, one aggregation for the counts), from the indexes the
	// projection creates.
	StrategyIndexed
	// StrategyCached reads an organization's rows once per change (its
	// org stamp) and filters, sorts and pages in memory: on FerretDB,
	// which decodes the whole collection for any query other than by _id,
	// that is one scan per change instead of two per page.
	StrategyCached
)

// ReaderOptions tune NewReader.
type ReaderOptions struct {
	Strategy Strategy
	// PositionTTL is how long Position reuses its answer (consistency
	// waits poll it); DefaultPositionTTL when zero.
	PositionTTL time.Duration
	// CacheRows bounds the rows StrategyCached keeps across organizations;
	// 100,000 when zero. One organization larger than that is kept alone.
	CacheRows int
	// Projections names the projections Position takes the lowest
	// checkpoint of; all three when empty (tests of one read model set
	// their own).
	Projections []string
	// Checkpoints is the process's checkpoint store, the one its
	// projections save and announce through (cmd/portal shares one). What
	// it reached counts without a read, the state is read only every
	// LocalStateTTL while it has reached the checkpoints of every
	// projection Position covers, and waiting requests wake when one
	// moves. NewReader makes a store of its own when nil, which reaches
	// nothing: every answer is read.
	Checkpoints *mongodb.CheckpointStore
	// LocalStateTTL is how long the state read is reused while the
	// projections run in this process (see Checkpoints):
	// DefaultLocalStateTTL when zero. It bounds how late the reader sees
	// what only the database shows: a switch to a new version made by
	// another replica (one made here is seen at once, see withReached), or a
	// projection's lease moving to another replica.
	LocalStateTTL time.Duration
}

// MongoReader implements Reader over the read models in a database: each
// query reads the active version of its collection (mongodb.Versions).
type MongoReader struct {
	db          *mongo.Database
	versions    *mongodb.Versions
	checkpoints *mongodb.CheckpointStore
	opts        ReaderOptions
	cache       *rowCache
	stamps      freshReads[ref] // org stamp reads, by rowCache key

	strategyMu sync.Mutex
	strategy   Strategy // resolved; StrategyAuto until asked

	// The reader state (active versions and the position), shared by
	// concurrent callers and reused for PositionTTL.
	posMu   sync.Mutex
	posAt   time.Time // when the read that gave posLast began
	posLast readerState
	posRead *positionRead // in flight, nil when none
	// posReads counts the state reads made (for tests), stampReads the
	// org stamp reads (for tests and CacheStats).
	posReads   atomic.Int64
	stampReads atomic.Int64

	// Requests waiting for a position (AwaitPosition), by the read models
	// they wait for (waitGroupKey), and whether a poller runs for them.
	waitMu  sync.Mutex
	waiters map[string]*waitGroup
	polling bool
}

// DefaultPositionTTL is how long Position reuses an answer by default.
// Every read with a consistency token polls Position until it passes the
// token, so the TTL is latency added to such reads (up to one TTL after
// the checkpoint moved), and 1/TTL bounds the position reads per second
// however many requests wait: a read is two small queries (the active
// versions, then their checkpoints; it was six lookups by _id, about 3 ms
// of the embedded server's time, before), so 10 ms keeps it well under a
// tenth of a core while the commands-to-Users-page budget is 250 ms.
const DefaultPositionTTL = 10 * time.Millisecond

// DefaultLocalStateTTL is how long the state read is reused while the
// projections Position covers take their checkpoints in this process.
// Before, the state was read every PositionTTL whatever ran where: two
// queries a hundred times a second under consistency reads, a third of
// the embedded database's commands in the lag benchmark.
const DefaultLocalStateTTL = time.Second

// positionReadTimeout bounds one position read, which the callers that
// wait for it share.
const positionReadTimeout = 10 * time.Second

// positionRead is a state read in flight, which concurrent callers wait
// for rather than each reading.
type positionRead struct {
	done chan struct{}
	st   readerState
	err  error
}

var _ Reader = (*MongoReader)(nil)

// NewReader returns a reader over db.
func NewReader(db *mongo.Database, opts ReaderOptions) *MongoReader {
	if opts.PositionTTL <= 0 {
		opts.PositionTTL = DefaultPositionTTL
	}
	if opts.LocalStateTTL <= 0 {
		opts.LocalStateTTL = DefaultLocalStateTTL
	}
	if opts.CacheRows <= 0 {
		opts.CacheRows = 100_000
	}
	if opts.Checkpoints == nil {
		opts.Checkpoints = mongodb.NewCheckpointStore(db)
	}
	if len(opts.Projections) == 0 {
		opts.Projections = Names()
	}
	return &MongoReader{
		db: db, versions: mongodb.NewVersions(db, time.Now), checkpoints: opts.Checkpoints,
		opts: opts, cache: newRowCache(opts.CacheRows), waiters: map[string]*waitGroup{},
	}
}

// usersStrategy resolves StrategyAuto once, by asking the server what it
// is.
func (r *MongoReader) usersStrategy(ctx context.Context) (Strategy, error) {
	if r.opts.Strategy != StrategyAuto {
		return r.opts.Strategy, nil
	}
	r.strategyMu.Lock()
	defer r.strategyMu.Unlock()
	if r.strategy == StrategyAuto {
		ferret, err := mongodb.IsFerretDB(ctx, r.db)
		if err != nil {
			return 0, readErr("server kind", err) // asked again next time
		}
		r.strategy = StrategyIndexed
		if ferret {
			r.strategy = StrategyCached
		}
	}
	return r.strategy, nil
}

// active returns the version serving reads of base; 0 before the first.
// For the read models Position covers it is taken from the shared state
// read (readState), at most PositionTTL old (LocalStateTTL while the
// projections run in this process): a Users page costs no lookup
// of its own for it. A version a rebuild replaced stays readable for a
// while after the switch (projections drops only the ones before it), so
// an answer that old still reads a complete collection.
func (r *MongoReader) active(ctx context.Context, base string) (int, error) {
	if slices.Contains(r.opts.Projections, base) {
		st, err := r.state(ctx)
		if err != nil {
			return 0, err
		}
		return st.actives[base], nil
	}
	a, found, err := r.versions.Active(ctx, base)
	if err != nil {
		return 0, readErr("active version of "+base, err)
	}
	if !found {
		return 0, nil
	}
	return a.Version, nil
}

// Position implements Reader: the lowest checkpoint among the projections'
// active versions. The stored checkpoints are read at most once per
// PositionTTL, and concurrent callers share one read, so that many
// requests waiting for a consistency token cost one read per TTL between
// them; what this process reached itself (ReaderOptions.Checkpoints) counts
// at once, and spares the read altogether while it covers every
// projection (LocalStateTTL). An answer is never wrong, only late:
// checkpoints only move forward.
func (r *MongoReader) Position(ctx context.Context, models ...string) (uint64, error) {
	st, err := r.state(ctx)
	if err != nil {
		return 0, err
	}
	return st.lowest(r.checkpoints, r.covered(models)), nil
}

// covered returns the indexes in ReaderOptions.Projections of models, the
// read models a read uses; nil (all of them) when models is empty or names
// none of them.
func (r *MongoReader) covered(models []string) []int {
	var idx []int
	for _, m := range models {
		if i := slices.Index(r.opts.Projections, m); i >= 0 && !slices.Contains(idx, i) {
			idx = append(idx, i)
		}
	}
	if len(idx) == len(r.opts.Projections) {
		return nil
	}
	slices.Sort(idx)
	return idx
}

// readerState is what one read of the read models' bookkeeping finds: the
// active version of each projection Position covers (absent before its
// first), the checkpoints of those versions, and (after withReached) the
// lowest of them.
type readerState struct {
	actives map[string]int
	names   []string          // the active versions' checkpoint names, "" for a projection without one
	next    []string          // the checkpoint names of the versions after them (what a rebuild saves before it switches)
	stored  map[string]uint64 // their stored positions, by checkpoint name
	pos     uint64
}

// withReached returns st with its lowest position, taking into account
// where this process's store has got (saved or announced), and whether it
// has got a position for every checkpoint st names (then the read is only
// needed for what the database alone shows). A rebuild in this process
// saves the checkpoint of the next version just before it switches to
// it: once that is saved, the state is read again at once rather than
// after LocalStateTTL.
func (st readerState) withReached(local *mongodb.CheckpointStore) (readerState, bool) {
	all := len(st.names) > 0
	for i := range st.names {
		pos, here := st.reached(local, i)
		all = all && here
		if i == 0 || pos < st.pos {
			st.pos = pos
		}
	}
	return st, all
}

// reached is the position of projection i (of ReaderOptions.Projections):
// the higher of its stored checkpoint and where this process's store has
// got; here reports that this process reached it (and saved no
// checkpoint of its next version, see withReached).
func (st readerState) reached(local *mongodb.CheckpointStore, i int) (pos uint64, here bool) {
	name := st.names[i]
	if name == "" {
		return 0, false
	}
	_, switching := local.Reached(st.next[i])
	pos = st.stored[name]
	p, ok := local.Reached(name)
	return max(pos, p), ok && !switching
}

// lowest is the lowest position among the projections idx names (indexes
// in ReaderOptions.Projections; nil: all of them, st.pos).
func (st readerState) lowest(local *mongodb.CheckpointStore, idx []int) uint64 {
	if idx == nil {
		return st.pos
	}
	var low uint64
	for n, i := range idx {
		if pos, _ := st.reached(local, i); n == 0 || pos < low {
			low = pos
		}
	}
	return low
}

// state returns the reader state: the last read, reused for PositionTTL
// (LocalStateTTL while this process reaches every checkpoint it covers),
// with where this process got applied; a new read is made once for
// concurrent callers.
func (r *MongoReader) state(ctx context.Context) (readerState, error) {
	r.posMu.Lock()
	if !r.posAt.IsZero() {
		age := time.Since(r.posAt)
		st, local := r.posLast.withReached(r.checkpoints)
		if age < r.opts.PositionTTL || local && age < r.opts.LocalStateTTL {
			r.posMu.Unlock()
			return st, nil
		}
	}
	read := r.posRead
	if read == nil {
		read = &positionRead{done: make(chan struct{})}
		r.posRead = read
		go r.readPosition(context.WithoutCancel(ctx), read)
	}
	r.posMu.Unlock()
	select {
	case <-read.done:
		if read.err != nil {
			return readerState{}, read.err
		}
		st, _ := read.st.withReached(r.checkpoints)
		return st, nil
	case <-ctx.Done():
		return readerState{}, ctx.Err()
	}
}

// readPosition makes the read that state's callers wait for, on a
// goroutine of its own: a caller that gives up must not fail the others.
func (r *MongoReader) readPosition(ctx context.Context, read *positionRead) {
	ctx, cancel := context.WithTimeout(ctx, positionReadTimeout)
	defer cancel()
	began := time.Now()
	r.posReads.Add(1)
	read.st, read.err = r.readState(ctx)
	r.posMu.Lock()
	r.posRead = nil
	if read.err == nil && began.After(r.posAt) {
		r.posAt, r.posLast = began, read.st
	}
	r.posMu.Unlock()
	close(read.done)
}

// readState reads the active versions, then their checkpoints: two
// queries whatever the number of projections (their collections hold one
// small document per read model or consumer).
func (r *MongoReader) readState(ctx context.Context) (readerState, error) {
	names := r.opts.Projections
	actives, err := r.versions.ActiveAll(ctx, names)
	if err != nil {
		return readerState{}, readErr("active versions", err)
	}
	st := readerState{actives: make(map[string]int, len(names)), names: make([]string, len(names)), next: make([]string, len(names))}
	for i, name := range names {
		if a, ok := actives[name]; ok && a.Version > 0 {
			st.actives[name] = a.Version
			st.names[i] = projections.CheckpointName(name, name, a.Version)
			st.next[i] = projections.CheckpointName(name, name, a.Version+1)
		}
	}
	st.stored, err = r.checkpoints.LoadMany(ctx, slices.DeleteFunc(slices.Clone(st.names), func(n string) bool { return n == "" }))
	if err != nil {
		return readerState{}, readErr("checkpoints", err)
	}
	return st, nil // pos is set by withReached
}

// User implements Reader.
func (r *MongoReader) User(ctx context.Context, org domain.OrgID, user domain.UserID) (User, bool, error) {
	version, err := r.active(ctx, UsersBase)
	if err != nil || version == 0 {
		return User{}, false, err
	}
	var lookup ref
	err = mongodb.Collection(r.db, UsersBase+lookupSuffix, version).FindOne(ctx, bson.D{{Key: "_id", Value: userKey(user)}}).Decode(&lookup)
	if errors.Is(err, mongo.ErrNoDocuments) || err == nil && (lookup.OrgID != org || lookup.Row == "") {
		return User{}, false, nil
	}
	if err != nil {
		return User{}, false, readErr("user lookup", err)
	}
	var u User
	err = mongodb.Collection(r.db, UsersBase, version).FindOne(ctx, bson.D{{Key: "_id", Value: lookup.Row}}).Decode(&u)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return User{}, false, nil
	}
	if err != nil {
		return User{}, false, readErr("user", err)
	}
	if u.OrgID != org || u.UserID != user {
		return User{}, false, nil
	}
	return u, true, nil
}

// limitOf applies the default and the bound to a page size.
func limitOf(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}

// decodeAll reads a cursor into a slice, wrapping failures for the API.
func decodeAll[T any](ctx context.Context, what string, cur *mongo.Cursor, err error) ([]T, error) {
	if err != nil {
		return nil, readErr(what, err)
	}
	out := []T{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, readErr(what, err)
	}
	return out, nil
}

// prefixRegex matches strings starting with the lower-cased q.
func prefixRegex(q string) bson.D {
	return bson.D{{Key: "$regex", Value: "^" + regexp.QuoteMeta(strings.ToLower(q))}}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("readmodels: "+format, args...)
}
