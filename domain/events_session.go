package domain

import "time"

// Event type names of the session stream.
const (
	TypeSessionStarted = "SessionStarted"
	TypeSessionEnded   = "SessionEnded"
)

// SessionStarted records a sign-in. The bearer token is derived from
// SessionID and is never stored.
type SessionStarted struct {
	SessionID SessionID `json:"sessionId"`
	UserID    UserID    `json:"userId"`
	OrgID     OrgID     `json:"orgId"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// SessionEnded records a sign-out: the session's token stops working.
type SessionEnded struct {
	SessionID SessionID `json:"sessionId"`
	UserID    UserID    `json:"userId"`
	OrgID     OrgID     `json:"orgId"`
}

func (SessionStarted) EventType() string { return TypeSessionStarted }
func (SessionEnded) EventType() string   { return TypeSessionEnded }
