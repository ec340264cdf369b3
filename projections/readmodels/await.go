package readmodels

import (
	"container/heap"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orgportal/onboarding/domain"
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
	return r.await(ctx, token, pos, r.covered(models), "")
}

// await queues a request for the poller until the read models idx have
// passed token, or, with org, until org's stamp has; pos is the position
// the caller saw, returned when ctx ends first.
func (r *MongoReader) await(ctx context.Context, token, pos uint64, idx []int, org domain.OrgID) (uint64, error) {
	w := &posWaiter{token: token, done: make(chan struct{}), index: -1}
	r.waitMu.Lock()
	key := waitGroupKey(idx)
	if org != "" {
		key += "org:" + string(org)
	}
	g := r.waiters[key]
	if g == nil {
		g = &waitGroup{idx: idx, org: org}
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

// AwaitUsers implements Reader. While this process projects the Users
// rows it is AwaitPosition, which learns each checkpoint at once. A
// replica that does not (one of role api, a standby) learns them only as
// they are saved, every CheckpointSaveEvery (250 ms on FerretDB); the
// organization's stamp, though, is written with its rows at every flush
// (every 25 ms under load), after them. A stamp at or past token means
// every event up to it was applied to the organization's rows (the
// projection applies events in order and flushes in order), so the wait
// ends at the first of the two to pass token. An organization whose rows
// the write left alone (a repeated invitation) has no stamp to pass it:
// its wait ends with the checkpoint. The requests waiting for one
// organization share the poller's one stamp read per PositionTTL.
func (r *MongoReader) AwaitUsers(ctx context.Context, org domain.OrgID, token uint64) (uint64, error) {
	i := slices.Index(r.opts.Projections, UsersBase)
	if i < 0 || org == "" {
		return r.AwaitPosition(ctx, token, UsersBase)
	}
	st, err := r.state(ctx)
	if err != nil {
		return 0, err
	}
	pos, here := st.reached(r.checkpoints, i)
	if pos >= token || here {
		return r.AwaitPosition(ctx, token, UsersBase)
	}
	return r.await(ctx, token, pos, r.covered([]string{UsersBase}), org)
}

// waitGroup is the requests waiting for the same read models (idx, as
// covered returns them), by token.
type waitGroup struct {
	idx []int
	// org, when set, is the organization whose Users rows the requests
	// read (AwaitUsers): its stamp counts as well as the checkpoints.
	org     domain.OrgID
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
		stamps := r.stampsOfWaiters(st, err)
		r.waitMu.Lock()
		for key, g := range r.waiters {
			var pos uint64
			if err == nil {
				pos = max(st.lowest(r.checkpoints, g.idx), stamps[g.org])
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

// stampsOfWaiters reads the org stamp of every organization requests
// wait for (AwaitUsers), in the active Users version of st. A stamp that
// cannot be read counts as 0: those requests wait for the checkpoint.
func (r *MongoReader) stampsOfWaiters(st readerState, stErr error) map[domain.OrgID]uint64 {
	version := st.actives[UsersBase]
	if stErr != nil || version == 0 {
		return nil
	}
	r.waitMu.Lock()
	var orgs []domain.OrgID
	for _, g := range r.waiters {
		if g.org != "" && g.waiters.Len() > 0 {
			orgs = append(orgs, g.org)
		}
	}
	r.waitMu.Unlock()
	if len(orgs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), positionReadTimeout)
	defer cancel()
	stamps := make(map[domain.OrgID]uint64, len(orgs))
	for _, org := range orgs {
		if stamp, err := r.readStamp(ctx, version, org); err == nil && stamp.Position > 0 {
			stamps[org] = uint64(stamp.Position)
		}
	}
	return stamps
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
