package store

import (
	"encoding/json"
	"math"
	"time"
)

// DeletedStreamRevision is the revision of a tombstone record, and the $tb
// value a soft delete writes (EventStoreDB's EventNumber.DeletedStream).
const DeletedStreamRevision = math.MaxInt64

// Event types the store writes or interprets itself.
const (
	TypeMetadata      = "$metadata"
	TypeStreamDeleted = "$streamDeleted"
	TypeLink          = "$>"
)

// MetastreamOf names the stream that holds stream's metadata.
func MetastreamOf(stream string) string { return "$$" + stream }

// IsMetastream reports whether stream holds another stream's metadata.
func IsMetastream(stream string) bool { return len(stream) >= 2 && stream[:2] == "$$" }

// retention is the part of a stream's metadata that hides events from stream
// reads and subscriptions (never from $all).
type retention struct {
	maxCount       int64 // 0 = unlimited
	maxAge         time.Duration
	truncateBefore int64 // $tb; DeletedStreamRevision after a soft delete
	present        bool  // the stream has metadata at all
	raw            map[string]json.RawMessage
}

func (r retention) softDeleted() bool { return r.truncateBefore == DeletedStreamRevision }

// parseRetention reads the keys the store acts on. Values that are not the
// expected numbers are ignored, as EventStoreDB does for malformed metadata.
func parseRetention(data []byte) retention {
	r := retention{present: true}
	if err := json.Unmarshal(data, &r.raw); err != nil {
		return r
	}
	if v, ok := intField(r.raw, "$maxCount"); ok && v > 0 {
		r.maxCount = v
	}
	if v, ok := intField(r.raw, "$maxAge"); ok && v > 0 {
		r.maxAge = time.Duration(v) * time.Second
	}
	if v, ok := intField(r.raw, "$tb"); ok && v > 0 {
		r.truncateBefore = v
	}
	return r
}

func intField(m map[string]json.RawMessage, key string) (int64, bool) {
	raw, ok := m[key]
	if !ok {
		return 0, false
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || f < 0 {
		return 0, false
	}
	if f >= math.MaxInt64 {
		return math.MaxInt64, true
	}
	return int64(f), true
}

// visible reports whether an event of a stream whose last revision is
// lastRev survives this retention at time now.
func (r retention) visible(rec *Record, lastRev int64, now time.Time) bool {
	rev := int64(rec.Revision)
	if rev < r.truncateBefore {
		return false
	}
	if r.maxCount > 0 && rev <= lastRev-r.maxCount {
		return false
	}
	if r.maxAge > 0 && ticksToTime(rec.Created).Before(now.Add(-r.maxAge)) {
		return false
	}
	return true
}

// metastreamRetention is the implicit retention of every $$ stream: only the
// latest metadata is kept (EventStoreDB's MetaStreamMaxCount).
var metastreamRetention = retention{maxCount: 1}

// withTruncateBefore returns metadata JSON equal to raw with $tb set.
func withTruncateBefore(raw map[string]json.RawMessage, tb int64) []byte {
	out := make(map[string]json.RawMessage, len(raw)+1)
	for k, v := range raw {
		out[k] = v
	}
	out["$tb"], _ = json.Marshal(tb)
	b, _ := json.Marshal(out)
	return b
}

// TimeToTicks converts t to 100 ns ticks since the Unix epoch.
func TimeToTicks(t time.Time) int64 { return t.UnixNano() / 100 }

func ticksToTime(ticks int64) time.Time { return time.Unix(0, ticks*100) }
