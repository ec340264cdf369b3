package readmodels

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/orgportal/onboarding/domain"
)

// recentMax is how many changes an org stamp lists (recentRows).
//
// A reader refreshes its copy of an organization by fetching the listed
// rows by _id, which only pays while they are few (see patchLimit): at
// 5,000 rows the break-even against one full load is about 300 ids. The
// list only has to span the gap between two reads of the same
// organization; under load the stamp moves once per checkpoint (every
// 25 ms or 256 events), so at 200 changes/s 256 entries cover more than a
// second of changes, and a reader away for longer reloads anyway. The list
// is not free: every reader whose rows are behind reads it (its own
// document, changesKey, so that the stamp every Users page reads stays
// small), and FerretDB decodes it whole, about 0.06 ms per KiB measured on
// the embedded server (256 entries at a typical 30 bytes each add about
// half a millisecond to a 0.4 ms lookup). Hence a few hundred, not a few
// thousand.
const recentMax = 256

// recentRows is the tail of an org stamp: the rows of the organization
// that changed lately, so that a reader whose copy is at stamp S can
// refetch only the rows changed after S instead of the whole organization.
//
// It holds every change at a position after from, oldest first, the last
// one at the stamp's Position (or none, with from at the stamp's
// Position). A deleted row is listed like any other: a reader that finds
// it gone drops it. Keys are row ids without the "<org>/" prefix every row
// of the organization has (UserDocID), which halves the stored size.
//
// Values are never changed in place: add returns a new recentRows whose
// changes may share the backing array of the old one, but only beyond the
// old one's length, so a table that still holds the old stamp (a cache, a
// write not yet flushed) keeps seeing it as it was.
type recentRows struct {
	from    int64
	changes []rowChange
}

type rowChange struct {
	pos int64
	key string
}

// untracked is the from of a list that cannot be trusted (an unreadable
// stored one): complete from nowhere, so readers reload and the fold
// restarts the list.
const untracked = math.MaxInt64

// add records a change of key at pos to the list of a stamp at stampPos
// (< pos). A stamp that kept no list, or an unreadable one, starts one
// complete from stampPos; a key that cannot be stored (see rowKey) empties
// the list, complete from pos, which makes every older copy reload.
func (r *recentRows) add(stampPos, pos int64, key string, ok bool) *recentRows {
	if !ok {
		return &recentRows{from: pos}
	}
	if r == nil || r.from > stampPos {
		r = &recentRows{from: stampPos}
	}
	changes := append(r.changes, rowChange{pos: pos, key: key})
	from := r.from
	if drop := len(changes) - recentMax; drop > 0 {
		// Reslice rather than copy: appends reuse the array, and a
		// reallocation copies only the entries kept.
		from = changes[drop-1].pos
		changes = changes[drop:]
	}
	return &recentRows{from: from, changes: changes}
}

// join returns the changes of r followed by those of next, a list that
// begins where r ends.
func (r *recentRows) join(next *recentRows) *recentRows {
	changes := make([]rowChange, 0, len(r.changes)+len(next.changes))
	return &recentRows{from: r.from, changes: append(append(changes, r.changes...), next.changes...)}
}

// since returns the keys of the rows changed after pos, each once, and
// whether the list is complete that far back.
func (r *recentRows) since(pos int64) ([]string, bool) {
	if r == nil || r.from > pos {
		return nil, false
	}
	i, _ := slices.BinarySearchFunc(r.changes, pos+1, func(c rowChange, p int64) int {
		switch {
		case c.pos < p:
			return -1
		case c.pos > p:
			return 1
		}
		return 0
	})
	keys := make([]string, 0, len(r.changes)-i)
	for _, c := range r.changes[i:] {
		keys = append(keys, c.key)
	}
	slices.Sort(keys)
	return slices.Compact(keys), true
}

// rowKey is what an org stamp stores for row id of org: the id without
// the org prefix. ok is false for an id the list cannot hold (not a row of
// org, or one with a line break, the list's separator); the rows the fold
// writes are never like that, but a list that lost a change would serve
// stale rows, so the fold empties it instead (add).
func rowKey(org domain.OrgID, id string) (string, bool) {
	key, ok := strings.CutPrefix(id, UserDocID(org, ""))
	return key, ok && !strings.ContainsRune(key, '\n')
}

// storedRecent is how recentRows is stored: the changes packed into one
// string of lines "<position - previous position> <key>\n", the first
// relative to from. FerretDB v1 keeps a type schema next to every value
// and decodes a document whole on every read; an array of {pos, key}
// documents made a 256-entry stamp cost 8 ms to read where this form costs
// under 1 ms.
type storedRecent struct {
	From int64  `bson:"from"`
	Rows string `bson:"rows"`
}

// MarshalBSON implements bson.Marshaler.
func (r recentRows) MarshalBSON() ([]byte, error) {
	var b []byte
	prev := r.from
	for _, c := range r.changes {
		b = strconv.AppendInt(b, c.pos-prev, 10)
		b = append(b, ' ')
		b = append(b, c.key...)
		b = append(b, '\n')
		prev = c.pos
	}
	return bson.Marshal(storedRecent{From: r.from, Rows: string(b)})
}

// UnmarshalBSON implements bson.Unmarshaler. A list it cannot parse reads
// as untracked rather than failing: the stamp's Position still serves,
// and readers fall back to full loads until the fold restarts the list.
func (r *recentRows) UnmarshalBSON(data []byte) error {
	var s storedRecent
	if err := bson.Unmarshal(data, &s); err != nil {
		*r = recentRows{from: untracked}
		return nil
	}
	*r = recentRows{from: s.From}
	if s.Rows == "" {
		return nil
	}
	r.changes = make([]rowChange, 0, strings.Count(s.Rows, "\n"))
	pos := s.From
	for line := range strings.Lines(s.Rows) {
		delta, key, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		d, err := strconv.ParseInt(delta, 10, 64)
		if !ok || err != nil || d < 0 {
			*r = recentRows{from: untracked}
			return nil
		}
		pos += d
		r.changes = append(r.changes, rowChange{pos: pos, key: key})
	}
	return nil
}
