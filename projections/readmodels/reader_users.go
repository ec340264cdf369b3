package readmodels

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/domain"
)

// sortField is the stored field behind a sort key; nullable says whether
// rows may lack it (sorted first ascending, last descending, as MongoDB
// does).
func sortField(sort string) (field string, nullable bool, err error) {
	switch sort {
	case "", SortEmail:
		return "normalizedEmail", false, nil
	case SortName:
		return "nameFold", false, nil
	case SortInvitedAt:
		return "invitedAt", true, nil
	case SortJoinedAt:
		return "joinedAt", true, nil
	}
	return "", false, invalid("unknown sort %q (email, name, invitedAt, joinedAt)", sort)
}

func checkUserStatus(s UserStatus) error {
	if s != "" && !slices.Contains(UserStatuses, s) {
		return invalid("unknown status %q", s)
	}
	return nil
}

// Users implements Reader.
func (r *MongoReader) Users(ctx context.Context, q UsersQuery) (UsersPage, error) {
	field, nullable, err := sortField(q.Sort)
	if err != nil {
		return UsersPage{}, err
	}
	if err := checkUserStatus(q.Status); err != nil {
		return UsersPage{}, err
	}
	hash := queryHash("users", string(q.OrgID), strings.ToLower(q.Q), string(q.Status), string(q.Role), field, boolString(q.Desc))
	after, err := decodeCursor(q.Cursor, hash)
	if err != nil {
		return UsersPage{}, err
	}
	version, err := r.active(ctx, UsersBase)
	if err != nil {
		return UsersPage{}, err
	}
	page := UsersPage{Items: []User{}, Counts: zeroCounts()}
	if version == 0 {
		return page, nil
	}
	strategy, err := r.usersStrategy(ctx)
	if err != nil {
		return UsersPage{}, err
	}
	limit := limitOf(q.Limit)
	if strategy == StrategyCached {
		page, err = r.usersCached(ctx, version, q, field, after, limit)
	} else {
		page, err = r.usersIndexed(ctx, version, q, field, nullable, after, limit)
	}
	if err != nil {
		return UsersPage{}, err
	}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		last := page.Items[limit-1]
		page.NextCursor = userCursor(hash, field, last).encode()
	}
	return page, nil
}

func zeroCounts() map[UserStatus]int {
	counts := make(map[UserStatus]int, len(UserStatuses))
	for _, s := range UserStatuses {
		counts[s] = 0
	}
	return counts
}

func boolString(b bool) string {
	if b {
		return "desc"
	}
	return "asc"
}

// userCursor is the cursor after u in the order of field.
func userCursor(hash, field string, u User) cursor {
	c := cursor{Query: hash, ID: u.ID}
	switch field {
	case "normalizedEmail":
		c.Str = &u.NormalizedEmail
	case "nameFold":
		c.Str = &u.NameFold
	case "invitedAt":
		c.Time = timeKey(u.InvitedAt)
	case "joinedAt":
		c.Time = timeKey(u.JoinedAt)
	}
	return c
}

// usersIndexed answers on the server: the counts over the filters but
// status, and the page (one more row than asked, to know whether another
// page follows).
func (r *MongoReader) usersIndexed(ctx context.Context, version int, q UsersQuery, field string, nullable bool, after *cursor, limit int) (UsersPage, error) {
	coll := mongodb.Collection(r.db, UsersBase, version)
	base := bson.D{{Key: "orgId", Value: q.OrgID}}
	if q.Role != "" {
		base = append(base, bson.E{Key: "role", Value: q.Role})
	}
	if q.Q != "" {
		base = append(base, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "normalizedEmail", Value: prefixRegex(q.Q)}},
			bson.D{{Key: "nameFold", Value: prefixRegex(q.Q)}},
		}})
	}
	type group struct {
		Status UserStatus `bson:"_id"`
		N      int        `bson:"n"`
	}
	cur, err := coll.Aggregate(ctx, bson.A{
		bson.D{{Key: "$match", Value: base}},
		bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$status"}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
	})
	groups, err := decodeAll[group](ctx, "users counts", cur, err)
	if err != nil {
		return UsersPage{}, err
	}
	page := UsersPage{Counts: zeroCounts()}
	for _, g := range groups {
		page.Counts[g.Status] = g.N
	}

	filter := base
	if q.Status != "" {
		filter = append(filter, bson.E{Key: "status", Value: q.Status})
	}
	if after != nil {
		filter = bson.D{{Key: "$and", Value: bson.A{filter, afterFilter(field, nullable, q.Desc, after)}}}
	}
	dir := 1
	if q.Desc {
		dir = -1
	}
	cur, err = coll.Find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: field, Value: dir}, {Key: "_id", Value: dir}}).
		SetLimit(int64(limit+1)))
	page.Items, err = decodeAll[User](ctx, "users", cur, err)
	return page, err
}

// afterFilter selects the rows after c in the order (field, _id), asc or
// desc, where a missing field sorts before every value.
func afterFilter(field string, nullable, desc bool, c *cursor) bson.D {
	var key any
	switch {
	case c.Str != nil:
		key = *c.Str
	case c.Time != nil:
		key = timeOf(*c.Time)
	}
	idOp, keyOp := "$gt", "$gt"
	if desc {
		idOp, keyOp = "$lt", "$lt"
	}
	if key == nil { // the cursor row had no value
		if !desc {
			return bson.D{{Key: "$or", Value: bson.A{
				bson.D{{Key: field, Value: nil}, {Key: "_id", Value: bson.D{{Key: idOp, Value: c.ID}}}},
				bson.D{{Key: field, Value: bson.D{{Key: "$ne", Value: nil}}}},
			}}}
		}
		return bson.D{{Key: field, Value: nil}, {Key: "_id", Value: bson.D{{Key: idOp, Value: c.ID}}}}
	}
	or := bson.A{
		bson.D{{Key: field, Value: bson.D{{Key: keyOp, Value: key}}}},
		bson.D{{Key: field, Value: key}, {Key: "_id", Value: bson.D{{Key: idOp, Value: c.ID}}}},
	}
	if desc && nullable {
		or = append(or, bson.D{{Key: field, Value: nil}})
	}
	return bson.D{{Key: "$or", Value: or}}
}

// usersCached answers from the organization's rows in memory, current as
// of the org stamp: a search through the rows' search index, anything
// else by going through every row (usersFromRows).
func (r *MongoReader) usersCached(ctx context.Context, version int, q UsersQuery, field string, after *cursor, limit int) (UsersPage, error) {
	org, err := r.orgRows(ctx, version, q.OrgID)
	if err != nil {
		return UsersPage{}, err
	}
	return usersFromRows(org.rows, &org.search, q, field, after, limit), nil
}

// usersFromRows answers q from rows, an organization's rows sorted by
// _id, and idx, their search index (nil for none). A search (q) goes
// through only the rows its prefix matches: a range of each order of the
// index, which overlap where both a row's email and its name match, so
// the rows of the name range whose email matched are left out. It hands
// them to usersScan, which finds them all matching and answers as it
// would from every row: the page and counts do not depend on the order of
// the rows it is given. Without q, or without an index, it scans every
// row; the counts then need every row anyway.
func usersFromRows(rows []*User, idx *searchIndex, q UsersQuery, field string, after *cursor, limit int) UsersPage {
	prefix := strings.ToLower(q.Q)
	if prefix == "" || idx == nil {
		return usersScan(rows, q, field, after, limit)
	}
	byEmail, byName := idx.matching(prefix)
	matched := byEmail // shared, as rows are: usersScan does not change it
	switch {
	case len(byEmail) == 0:
		matched = byName // no row's email matches: none is in both
	case len(byName) > 0:
		matched = make([]*User, len(byEmail), len(byEmail)+len(byName))
		copy(matched, byEmail)
		for _, u := range byName {
			if !strings.HasPrefix(u.NormalizedEmail, prefix) {
				matched = append(matched, u)
			}
		}
	}
	return usersScan(matched, q, field, after, limit)
}

// usersScan answers q from rows, each once and in any order, by going
// through every one: every row of the organization for a query without a
// search, the ones a search matched otherwise (usersFromRows); and the
// reference the search index's tests compare with. It keeps only the
// page's rows while it goes through them (they are shared, and an
// organization has thousands): the counts need every row, the page only
// the first limit+1 in order. The order is total (ties go by _id), so the
// page is the same whatever order the rows come in.
func usersScan(rows []*User, q UsersQuery, field string, after *cursor, limit int) UsersPage {
	prefix := strings.ToLower(q.Q)
	page := UsersPage{Items: []User{}, Counts: zeroCounts()}
	var counts [4]int // by statusIndex; a map update per row costs more than the rest of the loop
	less := rowOrderOf(field, q.Desc)
	var key *User
	if after != nil {
		key = &User{ID: after.ID}
		setSortKey(key, field, after)
	}
	top := make([]*User, 0, limit+1) // the page so far, in order
	for _, u := range rows {
		if q.Role != "" && u.Role != q.Role ||
			prefix != "" && !strings.HasPrefix(u.NormalizedEmail, prefix) && !strings.HasPrefix(u.NameFold, prefix) {
			continue
		}
		if s := statusIndex(u.Status); s >= 0 {
			counts[s]++
		} else {
			page.Counts[u.Status]++
		}
		if q.Status != "" && u.Status != q.Status || key != nil && less(u, key) <= 0 {
			continue
		}
		if len(top) == limit+1 && less(u, top[limit]) >= 0 {
			continue
		}
		at, _ := slices.BinarySearchFunc(top, u, less)
		if len(top) == limit+1 {
			top = top[:limit]
		}
		top = slices.Insert(top, at, u)
	}
	for s, n := range counts {
		page.Counts[UserStatuses[s]] += n
	}
	for _, u := range top {
		page.Items = append(page.Items, *u)
	}
	return page
}

// statusIndex is the index of s in UserStatuses, -1 for none.
func statusIndex(s UserStatus) int {
	switch s {
	case StatusInvited:
		return 0
	case StatusPendingVerification:
		return 1
	case StatusActive:
		return 2
	case StatusRemoved:
		return 3
	}
	return -1
}

// noRows is the rows of an organization without any.
var noRows = &orgRows{}

// orgRows returns the rows of org in version and their search index, from
// the cache while the org stamp has not moved, refreshed (rowCache) when
// it has. The result is shared: callers must not change it.
func (r *MongoReader) orgRows(ctx context.Context, version int, org domain.OrgID) (*orgRows, error) {
	// The version is part of the key: rows cached from the version a
	// rebuild replaced are never patched into the new one.
	key := mongodb.CollectionName(UsersBase, version) + "/" + string(org)
	if live := r.cache.current(key, r.opts.LocalStateTTL); live != nil {
		return live, nil // what the stamp read would find (rowCache.current)
	}
	stamp, err := r.readStamp(ctx, version, org)
	if err != nil {
		return nil, err
	}
	stamps := mongodb.Collection(r.db, UsersBase+lookupSuffix, version)
	if stamp.Position == 0 {
		return noRows, nil // no row ever
	}
	coll := mongodb.Collection(r.db, UsersBase, version)
	return r.cache.rows(ctx, key, stamp, rowSource{
		org: org,
		all: func(ctx context.Context) ([]User, error) {
			cur, err := coll.Find(ctx, bson.D{{Key: "orgId", Value: org}})
			return decodeAll[User](ctx, "users", cur, err)
		},
		byID: func(ctx context.Context, ids []string) ([]User, error) { return findByIDs(ctx, coll, ids) },
		changes: func(ctx context.Context, at, since int64) (*recentRows, error) {
			read := func(id string) (ref, error) {
				var list ref
				err := stamps.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&list)
				if err != nil && !isNoDocuments(err) {
					return ref{}, readErr("org change list", err)
				}
				return list, nil
			}
			list, err := read(changesKey(org))
			if err != nil || list.Position < at || list.Recent == nil {
				return nil, err // behind the stamp (never written so): reload
			}
			recent := list.Recent
			for seq := list.Seq - 1; recent.from > since && seq >= 0 && seq >= list.Seq-archivedLists; seq-- {
				older, err := read(archiveKey(org, seq))
				if err != nil {
					return nil, err
				}
				if older.Seq != seq || older.Position != recent.from || older.Recent == nil {
					break // overwritten since, or not the list this one continues
				}
				recent = older.Recent.join(recent)
			}
			return recent, nil
		},
	})
}

// readStamp reads the org stamp of org in version. Concurrent readers of
// the organization share the read, each one begun after it asked
// (freshReads): under load that is one read of the stamp at a time
// instead of one per page.
func (r *MongoReader) readStamp(ctx context.Context, version int, org domain.OrgID) (ref, error) {
	key := mongodb.CollectionName(UsersBase, version) + "/" + string(org)
	stamps := mongodb.Collection(r.db, UsersBase+lookupSuffix, version)
	return r.stamps.read(ctx, key, func(ctx context.Context) (ref, error) {
		var stamp ref
		r.stampReads.Add(1)
		err := stamps.FindOne(ctx, bson.D{{Key: "_id", Value: orgKey(org)}}).Decode(&stamp)
		if err != nil && !isNoDocuments(err) {
			return ref{}, readErr("org stamp", err)
		}
		return stamp, nil
	})
}

// fetchParallel is how many lookups by _id findByIDs keeps in flight:
// enough to hide the round trips, few enough to leave the server to the
// projections (the machine has two cores).
const fetchParallel = 4

// findByIDs reads the rows with ids that exist, in the order of ids, one
// lookup by _id each. It does not ask for {_id: {$in: ids}}: FerretDB v1
// answers only exactly {_id: x} from an index and scans the collection
// for that filter (measured: as slow as reading the whole collection,
// even for one id).
func findByIDs(ctx context.Context, coll *mongo.Collection, ids []string) ([]User, error) {
	found := make([]User, len(ids))
	exists := make([]bool, len(ids))
	var (
		next   atomic.Int64
		failed atomic.Pointer[error] // the first failure stops every worker
		wg     sync.WaitGroup
	)
	for range min(fetchParallel, len(ids)) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(ids) && failed.Load() == nil; i = int(next.Add(1)) - 1 {
				err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: ids[i]}}).Decode(&found[i])
				switch {
				case err == nil:
					exists[i] = true
				case !isNoDocuments(err):
					err = readErr("user "+ids[i], err)
					failed.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		return nil, *err
	}
	out := found[:0]
	for i := range found {
		if exists[i] {
			out = append(out, found[i])
		}
	}
	return out, nil
}

// setSortKey puts the cursor's key into the field of u that field names.
func setSortKey(u *User, field string, c *cursor) {
	var t *time.Time
	if c.Time != nil {
		tt := timeOf(*c.Time)
		t = &tt
	}
	switch field {
	case "normalizedEmail":
		u.NormalizedEmail = deref(c.Str)
	case "nameFold":
		u.NameFold = deref(c.Str)
	case "invitedAt":
		u.InvitedAt = t
	case "joinedAt":
		u.JoinedAt = t
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// rowOrder compares rows the way MongoDB sorts {field: dir, _id: dir}:
// strings bytewise, a missing date before any date.
func rowOrder(field string, desc bool) func(a, b User) int {
	less := rowOrderOf(field, desc)
	return func(a, b User) int { return less(&a, &b) }
}

// rowOrderOf is rowOrder over pointers, which spares copying rows for
// every comparison.
func rowOrderOf(field string, desc bool) func(a, b *User) int {
	key := func(a, b *User) int {
		switch field {
		case "nameFold":
			return strings.Compare(a.NameFold, b.NameFold)
		case "invitedAt":
			return compareTimes(a.InvitedAt, b.InvitedAt)
		case "joinedAt":
			return compareTimes(a.JoinedAt, b.JoinedAt)
		}
		return strings.Compare(a.NormalizedEmail, b.NormalizedEmail)
	}
	return func(a, b *User) int {
		c := key(a, b)
		if c == 0 {
			c = strings.Compare(a.ID, b.ID)
		}
		if desc {
			return -c
		}
		return c
	}
}

func compareTimes(a, b *time.Time) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return cmp.Compare(a.UnixMilli(), b.UnixMilli())
}

// InvitedBy implements Reader.
func (r *MongoReader) InvitedBy(ctx context.Context, org domain.OrgID, user domain.UserID) ([]User, error) {
	version, err := r.active(ctx, UsersBase)
	if err != nil || version == 0 {
		return []User{}, err
	}
	strategy, err := r.usersStrategy(ctx)
	if err != nil {
		return nil, err
	}
	out := []User{}
	if strategy == StrategyCached {
		rows, err := r.orgRows(ctx, version, org)
		if err != nil {
			return nil, err
		}
		for _, u := range rows.rows {
			if u.InvitedBy != nil && u.InvitedBy.UserID == user {
				out = append(out, *u)
			}
		}
		slices.SortFunc(out, rowOrder("normalizedEmail", false))
		return out, nil
	}
	cur, err := mongodb.Collection(r.db, UsersBase, version).Find(ctx,
		bson.D{{Key: "orgId", Value: org}, {Key: "invitedBy.userId", Value: user}},
		options.Find().SetSort(bson.D{{Key: "normalizedEmail", Value: 1}, {Key: "_id", Value: 1}}))
	return decodeAll[User](ctx, "users invited by", cur, err)
}
