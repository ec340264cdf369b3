package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/orgportal/onboarding/adapters/eventstoredb"
	"github.com/orgportal/onboarding/adapters/mongodb"
)

// Retry is the backoff for a failing event before the runner decides the
// projection is stalled on it.
type Retry struct {
	MaxRetries      int
	InitialInterval time.Duration
	MaxInterval     time.Duration
}

// DefaultRetry tries an event six times over about ten seconds.
var DefaultRetry = Retry{MaxRetries: 5, InitialInterval: 250 * time.Millisecond, MaxInterval: 5 * time.Second}

// RunnerConfig configures a Runner.
type RunnerConfig struct {
	Source      Source
	Projections []Projection
	// Checkpoints, Versions and Leases live in the read-model database
	// (mongodb.NewCheckpointStore, NewVersions, NewLeases).
	Checkpoints eventstoredb.CheckpointStore
	Versions    VersionStore
	Leases      Leaser
	// Owner names this replica among those that compete for the leases.
	Owner string
	// LeaseTTL is how long a replica holds a projection without renewing:
	// the longest pause before another replica takes over from one that
	// died. 15 s when zero.
	LeaseTTL time.Duration
	// Retry is DefaultRetry when zero.
	Retry Retry
	// VersionPoll is how often a running projection checks whether a
	// rebuild elsewhere switched its version; 2 s when zero.
	VersionPoll time.Duration
	// StatusEvery is how often the lag is sampled and standby replicas
	// read the version and checkpoint they show; 5 s when zero.
	StatusEvery time.Duration
	// NackDelay is passed to the subscribers (tests shorten it).
	NackDelay time.Duration
	// CheckpointEvery and CheckpointDelay batch checkpoint saves (see
	// eventstoredb.SubscriberConfig): a checkpoint is saved after this
	// many events, or once no event is waiting, at most CheckpointDelay
	// after the last save. A consistency token waits for the checkpoint,
	// so CheckpointDelay adds at most that much to what a reader with a
	// token waits for under load; redelivery after a crash (up to that
	// many events, applied idempotently) is the other cost. 256 and 25 ms
	// when zero; CheckpointEvery 1 saves after every event.
	CheckpointEvery int
	CheckpointDelay time.Duration
	// CheckpointDelays overrides CheckpointDelay for the projections it
	// names: a projection whose readers can wait a little longer takes
	// fewer, larger checkpoints (fewer flushes, each write request
	// carrying more documents, and a document changed twice in the
	// window written once).
	CheckpointDelays map[string]time.Duration
	// CheckpointSaveEvery spaces out the saves themselves when Checkpoints
	// can be told a position (eventstoredb.CheckpointAnnouncer, as
	// mongodb.CheckpointStore can): a checkpoint taken sooner after the
	// last save is written to the read models (flushed) and announced
	// only, which a reader sharing the store counts at once; the last one
	// is saved when this much time has passed. Each save is a write to
	// the read-model database (about 1.5 ms of the embedded FerretDB's
	// CPU, BENCHMARKS.md), and checkpoints are taken up to 1/CheckpointDelay
	// times a second per projection under load. The cost:
	// a reader in another process sees progress up to this much later,
	// and a crash redelivers up to this much more. 250 ms when zero;
	// negative saves every checkpoint.
	CheckpointSaveEvery time.Duration
	// Observe makes a runner that never takes a lease, so it never
	// projects: every projection stays standby, showing the version and
	// checkpoint that the replica running it saved (sampled every
	// StatusEvery), and StartRebuild refuses with ErrObserving. A replica
	// that serves requests only (cmd/portal's role api) observes.
	Observe bool
	// Yield, when set, is called before each event a projection handles,
	// with when the event was written; it may wait (priority.Gate.Yield:
	// the commands the process serves go first). It must return when ctx
	// ends.
	Yield  func(ctx context.Context, written time.Time)
	Logger *slog.Logger
}

// checkpointDelay is the CheckpointDelay of projection name.
func (cfg RunnerConfig) checkpointDelay(name string) time.Duration {
	if d, ok := cfg.CheckpointDelays[name]; ok && d > 0 {
		return d
	}
	return cfg.CheckpointDelay
}

// Runner keeps the projections up to date: each one is a Watermill router
// with one handler (so its events arrive in order, one at a time) behind
// recovery, retry with backoff and correlation middleware, over a durable
// subscription to every domain event, checkpointed per version of the
// read model. Each projection runs in one replica at a time, the holder of
// the lease named after it.
//
// An event that keeps failing stalls its projection: the runner stops it
// at that event (its checkpoint stays before it, so nothing is skipped),
// records the failure in Status and keeps the lease, so that no other
// replica runs into the same wall. Resume (the admin API), or a restart,
// tries the event again. Failures that say the read-model database is
// unreachable are retried until it is back instead.
//
// An applier that keeps its writes for the checkpoint (Flusher) is
// flushed before each checkpoint save. A failed flush may have lost the
// writes of events already acknowledged, so the runner then stops the
// subscription and starts over from the last saved checkpoint with a new
// applier, after a pause that grows while flushes keep failing.
type Runner struct {
	cfg     RunnerConfig
	log     *slog.Logger
	workers []*worker
	byName  map[string]*worker

	mu       sync.Mutex
	runCtx   context.Context
	rebuilds sync.WaitGroup
}

// Errors of the operator actions.
var (
	ErrUnknownProjection = errors.New("projections: no such projection")
	ErrNotStalled        = errors.New("projections: the projection is not stalled")
	ErrNotRunning        = errors.New("projections: the runner is not running")
	ErrObserving         = errors.New("projections: this replica only observes the projections; rebuild on one that runs them")
)

// NewRunner checks cfg and returns a runner; Run starts it.
func NewRunner(cfg RunnerConfig) (*Runner, error) {
	switch {
	case cfg.Source.Conn == nil || cfg.Source.Decode == nil || len(cfg.Source.EventTypes) == 0:
		return nil, errors.New("projections: runner needs a connection, a decoder and the event types")
	case cfg.Checkpoints == nil || cfg.Versions == nil || cfg.Leases == nil || cfg.Owner == "":
		return nil, errors.New("projections: runner needs checkpoints, versions, leases and an owner")
	case len(cfg.Projections) == 0:
		return nil, errors.New("projections: runner has no projection")
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 15 * time.Second
	}
	if cfg.Retry == (Retry{}) {
		cfg.Retry = DefaultRetry
	}
	if cfg.VersionPoll <= 0 {
		cfg.VersionPoll = 2 * time.Second
	}
	if cfg.StatusEvery <= 0 {
		cfg.StatusEvery = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = 256
	}
	if cfg.CheckpointDelay <= 0 {
		cfg.CheckpointDelay = 25 * time.Millisecond
	}
	switch {
	case cfg.CheckpointSaveEvery == 0:
		cfg.CheckpointSaveEvery = 250 * time.Millisecond
	case cfg.CheckpointSaveEvery < 0:
		cfg.CheckpointSaveEvery = 0
	}
	r := &Runner{cfg: cfg, log: cfg.Logger, byName: map[string]*worker{}}
	for _, p := range cfg.Projections {
		if _, dup := r.byName[p.Name()]; dup || p.Name() == "" {
			return nil, fmt.Errorf("projections: projection name %q empty or used twice", p.Name())
		}
		w := &worker{r: r, p: p, log: cfg.Logger.With("projection", p.Name()),
			resume: make(chan struct{}, 1), moved: make(chan struct{}, 1)}
		w.st = Status{Name: p.Name(), State: StateStandby}
		r.workers = append(r.workers, w)
		r.byName[p.Name()] = w
	}
	return r, nil
}

// Observing reports whether the runner only observes (RunnerConfig.Observe).
func (r *Runner) Observing() bool { return r.cfg.Observe }

// Names lists the projections in the order they were given.
func (r *Runner) Names() []string {
	names := make([]string, len(r.workers))
	for i, w := range r.workers {
		names[i] = w.p.Name()
	}
	return names
}

// Run runs every projection (while this replica holds its lease) until
// ctx ends, then waits for them and for rebuilds to stop.
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.runCtx != nil {
		r.mu.Unlock()
		return errors.New("projections: runner already running")
	}
	r.runCtx = ctx
	r.mu.Unlock()

	var wg sync.WaitGroup
	for _, w := range r.workers {
		if r.cfg.Observe {
			continue
		}
		wg.Go(func() {
			err := RunWithLease(ctx, r.cfg.Leases, LeaseConfig{Name: w.p.Name(), Owner: r.cfg.Owner, TTL: r.cfg.LeaseTTL, Logger: w.log}, w.term)
			if err != nil {
				w.log.Error("projection not started", "err", err)
			}
		})
	}
	wg.Go(func() { r.sample(ctx) })
	wg.Wait()
	r.rebuilds.Wait()
	return nil
}

// stopping reports whether Run's context has ended (a shutdown, as
// opposed to a lost lease, which ends only a term's context).
func (r *Runner) stopping() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runCtx != nil && r.runCtx.Err() != nil
}

// Statuses returns every projection's status.
func (r *Runner) Statuses() []Status {
	out := make([]Status, len(r.workers))
	for i, w := range r.workers {
		out[i] = w.status()
	}
	return out
}

// Status returns one projection's status.
func (r *Runner) Status(name string) (Status, bool) {
	w, ok := r.byName[name]
	if !ok {
		return Status{}, false
	}
	return w.status(), true
}

// Ready reports an error naming every stalled projection (for /readyz).
// A projection building its first version, or waiting for the event store,
// is not an error of its own: the event store check covers the latter,
// and the admin API shows the progress of the former.
func (r *Runner) Ready() error {
	var errs []error
	for _, w := range r.workers {
		if st := w.status(); st.State == StateStalled && st.Failing != nil {
			errs = append(errs, fmt.Errorf("%s stalled at %s %s (position %d): %s", st.Name, st.Failing.EventType, st.Failing.EventID, st.Failing.Position, st.Failing.Error))
		}
	}
	return errors.Join(errs...)
}

// Resume makes a stalled projection try its failing event again.
func (r *Runner) Resume(name string) error {
	w, ok := r.byName[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownProjection, name)
	}
	if st := w.status(); st.State != StateStalled {
		return fmt.Errorf("%w: %s is %s", ErrNotStalled, name, st.State)
	}
	select {
	case w.resume <- struct{}{}:
	default:
	}
	return nil
}

// StartRebuild rebuilds the named projections (in one pass over $all) in
// the background; Status shows the progress. A running projection keeps
// serving its version meanwhile and moves to the new one when it is done.
func (r *Runner) StartRebuild(names ...string) error {
	if r.cfg.Observe {
		return ErrObserving
	}
	var ws []*worker
	for _, name := range names {
		w, ok := r.byName[name]
		if !ok {
			return fmt.Errorf("%w: %q", ErrUnknownProjection, name)
		}
		ws = append(ws, w)
	}
	r.mu.Lock()
	ctx := r.runCtx
	r.mu.Unlock()
	if ctx == nil || ctx.Err() != nil {
		return ErrNotRunning
	}
	for i, w := range ws {
		if !w.rebuilding.CompareAndSwap(false, true) {
			for _, started := range ws[:i] {
				started.rebuilding.Store(false)
			}
			return fmt.Errorf("%w: %s", ErrRebuildRunning, w.p.Name())
		}
	}
	projs := make([]Projection, len(ws))
	for i, w := range ws {
		projs[i] = w.p
		w.update(func(s *Status) { s.Rebuild = &RebuildStatus{State: RebuildRunning, StartedAt: time.Now()} })
	}
	r.rebuilds.Add(1)
	go func() {
		defer r.rebuilds.Done()
		results, err := Rebuild(ctx, r.rebuildConfig(), projs...)
		for _, w := range ws {
			if st, ok := results[w.p.Name()]; ok {
				w.update(func(s *Status) { s.Rebuild = &st })
			} else if err != nil {
				end := time.Now()
				w.update(func(s *Status) {
					s.Rebuild = &RebuildStatus{State: RebuildFailed, StartedAt: s.Rebuild.StartedAt, FinishedAt: &end, Error: err.Error()}
				})
			}
			w.rebuilding.Store(false)
			if err == nil {
				select {
				case w.moved <- struct{}{}:
				default:
				}
			}
		}
		if err != nil && ctx.Err() == nil {
			r.log.Error("rebuild failed; the previous version keeps serving", "projections", names, "err", err)
		}
	}()
	return nil
}

func (r *Runner) rebuildConfig() RebuildConfig {
	return RebuildConfig{
		Source: r.cfg.Source, Checkpoints: r.cfg.Checkpoints, Versions: r.cfg.Versions, Leases: r.cfg.Leases,
		Owner: r.cfg.Owner, Logger: r.log,
		Progress: func(name string, st RebuildStatus) {
			if w, ok := r.byName[name]; ok {
				w.update(func(s *Status) { s.Rebuild = &st })
			}
		},
	}
}

// sample refreshes what Status shows beyond what handlers record: the lag
// of running projections, and for standby ones the active version and its
// checkpoint.
func (r *Runner) sample(ctx context.Context) {
	t := time.NewTicker(r.cfg.StatusEvery)
	defer t.Stop()
	for {
		for _, w := range r.workers {
			w.sample(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// worker is one projection in this replica.
type worker struct {
	r   *Runner
	p   Projection
	log *slog.Logger

	mu sync.Mutex
	st Status

	resume     chan struct{} // Resume asks a stalled term to go on
	moved      chan struct{} // a rebuild here switched the version
	rebuilding atomic.Bool
	// redeliveries counts the flushes that failed in a row, for the pause
	// before delivering again (see follow).
	redeliveries atomic.Int32
}

func (w *worker) status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.st
	if st.Failing != nil {
		f := *st.Failing
		st.Failing = &f
	}
	if st.Rebuild != nil {
		rb := *st.Rebuild
		st.Rebuild = &rb
	}
	return st
}

func (w *worker) update(f func(*Status)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f(&w.st)
}

// term runs the projection for one lease term.
func (w *worker) term(ctx context.Context) error {
	defer w.update(func(s *Status) { s.State, s.LagEvents, s.LagSeconds = StateStandby, 0, 0 })
	for ctx.Err() == nil {
		version, err := w.activeVersion(ctx)
		var ee *EventError
		if errors.As(err, &ee) && !errors.Is(err, ErrUnavailable) {
			// The first version cannot be built past this event: a stall
			// like any other.
			w.update(func(s *Status) {
				s.State = StateStalled
				s.Failing = &Failure{EventID: ee.EventID, EventType: ee.EventType, Stream: ee.Stream, Position: ee.Position,
					Error: ee.Err.Error(), Since: time.Now()}
			})
			w.log.Error("projection stalled building its first version: an event fails; fix the cause, then resume it (admin API) or restart",
				"event_id", ee.EventID, "event_type", ee.EventType, "position", ee.Position, "err", ee.Err)
			select {
			case <-w.resume:
				w.update(func(s *Status) { s.Failing = nil })
				continue
			case <-ctx.Done():
				return nil
			}
		}
		if err != nil {
			return err
		}
		stalled, err := w.follow(ctx, version)
		if err != nil {
			return err
		}
		if !stalled {
			continue
		}
		select {
		case <-w.resume:
			w.log.Info("resuming the stalled projection")
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// activeVersion returns the version to follow, building the first one from
// history in bulk when there is none yet (much faster than live apply).
func (w *worker) activeVersion(ctx context.Context) (int, error) {
	a, found, err := w.r.cfg.Versions.Active(ctx, w.p.Base())
	if err != nil {
		return 0, err
	}
	if found {
		if err := w.p.Prepare(ctx, a.Version); err != nil {
			return 0, err
		}
		return a.Version, nil
	}
	if !w.rebuilding.CompareAndSwap(false, true) {
		return 0, fmt.Errorf("%w: %s", ErrRebuildRunning, w.p.Name())
	}
	defer w.rebuilding.Store(false)
	w.update(func(s *Status) { s.State = StateRebuilding })
	w.log.Info("no version yet: building the first one from history")
	results, err := Rebuild(ctx, w.r.rebuildConfig(), w.p)
	if st, ok := results[w.p.Name()]; ok {
		w.update(func(s *Status) { s.Rebuild = &st })
	}
	if err != nil {
		return 0, err
	}
	return results[w.p.Name()].Version, nil
}

// follow applies live events to version until the projection stalls
// (stalled true), the version changes, or ctx ends.
func (w *worker) follow(ctx context.Context, version int) (stalled bool, err error) {
	cfg := w.r.cfg
	checkpoint := CheckpointName(w.p.Name(), w.p.Base(), version)
	pos, _, err := cfg.Checkpoints.Load(ctx, checkpoint)
	if err != nil {
		return false, err
	}
	applier := w.p.Live(version)
	// A failed flush may have lost writes of acknowledged events, and the
	// subscriber goes on after a failed BeforeCheckpoint (it saves no
	// checkpoint and tries again at the next one): so the subscription is
	// stopped, and the next one starts from the last saved checkpoint with
	// a new applier. The failed applier refuses every event meanwhile.
	redeliver := make(chan error, 1)
	lost := func(err error) {
		select {
		case redeliver <- err:
		default:
		}
	}
	var beforeCheckpoint func(context.Context, string) error
	if f, ok := applier.(Flusher); ok {
		// The flush runs under the worker's context, not the subscriber's
		// bound on one checkpoint save (a few seconds): a large flush on a
		// busy database may take longer, and abandoning it half way would
		// only deliver the same events again for a flush as large, while
		// the database still works on the abandoned one. When that context
		// ends because the runner is stopping, a flush goes on (one under
		// way, and the subscription's last one): the lease is still held
		// (released after the term returns), so the writes of the events
		// handled are stored, within TTL/3 as RunWithLease requires (a flush
		// cut short would leave the last checkpoint at the one before it).
		// After a lost lease it fails: another replica may be writing
		// already.
		beforeCheckpoint = func(context.Context, string) error {
			flushCtx, cancel := w.flushContext(ctx, cfg.LeaseTTL/3)
			defer cancel()
			if err := f.Flush(flushCtx); err != nil {
				lost(err)
				return err
			}
			w.redeliveries.Store(0)
			return nil
		}
	}
	sub, err := eventstoredb.NewSubscriber(cfg.Source.Conn, eventstoredb.SubscriberConfig{
		ConsumerGroup: w.p.Name(), Checkpoints: cfg.Checkpoints,
		Events: &eventstoredb.EventFilter{Types: cfg.Source.EventTypes}, NackDelay: cfg.NackDelay, Logger: w.log,
		CheckpointEvery: cfg.CheckpointEvery, CheckpointDelay: cfg.checkpointDelay(w.p.Name()), CheckpointSaveEvery: cfg.CheckpointSaveEvery,
		BeforeCheckpoint: beforeCheckpoint,
		OnCaughtUp:       func(string, uint64, bool) { w.update(func(s *Status) { s.CaughtUp = true }) },
	})
	if err != nil {
		return false, err
	}
	defer func() { _ = sub.Close() }()
	// The router's lifecycle chatter (handler added, started, closed) goes
	// to debug; "projection running" and the failures say what matters.
	wlog := watermill.NewSlogLoggerWithLevelMapping(w.log, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.LeaseTTL / 3}, wlog)
	if err != nil {
		return false, err
	}
	stall := make(chan struct{})
	var stallOnce sync.Once
	router.AddMiddleware(
		w.guard(func() { stallOnce.Do(func() { close(stall) }) }),
		middleware.CorrelationID,
		middleware.Retry{
			MaxRetries: cfg.Retry.MaxRetries, InitialInterval: cfg.Retry.InitialInterval,
			MaxInterval: cfg.Retry.MaxInterval, Multiplier: 2, RandomizationFactor: 0.2, Logger: wlog,
			// An applier that lost writes fails every event until it is
			// replaced.
			ShouldRetry: func(p middleware.RetryParams) bool { return !errors.Is(p.Err, ErrRedeliver) },
		}.Middleware,
		middleware.Recoverer,
	)
	router.AddConsumerHandler(w.p.Name(), mongodb.CollectionName(w.p.Base(), version), sub, w.handler(applier, lost))

	w.update(func(s *Status) {
		s.State, s.Version, s.Position, s.CaughtUp, s.Failing, s.LastError = StateRunning, version, pos, false, nil, ""
	})
	w.log.Info("projection running", "version", version, "after", pos)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- router.Run(runCtx) }()
	poll := time.NewTicker(cfg.VersionPoll)
	defer poll.Stop()
	stop := func() error {
		cancel()
		return <-done
	}
	for {
		select {
		case <-stall:
			_ = stop()
			w.update(func(s *Status) { s.State = StateStalled })
			f := w.status().Failing
			w.log.Error("projection stalled: an event keeps failing; fix the cause, then resume it (admin API) or restart",
				"event_id", f.EventID, "event_type", f.EventType, "position", f.Position, "err", f.Error)
			return true, nil
		case <-w.moved:
			_ = stop()
			return false, nil
		case err := <-redeliver:
			_ = stop()
			n := w.redeliveries.Add(1)
			pause := min(cfg.Retry.InitialInterval<<min(n-1, 16), cfg.Retry.MaxInterval)
			w.update(func(s *Status) { s.Failures++; s.LastError = err.Error() })
			w.log.Warn("writes before a checkpoint failed; delivering again from the last checkpoint",
				"err", err, "in_a_row", n, "retry_in", pause)
			select {
			case <-time.After(pause):
			case <-ctx.Done():
			}
			return false, nil
		case <-poll.C:
			a, found, err := cfg.Versions.Active(ctx, w.p.Base())
			if err == nil && found && a.Version != version {
				w.log.Info("version switched by a rebuild; following the new one", "from", version, "to", a.Version)
				_ = stop()
				return false, nil
			}
		case err := <-done:
			if ctx.Err() != nil {
				return false, nil
			}
			return false, fmt.Errorf("router stopped: %v", err)
		case <-ctx.Done():
			_ = stop()
			return false, nil
		}
	}
}

// handler decodes each message and applies the events the projection
// handles; the others only move the checkpoint. It makes no round trip of
// its own: an Applier that is a Flusher writes at checkpoints, and the
// status it updates is in memory. An Apply that reports lost writes
// (ErrRedeliver) calls lost, which restarts the subscription.
func (w *worker) handler(a Applier, lost func(error)) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		env, err := envelopeOf(msg, w.r.cfg.Source.Decode)
		handled := err == nil && w.p.Handles(env.Type)
		if handled && w.r.cfg.Yield != nil {
			w.r.cfg.Yield(msg.Context(), env.Created)
		}
		if handled {
			if err = a.Apply(msg.Context(), env); err != nil {
				if errors.Is(err, ErrRedeliver) {
					lost(err)
				}
				err = fmt.Errorf("apply %s %s at %d: %w", env.Type, env.EventID, env.Position, err)
			}
		}
		if err != nil {
			w.update(func(s *Status) { s.Failures++ })
			return err
		}
		w.update(func(s *Status) {
			if handled {
				s.EventsApplied++
			}
			s.Position, s.LastError = env.Position, ""
			if !env.Created.IsZero() {
				created := env.Created
				s.LastEventAt = &created
			}
		})
		return nil
	}
}

// flushContext returns a context for a flush under ctx, a term's: it
// ends with ctx, unless ctx ended because the runner is stopping; then it
// ends up to grace later (see beforeCheckpoint in follow).
func (w *worker) flushContext(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		if !w.r.stopping() {
			cancel()
			return
		}
		select {
		case <-time.After(grace):
			cancel()
		case <-fctx.Done():
		}
	})
	return fctx, func() {
		stop()
		cancel()
	}
}

// errStalled answers redeliveries that reach a projection stopping on a
// failed event.
var errStalled = errors.New("projections: stalled")

// guard is the outermost middleware: it turns a failure that outlasted the
// retries into a stall, except when the database is unreachable, which is
// retried (the subscriber redelivers the nacked event) until it is back.
func (w *worker) guard(stall func()) message.HandlerMiddleware {
	var stalled atomic.Bool
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			if stalled.Load() {
				return nil, errStalled
			}
			out, err := h(msg)
			if err == nil {
				return out, nil
			}
			if errors.Is(err, ErrRedeliver) {
				// Not this event's fault: the subscription is being
				// restarted from the last checkpoint (see follow).
				return nil, err
			}
			if errors.Is(err, ErrUnavailable) {
				w.update(func(s *Status) { s.LastError = err.Error() })
				w.log.Warn("read-model database unavailable; retrying the event", "err", err)
				return nil, err
			}
			stalled.Store(true)
			pos, _ := strconv.ParseUint(msg.Metadata.Get(eventstoredb.MetadataCommitPosition), 10, 64)
			f := &Failure{
				EventID: msg.Metadata.Get(eventstoredb.MetadataEventID), EventType: msg.Metadata.Get(eventstoredb.MetadataEventType),
				Stream: msg.Metadata.Get(eventstoredb.MetadataStream), Position: pos, Error: err.Error(), Since: time.Now(),
			}
			w.update(func(s *Status) { s.Failing = f })
			stall()
			return nil, err
		}
	}
}

// sample refreshes the lag (running) or the version and position shown
// (standby).
func (w *worker) sample(ctx context.Context) {
	cfg := w.r.cfg
	st := w.status()
	ctx, cancel := context.WithTimeout(ctx, cfg.StatusEvery)
	defer cancel()
	switch st.State {
	case StateStandby:
		a, found, err := cfg.Versions.Active(ctx, w.p.Base())
		if err != nil || !found {
			return
		}
		pos, _, err := cfg.Checkpoints.Load(ctx, CheckpointName(w.p.Name(), w.p.Base(), a.Version))
		if err != nil {
			return
		}
		w.update(func(s *Status) {
			if s.State == StateStandby {
				s.Version, s.Position = a.Version, pos
			}
		})
	case StateRunning, StateStalled:
		if cfg.Source.Backlog == nil {
			return
		}
		n, oldest, err := cfg.Source.Backlog(ctx, st.Position)
		if err != nil {
			return
		}
		lag := 0.0
		if n > 0 && !oldest.IsZero() {
			lag = max(0, time.Since(oldest).Seconds())
		}
		w.update(func(s *Status) { s.LagEvents, s.LagSeconds = n, lag })
	}
}
