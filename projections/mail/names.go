package mail

import (
	"sync"
	"time"

	"github.com/orgportal/onboarding/commands"
)

// nameCacheCapacity bounds the organizations, and separately the people,
// whose names the reactor remembers.
const nameCacheCapacity = 4096

// nameTTL is how long a name read from the event store is used without
// reading it again. No event changes an organization's or a person's name
// after it was created, so a cached name is the stream's name; reading it
// again now and then keeps a mail's context right should such an event be
// added (a rename would show in mails after at most this long), and
// notices a stream deleted and written again. At hundreds of invitations a
// second, it saves two of a mail's three reads.
const nameTTL = 5 * time.Second

// nameCache remembers names (of organizations or of people) with the
// revision of their stream they were folded up to and when that was read.
type nameCache[K comparable] struct {
	capacity int

	mu   sync.Mutex
	byID map[K]cachedName
}

type cachedName struct {
	name     string
	revision commands.Revision
	readAt   time.Time
}

// fresh tells whether the name was read less than nameTTL before now.
func (n cachedName) fresh(now time.Time) bool { return now.Sub(n.readAt) < nameTTL }

func newNameCache[K comparable](capacity int) *nameCache[K] {
	return &nameCache[K]{capacity: capacity, byID: make(map[K]cachedName)}
}

func (c *nameCache[K]) get(id K) (cachedName, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.byID[id]
	return n, ok
}

// put stores n unless a newer revision is cached already.
func (c *nameCache[K]) put(id K, n cachedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.byID[id]; ok {
		if old.revision > n.revision {
			return
		}
	} else if len(c.byID) >= c.capacity {
		for other := range c.byID { // full: forget any one
			delete(c.byID, other)
			break
		}
	}
	c.byID[id] = n
}

func (c *nameCache[K]) drop(id K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byID, id)
}
