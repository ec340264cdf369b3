package readmodels

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// cursor is the position after the last item of a page: its sort key and
// _id (keyset pagination, stable under inserts), and a hash of the query it
// continues, so that a cursor is not taken for another query. It travels
// as base64url JSON; its content is no secret (the query is scoped to an
// organization either way).
type cursor struct {
	Query string  `json:"q"`
	ID    string  `json:"i"`
	Str   *string `json:"s,omitempty"`
	Time  *int64  `json:"t,omitempty"` // Unix milliseconds
	Pos   *int64  `json:"p,omitempty"`
	// None of Str, Time, Pos: the key was absent (null).
}

// queryHash names a query for its cursors.
func queryHash(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:8])
}

func (c cursor) encode() string {
	raw, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// decodeCursor parses s for the query named hash; "" is the first page.
func decodeCursor(s, hash string) (*cursor, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > 2048 {
		return nil, fmt.Errorf("%w (too long)", ErrBadCursor)
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, ErrBadCursor
	}
	var c cursor
	if err := json.Unmarshal(raw, &c); err != nil || c.ID == "" {
		return nil, ErrBadCursor
	}
	if c.Query != hash {
		return nil, fmt.Errorf("%w (it belongs to another query)", ErrBadCursor)
	}
	return &c, nil
}

// timeKey and timeOf convert sort keys of dates.
func timeKey(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	ms := t.UnixMilli()
	return &ms
}

func timeOf(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
