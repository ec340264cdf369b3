package readmodels

import (
	"container/heap"
	"context"
	"strconv"
	"strings"
	"time"
)

// AwaitPosition implements Reader. The requests that wait share one
// poller: it takes the reader's state once per PositionTTL (the read
// Position shares anyway) and whenever this process saves or announces a
// checkpoint, and wakes exactly the waiters whose token the position of
// the read models they wait for has passed. Before, each waiting request
// polled Position itself every 10 ms: under a backlog, hundreds of them
// woke a hundred times a second each to find nothing new (7 % of the
// portal's CPU in the lag benchmark).
func (r *MongoReader) AwaitPosition(ctx context.Context, token uint64, models ...string) (uint64, error) {
	pos, err := r.Position(ctx, models...)
	if err != nil || pos >= token {
		return pos, err
	}
	idx := r.covered(models)
	w := &posWaiter{token: token, done: make(chan struct{}), index: -1}
	r.waitMu.Lock()
	key := waitGroupKey(idx)
	g := r.waiters[key]
	if g == nil {
		g = &waitGroup{idx: idx}
		r.waiters[key] = g
	}
	heap.Push(&g.waiters, w)
	if !r.polling {
		r.polling = true
		go r.pollForWaiters()
	}
	r.waitMu.Unlock()
	select {
	case <-w.done:
		return w.pos, w.err
	case <-ctx.Done():
		r.waitMu.Lock()
		if w.index >= 0 {
			heap.Remove(&g.waiters, w.index)
		}
		r.waitMu.Unlock()
		return pos, ctx.Err()
	}
}

// waitGroup is the requests waiting for the same read models (idx, as
// covered returns them), by token.
type waitGroup struct {
	idx     []int
	waiters posWaiters
}

// waitGroupKey names the group of idx: "" for all read models.
func waitGroupKey(idx []int) string {
	var b strings.Builder
	for _, i := range idx {
		b.WriteString(strconv.Itoa(i))
		b.WriteByte(',')
	}
	return b.String()
}

// pollForWaiters takes the reader's state once per PositionTTL, and
// whenever this process saves or announces a checkpoint, while requests
// wait, and answers the ones whose read models have passed their token
// (or all, with the error of a failed read, as Position would have).
func (r *MongoReader) pollForWaiters() {
	tick := time.NewTicker(r.opts.PositionTTL)
	defer tick.Stop()
	for {
		moved := r.checkpoints.Changed()         // before the state: no move falls between
		st, err := r.state(context.Background()) // bounded by positionReadTimeout
		r.waitMu.Lock()
		for key, g := range r.waiters {
			var pos uint64
			if err == nil {
				pos = st.lowest(r.checkpoints, g.idx)
			}
			for g.waiters.Len() > 0 && (err != nil || g.waiters[0].token <= pos) {
				w := heap.Pop(&g.waiters).(*posWaiter)
				w.pos, w.err = pos, err
				close(w.done)
			}
			if g.waiters.Len() == 0 {
				delete(r.waiters, key)
			}
		}
		if len(r.waiters) == 0 {
			r.polling = false
			r.waitMu.Unlock()
			return
		}
		r.waitMu.Unlock()
		select {
		case <-tick.C:
		case <-moved:
		}
	}
}

// posWaiter is a request waiting for the position to reach token.
type posWaiter struct {
	token uint64
	done  chan struct{}
	pos   uint64
	err   error
	index int // in the heap; -1 once out
}

// posWaiters is a min-heap of waiters by token (container/heap).
type posWaiters []*posWaiter

func (h posWaiters) Len() int           { return len(h) }
func (h posWaiters) Less(i, j int) bool { return h[i].token < h[j].token }
func (h posWaiters) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *posWaiters) Push(x any) {
	w := x.(*posWaiter)
	w.index = len(*h)
	*h = append(*h, w)
}

func (h *posWaiters) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	w.index = -1
	return w
}

// PollPosition waits by polling position every interval until it reaches
// token or ctx ends, returning the last position seen: AwaitPosition for
// readers that cannot tell when their position moves (test doubles).
func PollPosition(ctx context.Context, position func(context.Context) (uint64, error), token uint64, every time.Duration) (uint64, error) {
	for {
		pos, err := position(ctx)
		if err != nil || pos >= token {
			return pos, err
		}
		select {
		case <-ctx.Done():
			return pos, ctx.Err()
		case <-time.After(every):
		}
	}
}
