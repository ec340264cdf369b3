package readmodels

import (
	"context"
	"fmt"
	"sync"

	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// bulkBatch is how many documents one insertMany carries; bulkWriters
// insert at once, so that the server decodes one batch while it writes
// another.
const (
	bulkBatch   = 1000
	bulkWriters = 2
)

// bulkWriter inserts documents into a fresh collection in batches, on
// goroutines of its own (two batches at a time), so that a rebuild keeps
// reading and folding while the database writes. The first failure is
// returned by close (and by later adds, so that a rebuild stops early).
type bulkWriter struct {
	coll  *mongo.Collection
	batch []any
	out   chan []any
	done  chan struct{}
	once  sync.Once

	mu  sync.Mutex
	err error
}

func newBulkWriter(coll *mongo.Collection) *bulkWriter {
	return &bulkWriter{coll: coll}
}

func (w *bulkWriter) start(ctx context.Context) {
	w.once.Do(func() {
		w.out = make(chan []any, bulkWriters)
		w.done = make(chan struct{})
		var wg sync.WaitGroup
		for range bulkWriters {
			wg.Go(func() {
				for docs := range w.out {
					if w.failed() != nil {
						continue // drain
					}
					if _, err := w.coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
						w.mu.Lock()
						w.err = classify(fmt.Errorf("insert into %s: %w", w.coll.Name(), err))
						w.mu.Unlock()
					}
				}
			})
		}
		go func() {
			wg.Wait()
			close(w.done)
		}()
	})
}

func (w *bulkWriter) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// add queues doc; it blocks while two batches are waiting to be written.
func (w *bulkWriter) add(ctx context.Context, doc any) error {
	if err := w.failed(); err != nil {
		return err
	}
	w.batch = append(w.batch, doc)
	if len(w.batch) >= bulkBatch {
		return w.send(ctx)
	}
	return nil
}

func (w *bulkWriter) send(ctx context.Context) error {
	w.start(ctx)
	select {
	case w.out <- w.batch:
		w.batch = make([]any, 0, bulkBatch)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close writes what is left and waits for every batch.
func (w *bulkWriter) close(ctx context.Context) error {
	var err error
	if len(w.batch) > 0 {
		err = w.send(ctx)
	}
	if w.out != nil {
		close(w.out)
		<-w.done
	}
	if ferr := w.failed(); ferr != nil {
		return ferr
	}
	return err
}

// insertAll writes a table folded in memory.
func insertAll[T any](ctx context.Context, coll *mongo.Collection, docs memTable[T]) error {
	w := newBulkWriter(coll)
	for _, d := range docs {
		if err := w.add(ctx, d); err != nil {
			_ = w.close(ctx)
			return err
		}
	}
	return w.close(ctx)
}
