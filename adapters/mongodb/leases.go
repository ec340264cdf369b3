package mongodb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// LeasesCollection is where Leases keeps its documents.
const LeasesCollection = "leases"

// keptTerms is how many past terms of a lease stay stored behind the
// current one. Readers start from a hint that may lag (it is written after
// the term it names); as long as it lags by fewer terms than this, they
// find the current term by _id alone.
const keptTerms = 16

// Leases gives one owner at a time the right to run something (a
// projection, the mail reactor) across replicas. A lease is held until its
// expiry, computed from the clock given to NewLeases; the holder renews it
// well before then and stops working when a renewal fails.
//
// # How it stays safe without transactions or atomic updates
//
// Every state of a lease is an immutable document, a term:
// {_id: "<name>#<n>", owner, expiresAt, released}. Acquiring, renewing and
// releasing all insert term n+1 after reading term n. The unique _id lets
// exactly one insert of n+1 succeed; a contender that gets a duplicate key
// lost the race and does not hold the lease. Inserts are atomic on MongoDB
// and on FerretDB alike, which updates are not on FerretDB v1.
//
// A contender that stalled for longer than keptTerms changes would find its
// n+1 already deleted and could insert it again; every transition therefore
// reads the current term once more after its insert and counts only if its
// term is the current one.
//
// The current term is found by _id lookups: a head document {_id: <name>,
// term} records a recent term number, and the reader steps forward from it
// until a term is missing. Old terms are deleted keptTerms behind; if the
// hint points at a deleted term (it was written very late), the reader falls
// back to one query on the lease name, which is a scan on FerretDB but of a
// collection of a few dozen documents.
//
// Expiry compares times from the callers' clocks, so replicas need clocks
// within a small fraction of the TTL of each other (NTP).
type Leases struct {
	coll   *mongo.Collection
	now    func() time.Time
	logger *slog.Logger
	heads  keyedMutex
}

// NewLeases returns leases stored in db's leases collection, with expiry
// computed from now. A nil logger means slog.Default().
func NewLeases(db *mongo.Database, now func() time.Time, logger *slog.Logger) *Leases {
	if logger == nil {
		logger = slog.Default()
	}
	return &Leases{coll: db.Collection(LeasesCollection), now: now, logger: logger}
}

// Lease is one term of a lease: who holds it and until when.
type Lease struct {
	Name string `bson:"lease"`
	// Term counts the changes of the lease; a runner can pass it along as
	// a fencing token.
	Term      int64     `bson:"term"`
	Owner     string    `bson:"owner"`
	ExpiresAt time.Time `bson:"expiresAt"`
	Released  bool      `bson:"released"`
}

// HeldBy reports whether owner holds the lease at time now.
func (l Lease) HeldBy(owner string, now time.Time) bool {
	return !l.Released && l.Owner == owner && now.Before(l.ExpiresAt)
}

// free reports whether anyone may take the lease at time now.
func (l Lease) free(now time.Time) bool {
	return l.Released || !now.Before(l.ExpiresAt)
}

type termDoc struct {
	ID    string `bson:"_id"`
	Lease `bson:",inline"`
}

type headDoc struct {
	Term int64 `bson:"term"`
}

func termID(name string, term int64) string {
	return name + "#" + strconv.FormatInt(term, 10)
}

// Acquire takes the lease for owner for ttl if it is free (never taken,
// released or expired) or already held by owner, in which case it is
// extended. It reports false, with no error, when another owner holds it or
// won a concurrent attempt.
func (l *Leases) Acquire(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if err := checkLeaseArgs(name, owner, ttl); err != nil {
		return false, err
	}
	cur, found, err := l.current(ctx, name)
	if err != nil {
		return false, fmt.Errorf("mongodb: acquire lease %q: %w", name, err)
	}
	now := l.now()
	if found && !cur.free(now) && cur.Owner != owner {
		return false, nil
	}
	ok, err := l.next(ctx, name, cur.Term, Lease{Owner: owner, ExpiresAt: now.Add(ttl)})
	if err != nil {
		return false, fmt.Errorf("mongodb: acquire lease %q: %w", name, err)
	}
	return ok, nil
}

// Renew extends owner's lease to ttl from now. It reports false when owner
// no longer holds it (it expired, was released or was taken over); the
// caller must then stop the work the lease protects.
func (l *Leases) Renew(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if err := checkLeaseArgs(name, owner, ttl); err != nil {
		return false, err
	}
	cur, found, err := l.current(ctx, name)
	if err != nil {
		return false, fmt.Errorf("mongodb: renew lease %q: %w", name, err)
	}
	now := l.now()
	if !found || !cur.HeldBy(owner, now) {
		return false, nil
	}
	ok, err := l.next(ctx, name, cur.Term, Lease{Owner: owner, ExpiresAt: now.Add(ttl)})
	if err != nil {
		return false, fmt.Errorf("mongodb: renew lease %q: %w", name, err)
	}
	return ok, nil
}

// Release gives the lease up if owner holds it, so that another replica can
// take it at once instead of waiting for the expiry. Releasing a lease one
// does not hold is not an error.
func (l *Leases) Release(ctx context.Context, name, owner string) error {
	if err := checkLeaseArgs(name, owner, time.Second); err != nil {
		return err
	}
	cur, found, err := l.current(ctx, name)
	if err != nil {
		return fmt.Errorf("mongodb: release lease %q: %w", name, err)
	}
	now := l.now()
	if !found || !cur.HeldBy(owner, now) {
		return nil
	}
	if _, err := l.next(ctx, name, cur.Term, Lease{Owner: owner, ExpiresAt: now, Released: true}); err != nil {
		return fmt.Errorf("mongodb: release lease %q: %w", name, err)
	}
	return nil
}

// Get returns the current term of the lease, for status pages; found is
// false when it was never acquired.
func (l *Leases) Get(ctx context.Context, name string) (lease Lease, found bool, err error) {
	lease, found, err = l.current(ctx, name)
	if err != nil {
		return Lease{}, false, fmt.Errorf("mongodb: read lease %q: %w", name, err)
	}
	return lease, found, nil
}

func checkLeaseArgs(name, owner string, ttl time.Duration) error {
	switch {
	case name == "":
		return errors.New("mongodb: lease: empty name")
	case strings.Contains(name, "#"):
		// "#" separates the name from the term in _id.
		return fmt.Errorf("mongodb: lease %q: name must not contain '#'", name)
	case owner == "":
		return errors.New("mongodb: lease: empty owner")
	case ttl <= 0:
		return fmt.Errorf("mongodb: lease %q: ttl must be positive, got %v", name, ttl)
	}
	return nil
}

// next inserts the term after prev; it reports false when another term
// prev+1 exists already (someone else changed the lease first).
func (l *Leases) next(ctx context.Context, name string, prev int64, state Lease) (bool, error) {
	state.Name = name
	state.Term = prev + 1
	// BSON dates have millisecond precision; truncate so that what the
	// caller computed and what a reader sees agree.
	state.ExpiresAt = state.ExpiresAt.Truncate(time.Millisecond)
	_, err := l.coll.InsertOne(ctx, termDoc{ID: termID(name, state.Term), Lease: state})
	if mongo.IsDuplicateKeyError(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}

	l.setHead(ctx, name, state.Term)

	// A contender that stalled between reading term n and inserting n+1 for
	// longer than keptTerms changes of the lease would find n+1 deleted and
	// insert it again. The head has moved past it by then, so reading the
	// current term again tells: the insert only counts if it is current.
	cur, _, err := l.current(ctx, name)
	if err != nil {
		return false, fmt.Errorf("confirm term %d: %w", state.Term, err)
	}
	if cur.Term != state.Term {
		if cur.Term-state.Term >= keptTerms {
			_, _ = l.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: termID(name, state.Term)}})
		}
		return false, nil
	}
	if old := state.Term - keptTerms; old > 0 {
		if _, err := l.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: termID(name, old)}}); err != nil {
			l.logger.Warn("old lease term not deleted", "lease", name, "term", old, "err", err)
		}
	}
	return true, nil
}

// setHead records term as the lease's latest known term. The head only
// saves readers work, so a failure is logged, not returned. $max keeps it
// from moving back on MongoDB; FerretDB runs $max unlocked, so writes from
// this process are serialized per lease, and a head written by another
// process may lag a little, which readers tolerate.
func (l *Leases) setHead(ctx context.Context, name string, term int64) {
	defer l.heads.lock(name)()
	_, err := l.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: name}},
		bson.D{{Key: "$max", Value: bson.D{{Key: "term", Value: term}}}},
		options.Update().SetUpsert(true))
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		l.logger.Warn("lease head not updated", "lease", name, "term", term, "err", err)
	}
}

// current finds the latest term of name by _id lookups from the head's hint.
func (l *Leases) current(ctx context.Context, name string) (Lease, bool, error) {
	var head headDoc
	err := l.coll.FindOne(ctx, bson.D{{Key: "_id", Value: name}}).Decode(&head)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return Lease{}, false, err
	}
	from := max(head.Term, 1)
	cur, found, err := l.term(ctx, name, from)
	if err != nil {
		return Lease{}, false, err
	}
	if !found {
		// No head yet (a first acquirer has not written it), or the hint
		// names a term already deleted: look the latest term up by name.
		cur, found, err = l.latestByScan(ctx, name)
		if err != nil || !found {
			return Lease{}, false, err
		}
	}
	for {
		next, ok, err := l.term(ctx, name, cur.Term+1)
		if err != nil {
			return Lease{}, false, err
		}
		if !ok {
			return cur, true, nil
		}
		cur = next
	}
}

func (l *Leases) term(ctx context.Context, name string, term int64) (Lease, bool, error) {
	var doc termDoc
	err := l.coll.FindOne(ctx, bson.D{{Key: "_id", Value: termID(name, term)}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Lease{}, false, nil
	}
	if err != nil {
		return Lease{}, false, err
	}
	return doc.Lease, true, nil
}

func (l *Leases) latestByScan(ctx context.Context, name string) (Lease, bool, error) {
	var doc termDoc
	err := l.coll.FindOne(ctx, bson.D{{Key: "lease", Value: name}},
		options.FindOne().SetSort(bson.D{{Key: "term", Value: -1}})).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Lease{}, false, nil
	}
	if err != nil {
		return Lease{}, false, err
	}
	return doc.Lease, true, nil
}
