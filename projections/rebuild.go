package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/orgportal/onboarding/adapters/eventstoredb"
)

// EventError is a replay that stopped at an event it could not decode
// or apply.
type EventError struct {
	EventID   string
	EventType string
	Stream    string
	Position  uint64
	Err       error
}

func (e *EventError) Error() string {
	return fmt.Sprintf("projections: replay stopped at %s %s (position %d): %v", e.EventType, e.EventID, e.Position, e.Err)
}

func (e *EventError) Unwrap() error { return e.Err }

// ErrRebuildRunning reports a rebuild of a projection that is being
// rebuilt already (here or by another replica or `portal replay`).
var ErrRebuildRunning = errors.New("projections: a rebuild of this projection is already running")

// RebuildConfig configures Rebuild.
type RebuildConfig struct {
	Source      Source
	Checkpoints eventstoredb.CheckpointStore
	Versions    VersionStore
	// Leases keeps two rebuilds of one projection apart: each holds the
	// lease "<name>.rebuild" while it runs.
	Leases Leaser
	Owner  string
	// LeaseTTL is the rebuild lease's term; 30 s when zero.
	LeaseTTL time.Duration
	Logger   *slog.Logger
	// Progress, when set, receives each projection's progress now and then
	// (every ProgressEvery, 1 s when zero) and once at the end.
	Progress      func(name string, st RebuildStatus)
	ProgressEvery time.Duration
}

// renewLeases renews the rebuild's leases every ttl/3 until ctx ends, and
// cancels the rebuild when one is lost: taken by another owner, or not
// renewed for a whole term. A renewal that fails or times out is tried
// again at the next tick, as long as the term it renewed last has not run
// out: the database that holds the leases is the one the rebuild fills,
// and a large bulk insert or index build can hold its write lock for
// longer than one renewal waits.
func renewLeases(ctx context.Context, leases Leaser, held []string, owner string, ttl time.Duration, logger *slog.Logger, cancel context.CancelCauseFunc) {
	renewed := make(map[string]time.Time, len(held))
	for _, name := range held {
		renewed[name] = time.Now()
	}
	t := time.NewTicker(ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, name := range held {
			rctx, rcancel := context.WithTimeout(ctx, ttl/3)
			ok, err := leases.Renew(rctx, name, owner, ttl)
			rcancel()
			switch {
			case ctx.Err() != nil:
				return
			case err == nil && ok:
				renewed[name] = time.Now()
			case err == nil:
				cancel(fmt.Errorf("projections: rebuild lease %s lost: another owner holds it", name))
				return
			case time.Since(renewed[name]) >= ttl:
				cancel(fmt.Errorf("projections: rebuild lease %s lost: not renewed for %v: %w", name, ttl, err))
				return
			default:
				logger.Warn("rebuild lease not renewed; trying again", "lease", name, "err", err)
			}
		}
	}
}

// RebuildLeaseName is the lease a rebuild of the projection holds.
func RebuildLeaseName(name string) string { return name + ".rebuild" }

// Rebuild replays $all from the start into a fresh version of each
// projection (one pass for all of them), then, once the subscription has
// caught up, writes all of them in bulk at once, then saves each one's
// checkpoint and makes it the active version. The versions that served
// until then keep serving during the rebuild; the previous one is kept
// after the switch, older ones are dropped. A live runner moves over to the new version when it notices
// the switch. An event that does not decode fails the rebuild (nothing is
// switched): rebuilds never skip; nor does a write that fails (every new
// version is dropped).
//
// It returns the final status of each projection, by name.
func Rebuild(ctx context.Context, cfg RebuildConfig, projs ...Projection) (map[string]RebuildStatus, error) {
	if len(projs) == 0 {
		return nil, errors.New("projections: rebuild: no projection named")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	ttl := cfg.LeaseTTL
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	every := cfg.ProgressEvery
	if every <= 0 {
		every = time.Second
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// One rebuild per projection at a time, across replicas.
	var held []string
	defer func() {
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer rcancel()
		for _, name := range held {
			if err := cfg.Leases.Release(rctx, name, cfg.Owner); err != nil {
				logger.Warn("rebuild lease not released; it expires on its own", "lease", name, "err", err)
			}
		}
	}()
	for _, p := range projs {
		name := RebuildLeaseName(p.Name())
		ok, err := cfg.Leases.Acquire(ctx, name, cfg.Owner, ttl)
		if err != nil {
			return nil, fmt.Errorf("projections: rebuild %s: %w", p.Name(), err)
		}
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrRebuildRunning, p.Name())
		}
		held = append(held, name)
	}
	renewDone := make(chan struct{})
	defer func() {
		cancel(nil)
		<-renewDone
	}()
	go func() {
		defer close(renewDone)
		renewLeases(ctx, cfg.Leases, held, cfg.Owner, ttl, logger, cancel)
	}()

	// A fresh version each, above any that exists.
	type target struct {
		p        Projection
		version  int
		b        Builder
		st       RebuildStatus
		switched bool
	}
	now := time.Now()
	var head uint64
	if cfg.Source.Head != nil {
		if h, err := cfg.Source.Head(ctx); err == nil {
			head = h
		} else {
			logger.Warn("rebuild: head of $all unknown; no ETA", "err", err)
		}
	}
	targets := make([]*target, len(projs))
	for i, p := range projs {
		version, err := nextVersion(ctx, cfg.Versions, p.Base())
		if err != nil {
			return nil, err
		}
		// A rebuild that died may have left the version behind.
		if err := p.Drop(ctx, version); err != nil {
			return nil, err
		}
		b, err := p.Rebuild(ctx, version)
		if err != nil {
			return nil, fmt.Errorf("projections: rebuild %s: %w", p.Name(), err)
		}
		targets[i] = &target{p: p, version: version, b: b, st: RebuildStatus{State: RebuildRunning, Version: version, Head: head, StartedAt: now}}
		logger.Info("rebuild started", "projection", p.Name(), "version", version)
	}
	failed := true
	defer func() {
		if !failed {
			return
		}
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer dcancel()
		for _, t := range targets {
			if t == nil || t.switched {
				continue // a switched version serves now: never drop it
			}
			if err := t.p.Drop(dctx, t.version); err != nil {
				logger.Warn("unfinished rebuild version not dropped", "projection", t.p.Name(), "version", t.version, "err", err)
			}
		}
	}()

	byName := func() map[string]RebuildStatus {
		out := make(map[string]RebuildStatus, len(targets))
		for _, t := range targets {
			out[t.p.Name()] = t.st
		}
		return out
	}
	var events uint64
	applied := make([]uint64, len(targets))
	report := func(state RebuildState, position uint64, errText string) {
		elapsed := time.Since(now).Seconds()
		for i, t := range targets {
			t.st.State, t.st.Events, t.st.Applied, t.st.Position, t.st.Error = state, events, applied[i], position, errText
			if elapsed > 0 {
				t.st.Rate = float64(events) / elapsed
			}
			if state != RebuildRunning {
				end := time.Now()
				t.st.FinishedAt = &end
			}
			if head > position && position > 0 && state == RebuildRunning {
				t.st.ETASeconds = elapsed * float64(head-position) / float64(position)
			} else {
				t.st.ETASeconds = 0
			}
			if cfg.Progress != nil {
				cfg.Progress(t.p.Name(), t.st)
			}
		}
	}
	// Only what some target folds is read: the server filters the rest
	// out (the checkpoint is set from the last position read, and the live
	// runner, which reads every domain event, goes on from there).
	src := cfg.Source
	src.EventTypes = slices.DeleteFunc(slices.Clone(src.EventTypes), func(t string) bool {
		return !slices.ContainsFunc(projs, func(p Projection) bool { return p.Handles(t) })
	})
	last, err := replay(ctx, src, logger, func(env Envelope) error {
		events++
		for i, t := range targets {
			if t.p.Handles(env.Type) {
				if err := t.b.Apply(ctx, env); err != nil {
					return fmt.Errorf("%s: apply %s %s at %d: %w", t.p.Name(), env.Type, env.EventID, env.Position, err)
				}
				applied[i]++
			}
		}
		return nil
	}, every, func(position uint64) { report(RebuildRunning, position, "") })
	readTime := time.Since(now)
	if err == nil {
		// Each builder writes its own collections: all at once, so that
		// the database parses one projection's documents while it stores
		// another's. One failing does not cut the others short: an insert
		// the client gives up on still runs in the server and could create
		// its collection again after the failed versions are dropped.
		var g errgroup.Group
		for _, t := range targets {
			g.Go(func() error {
				if err := t.b.Finish(ctx); err != nil {
					if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
						err = cause // why the context ended says more than "context canceled"
					}
					return fmt.Errorf("projections: rebuild %s: write version %d: %w", t.p.Name(), t.version, err)
				}
				return nil
			})
		}
		err = g.Wait()
	}
	if err == nil && context.Cause(ctx) != nil && ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	for _, t := range targets {
		if err != nil {
			break
		}
		err = switchVersion(ctx, cfg, t.p, t.version, last)
		t.switched = err == nil
	}
	if err != nil {
		state := RebuildFailed
		if errors.Is(err, context.Canceled) {
			state = RebuildCanceled
		}
		report(state, last, err.Error())
		return byName(), err
	}
	failed = false
	report(RebuildDone, last, "")
	for _, t := range targets {
		logger.Info("rebuild done; switched to the new version", "projection", t.p.Name(), "version", t.version,
			"events", events, "applied", t.st.Applied, "position", last, "rate", int(t.st.Rate),
			"read", readTime.Round(time.Millisecond), "total", time.Since(now).Round(time.Millisecond))
		dropOldVersions(ctx, cfg.Versions, t.p, t.version, logger)
	}
	return byName(), nil
}

// switchVersion saves the new version's checkpoint, then makes it active.
// The checkpoint comes first: a runner that sees the switch must find
// where to resume.
func switchVersion(ctx context.Context, cfg RebuildConfig, p Projection, version int, last uint64) error {
	if last > 0 {
		if err := cfg.Checkpoints.Save(ctx, CheckpointName(p.Name(), p.Base(), version), last); err != nil {
			return fmt.Errorf("projections: rebuild %s: checkpoint: %w", p.Name(), err)
		}
	}
	if err := cfg.Versions.Switch(ctx, p.Base(), version); err != nil {
		return fmt.Errorf("projections: rebuild %s: switch to version %d: %w", p.Name(), version, err)
	}
	return nil
}

// nextVersion is one above every version of base that exists or is active.
func nextVersion(ctx context.Context, versions VersionStore, base string) (int, error) {
	stored, err := versions.Stored(ctx, base)
	if err != nil {
		return 0, err
	}
	a, _, err := versions.Active(ctx, base)
	if err != nil {
		return 0, err
	}
	return max(slices.Max(append(stored, 0)), a.Version) + 1, nil
}

// dropOldVersions drops what is older than the version before current:
// that one stays, for a runner on another replica still finishing its last
// event there, and as something to look at after a bad rebuild.
func dropOldVersions(ctx context.Context, versions VersionStore, p Projection, current int, logger *slog.Logger) {
	stored, err := versions.Stored(ctx, p.Base())
	if err != nil {
		logger.Warn("old versions not listed", "projection", p.Name(), "err", err)
		return
	}
	for _, v := range stored {
		if v < current-1 {
			if err := p.Drop(ctx, v); err != nil {
				logger.Warn("old version not dropped", "projection", p.Name(), "version", v, "err", err)
			}
		}
	}
}

// replay reads $all from the start, hands every domain event to apply in
// order, and returns the position of the last one once the subscription
// has caught up. tick is called every `every` with the position reached.
func replay(ctx context.Context, src Source, logger *slog.Logger, apply func(Envelope) error, every time.Duration, tick func(uint64)) (uint64, error) {
	caughtUp := make(chan struct{}, 1)
	var mu sync.Mutex
	var caughtAt uint64
	sub, err := eventstoredb.NewSubscriber(src.Conn, eventstoredb.SubscriberConfig{
		Events: &eventstoredb.EventFilter{Types: src.EventTypes}, Logger: logger,
		OnCaughtUp: func(_ string, position uint64, _ bool) {
			mu.Lock()
			caughtAt = position
			mu.Unlock()
			select {
			case caughtUp <- struct{}{}:
			default:
			}
		},
	})
	if err != nil {
		return 0, err
	}
	defer func() { _ = sub.Close() }()
	msgs, err := sub.Subscribe(ctx, "rebuild")
	if err != nil {
		return 0, err
	}
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	var last uint64
	for {
		select {
		case msg, ok := <-msgs:
			if !ok {
				if err := context.Cause(ctx); err != nil {
					return last, err
				}
				return last, errors.New("projections: replay: the subscription ended")
			}
			env, err := envelopeOf(msg, src.Decode)
			if err == nil {
				err = apply(env)
			}
			if err != nil {
				msg.Nack()
				return last, &EventError{EventID: env.EventID, EventType: env.Type, Stream: env.Stream, Position: env.Position, Err: err}
			}
			last = env.Position // before the ack: caught-up follows it
			msg.Ack()
		case <-caughtUp:
			mu.Lock()
			at := caughtAt
			mu.Unlock()
			// Everything up to at was in the store when it said so; what
			// arrived after it is folded too, so last is where we stand.
			if at <= last {
				return last, nil
			}
		case <-ticker.C:
			tick(last)
		case <-ctx.Done():
			return last, context.Cause(ctx)
		}
	}
}
