package readmodels

import (
	"context"
	"sync"
	"time"
)

// freshReadTimeout bounds one shared read (freshReads).
const freshReadTimeout = 10 * time.Second

// freshReads shares reads of the same key among concurrent callers, with
// one promise: every caller gets the result of a read that began after
// the caller asked. That is what an org stamp read needs (a reader that
// saw the projection's checkpoint pass its consistency token must see a
// stamp written before that checkpoint; a read already under way when it
// asked may predate that write), so the reads cannot simply be shared
// like Position's.
//
// Per key at most one read runs. Callers that arrive while it runs wait
// for the next one, which starts when it ends and serves all of them; so
// under load there is about one read per key per read's duration, however
// many callers, each waiting at most about two reads.
type freshReads[T any] struct {
	mu    sync.Mutex
	queue map[string]*freshQueue[T]
}

type freshQueue[T any] struct {
	// next is the read the callers arriving now wait for; it has not
	// begun. nil when no caller waits.
	next *freshRead[T]
}

type freshRead[T any] struct {
	done    chan struct{}
	value   T
	err     error
	waiters int // callers of this read so far, for tests
}

// read returns fetch's result from a read of key begun after the call.
// fetch must read the same thing for the same key, whoever passes it: it
// may run for another caller. It runs on a goroutine of its own, under a
// context without the callers' cancellation (one that gives up must not
// fail the others) and bounded by freshReadTimeout.
func (f *freshReads[T]) read(ctx context.Context, key string, fetch func(context.Context) (T, error)) (T, error) {
	f.mu.Lock()
	if f.queue == nil {
		f.queue = map[string]*freshQueue[T]{}
	}
	q := f.queue[key]
	if q == nil {
		// No read of key is running: start one for this caller.
		q = &freshQueue[T]{next: &freshRead[T]{done: make(chan struct{})}}
		f.queue[key] = q
		go f.run(context.WithoutCancel(ctx), key, q, fetch)
	} else if q.next == nil {
		q.next = &freshRead[T]{done: make(chan struct{})}
	}
	rd := q.next
	rd.waiters++
	f.mu.Unlock()
	select {
	case <-rd.done:
		return rd.value, rd.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// run makes the reads of key while callers wait for one, then forgets key.
func (f *freshReads[T]) run(ctx context.Context, key string, q *freshQueue[T], fetch func(context.Context) (T, error)) {
	for {
		f.mu.Lock()
		rd := q.next
		if rd == nil {
			delete(f.queue, key)
			f.mu.Unlock()
			return
		}
		q.next = nil // callers from now on wait for the read after this one
		f.mu.Unlock()
		rctx, cancel := context.WithTimeout(ctx, freshReadTimeout)
		rd.value, rd.err = fetch(rctx)
		cancel()
		close(rd.done)
	}
}
