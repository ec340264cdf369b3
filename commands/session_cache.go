package commands

import (
	"sync"
	"time"

	"github.com/orgportal/onboarding/domain"
)

// DefaultSessionCacheTTL is how long Authenticate trusts a session it has
// checked without reading it again (Config.SessionCacheTTL).
const DefaultSessionCacheTTL = time.Second

// sessionCacheCapacity bounds the sessions remembered: about 200 bytes
// each, so a few MiB.
const sessionCacheCapacity = 1 << 14

// sessionCache remembers the sessions Authenticate resolved, for a short
// time, so that a signed-in user's burst of requests does not read their
// session and account streams for each one. What it may miss is bounded:
//
//   - a sign-out through these handlers drops the session at once, and a
//     member removed through them loses every session at once;
//   - a sign-out or removal through another process (another replica)
//     takes effect here at the latest ttl after this process last read
//     the session;
//   - a session's expiry is checked against the clock on every use.
//
// A removed member cannot administer anything in that window either: the
// administrative routes check the actor's role on the organization's
// stream on every request, and removal takes them off the roster first.
type sessionCache struct {
	ttl time.Duration

	mu   sync.Mutex
	byID map[domain.SessionID]cachedSession
	// epoch counts invalidations, so that a resolution that started before
	// one does not put back what it dropped.
	epoch uint64
}

type cachedSession struct {
	principal Principal
	session   domain.SessionState
	checkedAt time.Time
}

func newSessionCache(ttl time.Duration) *sessionCache {
	return &sessionCache{ttl: ttl, byID: make(map[domain.SessionID]cachedSession)}
}

// get returns the session id's cached resolution if it was checked less
// than ttl before now.
func (c *sessionCache) get(id domain.SessionID, now time.Time) (cachedSession, bool) {
	if c == nil {
		return cachedSession{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[id]
	if !ok {
		return cachedSession{}, false
	}
	if now.Before(e.checkedAt) || now.Sub(e.checkedAt) >= c.ttl {
		delete(c.byID, id)
		return cachedSession{}, false
	}
	return e, true
}

// begin returns the epoch to hand to put once the resolution is done.
func (c *sessionCache) begin() uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

// put remembers a resolution made on state read after begin returned
// epoch, unless something was invalidated since.
func (c *sessionCache) put(epoch uint64, e cachedSession) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch {
		return
	}
	if len(c.byID) >= sessionCacheCapacity {
		for id, old := range c.byID {
			if e.checkedAt.Sub(old.checkedAt) >= c.ttl {
				delete(c.byID, id)
			}
		}
		for id := range c.byID { // still full: drop any one
			if len(c.byID) < sessionCacheCapacity {
				break
			}
			delete(c.byID, id)
		}
	}
	c.byID[e.principal.SessionID] = e
}

// dropSession forgets one session.
func (c *sessionCache) dropSession(id domain.SessionID) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	delete(c.byID, id)
}

// dropUser forgets every session of a user.
func (c *sessionCache) dropUser(user domain.UserID) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	for id, e := range c.byID {
		if e.principal.UserID == user {
			delete(c.byID, id)
		}
	}
}
