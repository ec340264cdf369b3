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
