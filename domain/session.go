package domain

import "time"

// DefaultSessionTTL is how long a sign-in lasts unless configured.
const DefaultSessionTTL = 12 * time.Hour

// SessionID identifies one sign-in. The bearer token is derived from it
// outside the domain (purpose "session", generation 1); the id alone opens
// nothing.
type SessionID string

// SessionState is one sign-in folded from its session stream.
type SessionState struct {
	ID        SessionID
	UserID    UserID
	OrgID     OrgID
	ExpiresAt time.Time
	Ended     bool
}

// Exists reports whether the session was started.
func (s SessionState) Exists() bool { return s.ID != "" }

// Check tells whether the session still authenticates its bearer at now.
// Every failure is KindUnauthenticated (HTTP 401): the caller signs in again.
func (s SessionState) Check(now time.Time) error {
	switch {
	case !s.Exists():
		return Unauthenticated(CodeSessionInvalid, "you are not signed in; sign in again")
	case s.Ended:
		return Unauthenticated(CodeSessionEnded, "you signed out; sign in again")
	case !now.Before(s.ExpiresAt):
		return Unauthenticated(CodeSessionExpired, "your session has expired; sign in again")
	}
	return nil
}

// SessionCommand is a command decided by DecideSession.
type SessionCommand interface{ sessionCommand() }

// StartSession signs a person in. The password was verified by the caller
// against the account it loaded.
type StartSession struct {
	SessionID SessionID
	UserID    UserID
	OrgID     OrgID
	TTL       time.Duration // 0 means DefaultSessionTTL
}

// EndSession signs out; ending an ended session records nothing.
type EndSession struct{}

func (StartSession) sessionCommand() {}
func (EndSession) sessionCommand()   {}

// DecideSession decides a command against one session.
func DecideSession(s SessionState, cmd SessionCommand, now time.Time) ([]Event, error) {
	switch c := cmd.(type) {
	case StartSession:
		if s.Exists() {
			return nil, Conflict(CodeSessionExists, "a session with this id already exists")
		}
		if c.SessionID == "" || c.UserID == "" || c.OrgID == "" || c.TTL < 0 {
			return nil, Invalid(CodeValidationFailed, "session, user and organization ids and a non-negative lifetime are required")
		}
		ttl := c.TTL
		if ttl == 0 {
			ttl = DefaultSessionTTL
		}
		return []Event{SessionStarted{SessionID: c.SessionID, UserID: c.UserID, OrgID: c.OrgID, ExpiresAt: now.Add(ttl).UTC()}}, nil
	case EndSession:
		if !s.Exists() {
			return nil, Unauthenticated(CodeSessionInvalid, "you are not signed in")
		}
		if s.Ended {
			return nil, nil
		}
		return []Event{SessionEnded{SessionID: s.ID, UserID: s.UserID, OrgID: s.OrgID}}, nil
	}
	return nil, Invalid(CodeValidationFailed, "unsupported session command %T", cmd)
}

// EvolveSession applies one event to a session.
func EvolveSession(s SessionState, e Event) SessionState {
	switch e := e.(type) {
	case SessionStarted:
		s = SessionState{ID: e.SessionID, UserID: e.UserID, OrgID: e.OrgID, ExpiresAt: e.ExpiresAt}
	case SessionEnded:
		s.Ended = true
	}
	return s
}
