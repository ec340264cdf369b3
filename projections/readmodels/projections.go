package readmodels

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/projections"
)

// Options tune the projections.
type Options struct {
	// PrepareCollection, when set, runs on every collection of a version
	// once it exists (created for live writes, or filled by a rebuild).
	// The composition root passes the embedded FerretDB's
	// mongodb.Embedded.IndexIDs, which makes its _id lookups use an index.
	PrepareCollection func(ctx context.Context, coll *mongo.Collection) error
	// CacheSize bounds the documents each live applier remembers; 10,000
	// when zero.
	CacheSize int
	// Reader, when set, is this process's reader: the live users
	// projection hands it the rows each flush stored (see
	// MongoReader.pushRows), so that its Users page cache moves with
	// them instead of reading them back.
	Reader *MongoReader
}

// Projections returns the three read models, users, invitations and
// audit, over db.
func Projections(db *mongo.Database, opts Options) []projections.Projection {
	return []projections.Projection{NewUsers(db, opts), NewInvitations(db, opts), NewAudit(db, opts)}
}

// Names lists the projections' names, which are also their collection
// bases.
func Names() []string { return []string{UsersBase, InvitationsBase, AuditBase} }

// lookupSuffix names a projection's lookup collection: "<base>_lookup_v<N>".
const lookupSuffix = "_lookup"

// store is what the three projections share: a main collection and a
// lookup collection per version.
type store struct {
	db      *mongo.Database
	base    string
	types   []string
	indexes []mongo.IndexModel
	opts    Options
	server  *serverKind
}

// serverKind remembers whether the database is FerretDB.
type serverKind struct {
	mu     sync.Mutex
	known  bool
	ferret bool
}

func (k *serverKind) isFerretDB(ctx context.Context, db *mongo.Database) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.known {
		ferret, err := mongodb.IsFerretDB(ctx, db)
		if err != nil {
			return false, err
		}
		k.known, k.ferret = true, ferret
	}
	return k.ferret, nil
}

func newStore(db *mongo.Database, base string, types []string, indexes []mongo.IndexModel, opts Options) store {
	if opts.CacheSize <= 0 {
		opts.CacheSize = 10_000
	}
	return store{db: db, base: base, types: types, indexes: indexes, opts: opts, server: &serverKind{}}
}

func (s *store) Name() string { return s.base }
func (s *store) Base() string { return s.base }

func (s *store) Handles(eventType string) bool { return slices.Contains(s.types, eventType) }

func (s *store) main(version int) *mongo.Collection { return mongodb.Collection(s.db, s.base, version) }
func (s *store) lookup(version int) *mongo.Collection {
	return mongodb.Collection(s.db, s.base+lookupSuffix, version)
}

// Prepare implements projections.Projection.
func (s *store) Prepare(ctx context.Context, version int) error {
	for _, coll := range []*mongo.Collection{s.main(version), s.lookup(version)} {
		if err := createCollection(ctx, coll); err != nil {
			return err
		}
	}
	return s.finish(ctx, version)
}

// finish indexes version's collections, which exist by now.
func (s *store) finish(ctx context.Context, version int) error {
	main, lookup := s.main(version), s.lookup(version)
	ferret, err := s.server.isFerretDB(ctx, s.db)
	if err != nil {
		return classify(fmt.Errorf("readmodels: server kind: %w", err))
	}
	// FerretDB keeps each index as an SQLite index on a JSON expression:
	// it never uses them for these queries, and every insert would parse
	// the document once more per index.
	if !ferret {
		if err := createIndexes(ctx, main, s.indexes); err != nil {
			return err
		}
	}
	if s.opts.PrepareCollection != nil {
		for _, coll := range []*mongo.Collection{main, lookup} {
			if err := createCollection(ctx, coll); err != nil {
				return err
			}
			if err := s.opts.PrepareCollection(ctx, coll); err != nil {
				return classify(fmt.Errorf("readmodels: prepare %s: %w", coll.Name(), err))
			}
		}
	}
	return nil
}

// Drop implements projections.Projection.
func (s *store) Drop(ctx context.Context, version int) error {
	for _, coll := range []*mongo.Collection{s.main(version), s.lookup(version)} {
		if err := coll.Drop(ctx); err != nil {
			return classify(fmt.Errorf("readmodels: drop %s: %w", coll.Name(), err))
		}
	}
	return nil
}

// createCollection creates coll unless it exists. It asks first: FerretDB
// logs every failed command as a warning.
func createCollection(ctx context.Context, coll *mongo.Collection) error {
	names, err := coll.Database().ListCollectionNames(ctx, bson.D{{Key: "name", Value: coll.Name()}})
	if err != nil {
		return classify(fmt.Errorf("readmodels: list collections: %w", err))
	}
	if len(names) > 0 {
		return nil
	}
	err = coll.Database().CreateCollection(ctx, coll.Name())
	var ce mongo.CommandError
	if err == nil || errors.As(err, &ce) && ce.Code == 48 { // NamespaceExists: created meanwhile
		return nil
	}
	return classify(fmt.Errorf("readmodels: create %s: %w", coll.Name(), err))
}

// createIndexes creates the indexes coll lacks. Only the missing ones are
// sent: FerretDB v1 fails (it drops the connection) when asked to create
// an index that exists, where MongoDB does nothing.
func createIndexes(ctx context.Context, coll *mongo.Collection, models []mongo.IndexModel) error {
	specs, err := coll.Indexes().ListSpecifications(ctx)
	if err != nil {
		return classify(fmt.Errorf("readmodels: indexes of %s: %w", coll.Name(), err))
	}
	var missing []mongo.IndexModel
	for _, m := range models {
		if !slices.ContainsFunc(specs, func(s *mongo.IndexSpecification) bool { return s.Name == *m.Options.Name }) {
			missing = append(missing, m)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := coll.Indexes().CreateMany(ctx, missing); err != nil {
		return classify(fmt.Errorf("readmodels: indexes of %s: %w", coll.Name(), err))
	}
	return nil
}

// Users is the projection behind the Users page.
type Users struct{ store }

// NewUsers returns the users projection over db.
func NewUsers(db *mongo.Database, opts Options) *Users {
	return &Users{newStore(db, UsersBase, usersEventTypes, usersIndexes(), opts)}
}

// Live implements projections.Projection.
func (p *Users) Live(version int) projections.Applier {
	rows := newLiveTable[User](p.main(version), p.opts.CacheSize)
	rows.ids = newKnownIDs(orgOfRow, listOrgRows(p.main(version)))
	refs := newLiveTable[ref](p.lookup(version), p.opts.CacheSize)
	// The org stamps are written after everything else of a flush: a
	// reader that finds a stamp moved finds the rows that moved it.
	refs.late = func(id string) bool { return strings.HasPrefix(id, orgKeyPrefix) }
	a := newLiveApplier(func(e projections.Envelope) error { return foldUsers(rows, refs, e) }, rows, refs)
	if r := p.opts.Reader; r != nil {
		a.stored = func() { r.pushRows(version, rows, refs) }
	}
	return a
}

// Rebuild implements projections.Projection.
func (p *Users) Rebuild(_ context.Context, version int) (projections.Builder, error) {
	return &memFold[User]{store: &p.store, version: version, docs: memTable[User]{}, refs: memTable[ref]{}, fold: foldUsers}, nil
}

// Invitations is the projection behind the invitations list.
type Invitations struct{ store }

// NewInvitations returns the invitations projection over db.
func NewInvitations(db *mongo.Database, opts Options) *Invitations {
	return &Invitations{newStore(db, InvitationsBase, invitationsEventTypes, invitationsIndexes(), opts)}
}

// Live implements projections.Projection.
func (p *Invitations) Live(version int) projections.Applier {
	invs := newLiveTable[Invitation](p.main(version), p.opts.CacheSize)
	refs := newLiveTable[ref](p.lookup(version), p.opts.CacheSize)
	return newLiveApplier(func(e projections.Envelope) error { return foldInvitations(invs, refs, e) }, invs, refs)
}

// Rebuild implements projections.Projection.
func (p *Invitations) Rebuild(_ context.Context, version int) (projections.Builder, error) {
	return &memFold[Invitation]{store: &p.store, version: version, docs: memTable[Invitation]{}, refs: memTable[ref]{}, fold: foldInvitations}, nil
}

// maxPending bounds the documents a live applier keeps unwritten: past
// it, Apply flushes by itself after the event. Checkpoints (every 256
// events) flush long before that in the usual case; a burst of events
// that each write many documents is what this stops from growing memory.
// Flushing early is safe: it never moves the checkpoint, it only writes
// sooner.
const maxPending = 1024

// pendingTable is what a liveApplier needs of its tables, whatever their
// document type.
type pendingTable interface {
	begin(ctx context.Context)
	failed() error
	abort()
	size() int
	flush(ctx context.Context, late bool) error
	flushed()
	discard()
}

// liveApplier applies a fold to Mongo-backed tables (liveTable) and keeps
// their writes in memory until Flush, which the runner calls before every
// checkpoint save, or until more than maxPending documents wait. A flush
// writes the tables in the order given (rows before the lookups that
// point at them), then the late documents of every table (the org
// stamps), so that a stamp never runs ahead of its rows.
//
// A failed flush loses the writes of events that were acknowledged
// already, so the applier refuses to go on: Apply and Flush return an
// error wrapping projections.ErrRedeliver from then on, and the runner
// delivers the events after the last saved checkpoint again, to a new
// applier. The folds are idempotent per document position, so that is
// safe.
type liveApplier struct {
	mu     sync.Mutex // Apply and Flush (a subscriber closing may flush during an Apply)
	tables []pendingTable
	apply  func(projections.Envelope) error
	lost   error // the failed flush, once one failed
	// stored, when set, runs after a flush stored everything, before the
	// tables forget what they wrote.
	stored func()
}

func newLiveApplier(apply func(projections.Envelope) error, tables ...pendingTable) *liveApplier {
	return &liveApplier{tables: tables, apply: apply}
}

func (a *liveApplier) Apply(ctx context.Context, e projections.Envelope) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lost != nil {
		return a.lost
	}
	for _, t := range a.tables {
		t.begin(ctx)
	}
	err := a.apply(e)
	for _, t := range a.tables {
		err = errors.Join(err, t.failed())
	}
	if err != nil {
		// The event's writes go; those of the events before it stay.
		for _, t := range a.tables {
			t.abort()
		}
		return err
	}
	pending := 0
	for _, t := range a.tables {
		pending += t.size()
	}
	if pending > maxPending {
		return a.flush(ctx)
	}
	return nil
}

// Flush implements projections.Flusher: it writes every document the
// events applied so far changed.
func (a *liveApplier) Flush(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lost != nil {
		return a.lost
	}
	return a.flush(ctx)
}

func (a *liveApplier) flush(ctx context.Context) error {
	var err error
	for _, late := range []bool{false, true} {
		for _, t := range a.tables {
			if err = t.flush(ctx, late); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if err != nil {
		for _, t := range a.tables {
			t.discard()
		}
		a.lost = fmt.Errorf("%w: %w", projections.ErrRedeliver, err)
		return a.lost
	}
	if a.stored != nil {
		a.stored()
	}
	for _, t := range a.tables {
		t.flushed()
	}
	return nil
}

// memFold folds in memory and writes the result in bulk at Finish.
type memFold[T any] struct {
	store   *store
	version int
	docs    memTable[T]
	refs    memTable[ref]
	fold    func(table[T], table[ref], projections.Envelope) error
}

func (b *memFold[T]) Apply(_ context.Context, e projections.Envelope) error {
	return b.fold(b.docs, b.refs, e)
}

func (b *memFold[T]) Finish(ctx context.Context) error {
	if err := insertAll(ctx, b.store.main(b.version), b.docs); err != nil {
		return err
	}
	if err := insertAll(ctx, b.store.lookup(b.version), b.refs); err != nil {
		return err
	}
	return b.store.Prepare(ctx, b.version)
}

// Audit is the projection behind the audit trail.
type Audit struct{ store }

// NewAudit returns the audit projection over db.
func NewAudit(db *mongo.Database, opts Options) *Audit {
	return &Audit{newStore(db, AuditBase, nil, auditIndexes(), opts)}
}

// Handles implements projections.Projection: every domain event but the
// bookkeeping ones (the runner delivers domain events only).
func (p *Audit) Handles(eventType string) bool { return !auditSkipped[eventType] }

// Live implements projections.Projection. Each event inserts its entry
// (its _id is the event id, so a redelivery finds it and changes nothing);
// the entries are never read back, hence not cached.
func (p *Audit) Live(version int) projections.Applier {
	entries := newLiveTable[AuditEntry](p.main(version), 0)
	refs := newLiveTable[ref](p.lookup(version), p.opts.CacheSize)
	return newLiveApplier(func(e projections.Envelope) error {
		entry, ok, err := auditEntry(refs, e)
		if err == nil && ok {
			entries.insertNew(entry.ID, entry)
		}
		return err
	}, entries, refs)
}

// Rebuild implements projections.Projection. Entries stream into the new
// collection while the history is read; only the lookups stay in memory.
func (p *Audit) Rebuild(_ context.Context, version int) (projections.Builder, error) {
	return &auditBuild{store: &p.store, version: version, entries: newBulkWriter(p.main(version)), refs: memTable[ref]{}}, nil
}

type auditBuild struct {
	store   *store
	version int
	entries *bulkWriter
	refs    memTable[ref]
}

func (b *auditBuild) Apply(ctx context.Context, e projections.Envelope) error {
	entry, ok, err := auditEntry(b.refs, e)
	if err != nil || !ok {
		return err
	}
	return b.entries.add(ctx, entry)
}

func (b *auditBuild) Finish(ctx context.Context) error {
	if err := b.entries.close(ctx); err != nil {
		return err
	}
	if err := insertAll(ctx, b.store.lookup(b.version), b.refs); err != nil {
		return err
	}
	return b.store.Prepare(ctx, b.version)
}
