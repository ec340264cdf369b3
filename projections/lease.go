// Package projections holds what the event handlers of the read side share:
// leases (RunWithLease), and the projection runner (Runner): one Watermill
// router per read model over a durable subscription to every domain event,
// checkpointed per version of the read model, one replica at a time, with
// stalls reported instead of events skipped; and rebuilds (Rebuild) that
// replay $all into a fresh version and switch readers over. The read models
// and reactors live in its subpackages (readmodels, mail, ...).
package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Leaser is a store of leases, one holder at a time per name
// (mongodb.Leases). Acquire and Renew report false, with no error, when
// owner does not (or no longer) hold the lease.
type Leaser interface {
	Acquire(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	Renew(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	Release(ctx context.Context, name, owner string) error
}

// LeaseConfig configures RunWithLease.
type LeaseConfig struct {
	// Name is the lease (the handler's name: one lease per handler group).
	Name string
	// Owner identifies this replica; unique per process (host, pid and a
	// random part).
	Owner string
	// TTL is how long a term lasts without renewal. The lease is renewed,
	// and retried while another owner holds it, every TTL/3.
	TTL    time.Duration
	Logger *slog.Logger
	// ReleaseTimeout bounds the release at shutdown; 5 s when zero.
	ReleaseTimeout time.Duration
}

// RunWithLease runs run only while owner holds the lease, until ctx ends.
//
// It acquires the lease (trying again every TTL/3 while another owner holds
// it or the store fails), then calls run with a context that is cancelled
// as soon as a renewal, every TTL/3, fails or reports the lease lost; it
// waits for run to return before trying to acquire again, so two owners
// never run at the same time as long as run returns within TTL/3 of its
// context ending (and clocks agree, see mongodb.Leases). Each renewal is
// bounded by TTL/3 too, so a hanging store stops run well before the term
// expires.
//
// When run returns by itself (an error, or nil) while ctx is alive, the
// lease is released, the error logged, and run started again once the lease
// is acquired anew, after TTL/3. When ctx ends, run is stopped and the lease
// released so that another replica takes over at once; RunWithLease then
// returns nil. Errors are only returned for an invalid configuration.
func RunWithLease(ctx context.Context, leases Leaser, cfg LeaseConfig, run func(ctx context.Context) error) error {
	switch {
	case leases == nil || run == nil:
		return errors.New("projections: lease: leases and run are required")
	case cfg.Name == "" || cfg.Owner == "":
		return errors.New("projections: lease: a name and an owner are required")
	case cfg.TTL < 3*time.Millisecond:
		return fmt.Errorf("projections: lease %q: ttl %v too short", cfg.Name, cfg.TTL)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("lease", cfg.Name, "owner", cfg.Owner)
	releaseTimeout := cfg.ReleaseTimeout
	if releaseTimeout <= 0 {
		releaseTimeout = 5 * time.Second
	}
	interval := cfg.TTL / 3
	release := func() {
		// The context may be over (shutdown): release with one of its own.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		if err := leases.Release(rctx, cfg.Name, cfg.Owner); err != nil {
			logger.Warn("lease not released; it expires on its own", "err", err)
		}
	}
	wait := func() bool {
		t := time.NewTimer(interval)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}

	waiting := false // logged once per wait, not every try
	for ctx.Err() == nil {
		actx, cancel := context.WithTimeout(ctx, interval)
		ok, err := leases.Acquire(actx, cfg.Name, cfg.Owner, cfg.TTL)
		cancel()
		switch {
		case ctx.Err() != nil:
			if ok {
				release()
			}
			return nil
		case err != nil:
			logger.Warn("lease not acquired; retrying", "err", err, "retry_in", interval)
		case !ok:
			if !waiting {
				logger.Info("lease held by another replica; standing by", "retry_in", interval)
				waiting = true
			}
		}
		if err != nil || !ok {
			if !wait() {
				return nil
			}
			continue
		}
		waiting = false
		logger.Info("lease acquired; running")
		stoppedByItself, lost := hold(ctx, leases, cfg, interval, logger, run)
		if !lost {
			// Shutdown, or run returned: give the lease up at once.
			release()
		}
		if ctx.Err() != nil {
			return nil
		}
		if stoppedByItself {
			if !wait() {
				return nil
			}
		}
	}
	return nil
}

// hold runs run and renews the lease every interval until ctx ends, run
// returns, or a renewal fails. It returns after run has returned.
// stoppedByItself reports that run returned while the lease was held; lost
// that the store said the lease is no longer ours (no release needed).
func hold(ctx context.Context, leases Leaser, cfg LeaseConfig, interval time.Duration, logger *slog.Logger,
	run func(context.Context) error) (stoppedByItself, lost bool) {
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- run(runCtx) }()

	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case err := <-done:
			if ctx.Err() == nil {
				logger.Error("stopped while holding the lease; releasing it and starting again", "err", err)
				return true, false
			}
			return false, false
		case <-ctx.Done():
			stop()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				logger.Warn("stopped at shutdown", "err", err)
			}
			return false, false
		case <-ticker.C:
			rctx, cancel := context.WithTimeout(ctx, interval)
			ok, err := leases.Renew(rctx, cfg.Name, cfg.Owner, cfg.TTL)
			cancel()
			if ctx.Err() != nil {
				continue // shutdown: handled by the ctx.Done case
			}
			if err == nil && ok {
				continue
			}
			if err != nil {
				logger.Warn("lease renewal failed; stopping", "err", err)
			} else {
				logger.Warn("lease lost; stopping")
			}
			stop()
			<-done
			return false, err == nil
		}
	}
}
