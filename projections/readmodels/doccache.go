package readmodels

// docCache is what a live table knows of stored documents (including
// their absence), bounded by size. It keeps two generations: entries go
// into the young one, and when that holds half the bound it becomes the
// old one and the previous old one is dropped; a hit in the old
// generation moves the entry back to the young one. So the documents
// touched most recently, at least half the bound of them, survive a
// turnover, where emptying the whole cache would make every event right
// after it read its document again (an invitation's later events follow
// its first within seconds, while the organization goes on growing).
type docCache[T any] struct {
	young, old map[string]cached[T]
	half       int // entries of the young generation before it turns old; 0: remembers nothing
}

type cached[T any] struct {
	doc    T
	exists bool
}

func newDocCache[T any](bound int) docCache[T] {
	half := 0
	if bound > 0 {
		half = max(bound/2, 1)
	}
	return docCache[T]{young: map[string]cached[T]{}, old: map[string]cached[T]{}, half: half}
}

func (c *docCache[T]) get(id string) (cached[T], bool) {
	if e, ok := c.young[id]; ok {
		return e, true
	}
	e, ok := c.old[id]
	if ok {
		delete(c.old, id)
		c.put(id, e)
	}
	return e, ok
}

func (c *docCache[T]) put(id string, e cached[T]) {
	if c.half == 0 {
		return
	}
	if _, ok := c.young[id]; !ok && len(c.young) >= c.half {
		c.old, c.young = c.young, c.old
		clear(c.young)
	}
	c.young[id] = e
	delete(c.old, id)
}

func (c *docCache[T]) forget(id string) {
	delete(c.young, id)
	delete(c.old, id)
}

func (c *docCache[T]) len() int { return len(c.young) + len(c.old) }
