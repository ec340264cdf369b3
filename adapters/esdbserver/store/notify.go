package store

import (
	"context"
	"sync"
)

// notifier wakes everyone waiting for the head to move. Each commit closes
// the current channel and installs a fresh one, so waiters need no polling
// and a slow waiter costs the writer nothing.
type notifier struct {
	mu     sync.Mutex
	ch     chan struct{}
	closed bool
}

func (n *notifier) init() { n.ch = make(chan struct{}) }

func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

func (n *notifier) broadcast() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	close(n.ch)
	n.ch = make(chan struct{})
}

func (n *notifier) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.closed {
		n.closed = true
		close(n.ch)
	}
}

// WaitBeyond blocks until a record after position pos is committed, ctx is
// done or the store shuts down.
func (s *Store) WaitBeyond(ctx context.Context, pos uint64) error {
	for {
		ch := s.notify.wait()
		if s.head.Load() > pos {
			return nil
		}
		select {
		case <-ch:
			select {
			case <-s.stop:
				return ErrClosed
			default:
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-s.stop:
			return ErrClosed
		}
	}
}
