package readmodels

// table is what a fold reads and writes: documents by _id. The folds are
// pure functions over tables; memTable backs them in tests and rebuilds,
// liveTable (live.go) over a Mongo collection.
type table[T any] interface {
	get(id string) (T, bool)
	put(id string, doc T)
	del(id string)
}

// memTable is a table in memory.
type memTable[T any] map[string]T

func (m memTable[T]) get(id string) (T, bool) {
	d, ok := m[id]
	return d, ok
}

func (m memTable[T]) put(id string, doc T) { m[id] = doc }
func (m memTable[T]) del(id string)        { delete(m, id) }

// positioned is a document that records the position of the last event
// applied to it.
type positioned interface{ atPosition() int64 }

// create puts doc, which the fold built from nothing at its position with
// the first event of its stream, unless a version at that position or
// later is there already (the event was applied before). A liveTable does
// not read the document first (liveTable.create).
func create[T positioned](tab table[T], id string, doc T) {
	if lt, ok := tab.(*liveTable[T]); ok {
		lt.create(id, doc, func(d T) int64 { return d.atPosition() })
		return
	}
	if cur, ok := tab.get(id); ok && cur.atPosition() >= doc.atPosition() {
		return
	}
	tab.put(id, doc)
}
