package mail

import (
	"sync"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// orgNameCacheCapacity bounds the organizations whose names the reactor
// remembers (a name and a revision each).
const orgNameCacheCapacity = 4096

// orgNameCache remembers organizations' names with the revision of their
// stream they were folded up to, so that a mail reads only the events
// written to the organization since the last one: at thousands of members
// that is a few events instead of thousands. A cached name is never
// trusted without that read, so a rename (or a stream deleted and written
// again, which LoadFrom reports) is seen by the next mail.
type orgNameCache struct {
	capacity int

	mu   sync.Mutex
	byID map[domain.OrgID]orgName
}

type orgName struct {
	name     string
	revision commands.Revision
}

func newOrgNameCache(capacity int) *orgNameCache {
	return &orgNameCache{capacity: capacity, byID: make(map[domain.OrgID]orgName)}
}

func (c *orgNameCache) get(id domain.OrgID) (orgName, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.byID[id]
	return n, ok
}

// put stores n unless a newer revision is cached already.
func (c *orgNameCache) put(id domain.OrgID, n orgName) {
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

func (c *orgNameCache) drop(id domain.OrgID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byID, id)
}
