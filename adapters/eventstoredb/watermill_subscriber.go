package eventstoredb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/ThreeDotsLabs/watermill/message"
)

// EventFilter selects events by type across all streams. Set exactly one
// field.
type EventFilter struct {
	// Types are exact event type names (sent as an anchored regex of the
	// quoted names). domain.Registry.Types() is "all our event types".
	Types []string
	// Prefixes match event types starting with any of them.
	Prefixes []string
	// Regex is matched (unanchored) against the event type. Use syntax
	// common to RE2 and .NET: our embedded server uses Go's regexp, a real
	// node .NET's.
	Regex string
}

// esdbFilter validates f and returns the server-side filter.
func (f EventFilter) esdbFilter() (*esdb.SubscriptionFilter, error) {
	set := 0
	for _, b := range []bool{len(f.Types) > 0, len(f.Prefixes) > 0, f.Regex != ""} {
		if b {
			set++
		}
	}
	if set != 1 {
		return nil, errors.New("eventstoredb: an event filter needs exactly one of Types, Prefixes or Regex")
	}
	switch {
	case len(f.Types) > 0:
		quoted := make([]string, len(f.Types))
		for i, name := range f.Types {
			if name == "" {
				return nil, errors.New("eventstoredb: event filter with an empty type name")
			}
			quoted[i] = regexp.QuoteMeta(name)
		}
		return &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Regex: "^(?:" + strings.Join(quoted, "|") + ")$"}, nil
	case len(f.Prefixes) > 0:
		for _, p := range f.Prefixes {
			if p == "" {
				return nil, errors.New("eventstoredb: event filter with an empty prefix (it would match everything, system events included)")
			}
		}
		return &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Prefixes: append([]string(nil), f.Prefixes...)}, nil
	default:
		if _, err := regexp.Compile(f.Regex); err != nil {
			return nil, fmt.Errorf("eventstoredb: event filter regex: %w", err)
		}
		return &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Regex: f.Regex}, nil
	}
}

// streamFilter selects exactly the stream named topic.
func streamFilter(topic string) *esdb.SubscriptionFilter {
	return &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Regex: "^" + regexp.QuoteMeta(topic) + "$"}
}

// SubscriberConfig configures a Subscriber. The zero value is an ephemeral
// subscriber to streams named by topic.
type SubscriberConfig struct {
	// ConsumerGroup makes the subscriptions durable: each Subscribe(topic)
	// resumes after the checkpoint named CheckpointName(ConsumerGroup,
	// topic) in Checkpoints, and saves its progress there. Renaming the
	// group or the topic therefore replays history. Empty: every
	// Subscribe starts at the beginning of $all and remembers nothing.
	ConsumerGroup string
	// Checkpoints stores the progress of a durable subscriber; required
	// with ConsumerGroup.
	Checkpoints CheckpointStore

	// Events, when set, makes every subscription deliver the events it
	// selects from all streams; the topic then only names the
	// subscription. Nil: the topic is a stream name and a subscription
	// delivers that stream's events.
	Events *EventFilter

	// CheckpointEvery saves the checkpoint after this many acknowledged
	// messages (1 when zero: after each). Larger values save round trips
	// to a slow store at the price of redelivering up to that many
	// messages after a crash; pending progress is also saved when the
	// server reports a checkpoint or caught-up, when a subscription drops
	// and when it ends.
	CheckpointEvery int
	// CheckpointDelay, when positive (and CheckpointEvery above 1), bounds
	// how long acknowledged progress stays unsaved: it is saved at once
	// when no further event is waiting and the last save is at least this
	// old, and otherwise when this much time has passed since the last
	// save (by a timer, so an idle subscription saves its last position
	// within CheckpointDelay). Under a burst that makes one save per
	// CheckpointDelay or CheckpointEvery events instead of one per event;
	// a lone event is saved right away. Zero: only the occasions listed
	// under CheckpointEvery save.
	CheckpointDelay time.Duration
	// CheckpointSaveEvery, when positive and Checkpoints is a
	// CheckpointAnnouncer, spaces out the saves themselves: a checkpoint
	// taken less than this long after the last save is only announced to
	// the store (after BeforeCheckpoint, as a save would be), and a timer
	// saves the last one announced this long after the last save. The
	// store sees one write per CheckpointSaveEvery instead of one per
	// CheckpointDelay; in exchange a crash delivers up to this much
	// more again, and a process that reads the stored checkpoint (not the
	// announcements) sees progress up to this much later. A subscription
	// that drops or ends saves at once.
	CheckpointSaveEvery time.Duration
	// BeforeCheckpoint, when set, runs before each checkpoint save, on the
	// subscription's goroutine, between deliveries: a handler that defers
	// some writes makes them durable here. The checkpoint is not saved
	// when it fails (the next opportunity tries again).
	BeforeCheckpoint func(ctx context.Context, topic string) error
	// NackDelay is the pause before a nacked message is delivered again;
	// 50 ms when zero.
	NackDelay time.Duration
	// ReconnectBackoff is the first pause before resubscribing after a
	// dropped subscription, doubled after each failed attempt up to
	// MaxReconnectBackoff; 100 ms and 2 s when zero.
	ReconnectBackoff    time.Duration
	MaxReconnectBackoff time.Duration
	// MaxInFlight is how many events a subscription hands to the handler
	// before the first of them is acked (1 when zero: one at a time, in
	// commit order). Above one, events of different streams are handled
	// concurrently, those of one stream still one at a time and in order;
	// the checkpoint covers the events handled without a gap, and
	// BeforeCheckpoint may run while later events are with the handler.
	// For handlers that wait on something slow per event (a mail server),
	// not for the projections, whose folds depend on commit order.
	MaxInFlight int
	// OpenTimeout bounds the wait for the server to confirm a new
	// subscription; 5 s when zero. The client can wait forever for a
	// server it lost, whatever the context says.
	OpenTimeout time.Duration

	// Logger receives reconnects and checkpoint failures; slog.Default()
	// when nil.
	Logger *slog.Logger

	// OnCaughtUp, when set, is called each time a subscription has
	// delivered, and seen acknowledged, everything the server held when it
	// said so (it says so again after falling behind and catching up).
	// position is the commit position of the last acknowledged event; ok
	// is false when the subscription has acknowledged none and started from
	// the beginning. A rebuild stops there; a runner reports it. It runs on
	// the subscription's goroutine: return quickly.
	OnCaughtUp func(topic string, position uint64, ok bool)
}

// CheckpointName is the checkpoint of a durable subscription: the consumer
// group and the topic, which together are its identity.
func CheckpointName(consumerGroup, topic string) string {
	return consumerGroup + "/" + topic
}

// maxSearchWindow is how many non-matching events the server may scan
// before it answers a filtered subscription with a checkpoint. Checkpoints
// only prompt us to save pending progress, so fewer is cheaper.
const maxSearchWindow = 1024

// checkpointStoreTimeout bounds one CheckpointStore call.
const checkpointStoreTimeout = 5 * time.Second

// Subscriber is a Watermill subscriber over catch-up subscriptions to
// $all. Delivery is at-least-once and in $all order: one message at a
// time, the next only after the previous one was acked; a nacked message
// is delivered again (after NackDelay) until it is acked. A dropped
// subscription (server down, network) is resubscribed with backoff after
// the last acked event, so nothing is skipped; a client that closed itself
// is replaced through Conn.Renew.
//
// Each message carries the event's data as payload and the metadata
// described by the Metadata* constants; its UUID is the event id (or the
// UUID of the Watermill message that was published as this event).
type Subscriber struct {
	conn   *Conn
	cfg    SubscriberConfig
	events *esdb.SubscriptionFilter
	log    *slog.Logger

	closing   context.Context
	close     context.CancelFunc
	mu        sync.Mutex
	closed    bool
	consumers sync.WaitGroup
}

var _ message.Subscriber = (*Subscriber)(nil)

// NewSubscriber returns a subscriber on conn. Closing the subscriber leaves
// conn open; close conn after its subscribers.
func NewSubscriber(conn *Conn, cfg SubscriberConfig) (*Subscriber, error) {
	if conn == nil {
		return nil, errors.New("eventstoredb: subscriber needs a connection")
	}
	if cfg.ConsumerGroup != "" && cfg.Checkpoints == nil {
		return nil, fmt.Errorf("eventstoredb: consumer group %q needs a checkpoint store", cfg.ConsumerGroup)
	}
	if cfg.ConsumerGroup == "" && cfg.Checkpoints != nil {
		return nil, errors.New("eventstoredb: a checkpoint store needs a consumer group to name the checkpoints")
	}
	if strings.Contains(cfg.ConsumerGroup, "/") {
		return nil, fmt.Errorf("eventstoredb: consumer group %q: no '/' please, it separates group and topic in checkpoint names", cfg.ConsumerGroup)
	}
	s := &Subscriber{conn: conn, cfg: cfg, log: cfg.Logger}
	if cfg.Events != nil {
		f, err := cfg.Events.esdbFilter()
		if err != nil {
			return nil, err
		}
		s.events = f
	}
	if s.cfg.CheckpointEvery <= 0 {
		s.cfg.CheckpointEvery = 1
	}
	if s.cfg.NackDelay <= 0 {
		s.cfg.NackDelay = 50 * time.Millisecond
	}
	if s.cfg.ReconnectBackoff <= 0 {
		s.cfg.ReconnectBackoff = 100 * time.Millisecond
	}
	if s.cfg.MaxReconnectBackoff < s.cfg.ReconnectBackoff {
		s.cfg.MaxReconnectBackoff = max(2*time.Second, s.cfg.ReconnectBackoff)
	}
	if s.cfg.OpenTimeout <= 0 {
		s.cfg.OpenTimeout = 5 * time.Second
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "watermill-subscriber")
	s.closing, s.close = context.WithCancel(context.Background())
	return s, nil
}

var errSubscriberClosed = errors.New("eventstoredb: subscriber is closed")

// Subscribe starts a subscription and returns its messages. The channel is
// closed when ctx ends or the subscriber is closed. A durable subscriber
// loads its checkpoint here (an error if the store fails); connecting, and
// reconnecting, happen in the background.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	filter := s.events
	switch {
	case filter == nil:
		if err := checkTopic(topic); err != nil {
			return nil, err
		}
		filter = streamFilter(topic)
	case topic == "":
		return nil, errors.New("eventstoredb: empty topic (it names the subscription)")
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errSubscriberClosed
	}
	s.consumers.Add(1)
	s.mu.Unlock()

	c := &consumer{s: s, topic: topic, filter: filter, out: make(chan *message.Message)}
	c.log = s.log.With("topic", topic)
	if s.cfg.ConsumerGroup != "" {
		c.checkpoint = CheckpointName(s.cfg.ConsumerGroup, topic)
		c.log = c.log.With("checkpoint", c.checkpoint)
		loadCtx, cancel := context.WithTimeout(ctx, checkpointStoreTimeout)
		pos, ok, err := s.cfg.Checkpoints.Load(loadCtx, c.checkpoint)
		cancel()
		if err != nil {
			s.consumers.Done()
			return nil, fmt.Errorf("eventstoredb: load checkpoint %s: %w", c.checkpoint, err)
		}
		if ok {
			c.from = &pos
		}
		if a, ok := s.cfg.Checkpoints.(CheckpointAnnouncer); ok && s.cfg.CheckpointSaveEvery > 0 {
			c.announcer = a
		}
	}

	runCtx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.closing, cancel)
	go func() {
		defer s.consumers.Done()
		defer close(c.out)
		defer stop()
		defer cancel()
		c.run(runCtx)
	}()
	return c.out, nil
}

// Close ends every subscription, saves their pending checkpoints and waits
// for them; their channels are closed when it returns. A message handed
// out but not acked yet is not checkpointed: it comes again.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.close()
	s.consumers.Wait()
	return nil
}

// consumer is one Subscribe call.
type consumer struct {
	s          *Subscriber
	topic      string
	filter     *esdb.SubscriptionFilter
	checkpoint string // empty: ephemeral
	out        chan *message.Message
	log        *slog.Logger

	from    *uint64   // commit position of the last acked event; nil: from the start of $all
	unsaved int       // acks since the last checkpoint (saved or announced)
	saved   time.Time // when the last checkpoint was taken (saved or announced)

	// With CheckpointSaveEvery: the store to announce checkpoints to,
	// whether the last one is only announced, when the last save was, and
	// the timer that saves it in time (nil outside subscribeOnce).
	announcer CheckpointAnnouncer
	unwritten bool
	announced uint64 // the last position announced (unwritten true)
	leaving   bool   // the subscription has ended: its last save is being made
	written   time.Time
	timer     *saveTimer
}

func (c *consumer) run(ctx context.Context) {
	defer func() {
		c.leaving = true
		c.checkpointNow(context.WithoutCancel(ctx), true)
	}()
	backoff := c.s.cfg.ReconnectBackoff
	warned := false // one warning per outage; the retries go to debug
	for {
		opened, progressed, err := c.subscribeOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errConnClosed) {
			c.log.Error("event store connection closed by its owner; subscription ends", "err", err)
			return
		}
		if opened {
			warned = false // a new outage
		}
		if progressed {
			// Not merely opened: a server that confirms and then drops at
			// once must not be hammered.
			backoff = c.s.cfg.ReconnectBackoff
		}
		c.checkpointNow(ctx, true)
		level := slog.LevelWarn
		if warned {
			level = slog.LevelDebug
		}
		warned = true
		c.log.Log(ctx, level, "event store subscription dropped; resubscribing", "err", err, "after", c.fromString(), "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, c.s.cfg.MaxReconnectBackoff)
	}
}

func (c *consumer) fromString() string {
	if c.from == nil {
		return "start"
	}
	return fmt.Sprintf("C:%d", *c.from)
}

// subscribeOnce opens one subscription after c.from and delivers from it
// until it drops or ctx ends. opened reports that the server confirmed the
// subscription, progressed that it sent anything beyond the confirmation.
func (c *consumer) subscribeOnce(ctx context.Context) (opened, progressed bool, err error) {
	sub, err := c.open(ctx)
	if err != nil {
		return false, false, err
	}
	// A pump reads ahead a little, so that the loop can tell whether
	// another event is waiting (and save a checkpoint when none is), and
	// can save a pending checkpoint on a timer while no event comes.
	events := make(chan *esdb.SubscriptionEvent, 64)
	stopPump, pumped := make(chan struct{}), make(chan struct{})
	defer func() {
		_ = sub.Close() // Recv returns at once after this
		close(stopPump)
		<-pumped
	}()
	go func() {
		defer close(pumped)
		for {
			ev := sub.Recv()
			select {
			case events <- ev:
			case <-stopPump:
				return
			}
			if ev.SubscriptionDropped != nil {
				return
			}
		}
	}()
	saves := newSaveTimer()
	c.timer = saves
	defer func() {
		saves.stop()
		c.timer = nil
	}()
	if c.s.cfg.MaxInFlight > 1 {
		progressed, err = c.deliverConcurrently(ctx, events, saves)
		return true, progressed, err
	}
	for {
		var ev *esdb.SubscriptionEvent
		select {
		case ev = <-events:
		case <-saves.C():
			c.onSaveTimer(ctx, saves)
			continue
		case <-ctx.Done():
			return true, progressed, ctx.Err()
		}
		switch {
		case ev.EventAppeared != nil:
			progressed = true
			rec := ev.EventAppeared.OriginalEvent()
			if rec == nil {
				continue // a link whose target is gone; we do not resolve links
			}
			if !c.deliver(ctx, messageFromEvent(rec)) {
				return true, true, ctx.Err()
			}
			c.acked(rec.Position.Commit)
			c.afterAcks(ctx, saves, len(events) > 0)
		case ev.CheckPointReached != nil, ev.CaughtUp != nil:
			// Everything delivered so far has been acked (we deliver one at
			// a time), so this is a good moment to save pending progress.
			progressed = true
			c.onServerCheckpoint(ctx, ev)
		case ev.SubscriptionDropped != nil:
			return true, progressed, ev.SubscriptionDropped.Error
		}
	}
}

// saveTimer saves pending progress CheckpointDelay after the last save
// while no event comes.
type saveTimer struct {
	t     *time.Timer
	armed bool
}

func newSaveTimer() *saveTimer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &saveTimer{t: t}
}

func (st *saveTimer) C() <-chan time.Time { return st.t.C }
func (st *saveTimer) stop()               { st.t.Stop() }

func (st *saveTimer) arm(d time.Duration) {
	if !st.armed {
		st.t.Reset(d)
		st.armed = true
	}
}

func (c *consumer) onSaveTimer(ctx context.Context, st *saveTimer) {
	st.armed = false
	c.saveCheckpoint(ctx)
	if c.unsaved > 0 || c.unwritten { // the save failed: try again later (unless a save is due sooner)
		st.arm(max(c.s.cfg.CheckpointDelay, 250*time.Millisecond))
	}
}

// acked records that every event up to commit position pos is handled.
func (c *consumer) acked(pos uint64) {
	c.from = &pos
	c.unsaved++
}

// afterAcks saves the checkpoint when CheckpointEvery or CheckpointDelay
// says so; waiting reports that another event is ready to be handled.
func (c *consumer) afterAcks(ctx context.Context, st *saveTimer, waiting bool) {
	if c.unsaved >= c.s.cfg.CheckpointEvery {
		c.saveCheckpoint(ctx)
		return
	}
	delay := c.s.cfg.CheckpointDelay
	if delay <= 0 || c.unsaved == 0 {
		return
	}
	if since := time.Since(c.saved); !waiting && since >= delay {
		c.saveCheckpoint(ctx)
	} else {
		st.arm(max(delay-since, time.Millisecond))
	}
}

// onServerCheckpoint saves pending progress when the server reports a
// checkpoint or that the subscription caught up. The server's own
// checkpoint position is not saved: only positions of events we
// delivered are. Server checkpoints have carried prepare 0
// (kurrent-io/KurrentDB#3989) and, in 24.10 before a fix, a position
// beyond events not yet sent (#4970), which would skip an event on resume.
func (c *consumer) onServerCheckpoint(ctx context.Context, ev *esdb.SubscriptionEvent) {
	c.saveCheckpoint(ctx)
	if ev.CaughtUp != nil && c.s.cfg.OnCaughtUp != nil {
		var pos uint64
		if c.from != nil {
			pos = *c.from
		}
		c.s.cfg.OnCaughtUp(c.topic, pos, c.from != nil)
	}
}

// flight is an event handed to the handler and not acked yet, or acked
// out of order (done) behind one that is not.
type flight struct {
	pos    uint64
	stream string
	done   bool
}

// deliverConcurrently is the loop of subscribeOnce for MaxInFlight above
// one: up to that many events are with the handler at once (and at most
// 64 times as many behind the oldest not acked), never two of
// one stream (the next event of a stream that is busy waits, and the
// events after it with it), and the checkpoint moves over the events
// handled without a gap. When the subscription drops, the events in
// flight are finished before it is opened again.
func (c *consumer) deliverConcurrently(ctx context.Context, events <-chan *esdb.SubscriptionEvent, saves *saveTimer) (progressed bool, err error) {
	// The window also keeps the events acked out of order behind one
	// that is not, which a mail that keeps failing can hold up for long:
	// bounded, so that the others do not pile up without end.
	limit := c.s.cfg.MaxInFlight
	maxWindow := 64 * limit
	var (
		window   []*flight           // in flight or done out of order, in commit order
		busy     = map[string]bool{} // streams with an event in flight
		held     *esdb.RecordedEvent // next to deliver, waiting for its stream
		finished = make(chan *flight, limit)
		dropped  error // the subscription dropped: finish, then return this
		draining bool
		wg       sync.WaitGroup
	)
	defer wg.Wait() // after ctx ends, deliver returns at once
	start := func(rec *esdb.RecordedEvent) {
		f := &flight{pos: rec.Position.Commit, stream: rec.StreamID}
		window = append(window, f)
		busy[f.stream] = true
		// Handed out here, in commit order; the answer is awaited
		// concurrently.
		msg := messageFromEvent(rec)
		attempt, cancel := c.handOut(ctx, msg)
		wg.Go(func() {
			if c.settle(ctx, msg, attempt, cancel) {
				finished <- f
			}
		})
	}
	for {
		in := events
		if draining || held != nil || len(busy) >= limit || len(window) >= maxWindow {
			in = nil
		}
		select {
		case ev := <-in:
			switch {
			case ev.EventAppeared != nil:
				progressed = true
				rec := ev.EventAppeared.OriginalEvent()
				switch {
				case rec == nil: // a link whose target is gone; we do not resolve links
				case busy[rec.StreamID]:
					held = rec
				default:
					start(rec)
				}
			case ev.CheckPointReached != nil, ev.CaughtUp != nil:
				// Saves what was handled so far; events may still be in
				// flight.
				progressed = true
				c.onServerCheckpoint(ctx, ev)
			case ev.SubscriptionDropped != nil:
				dropped, draining = ev.SubscriptionDropped.Error, true
				if len(window) == 0 {
					return progressed, dropped
				}
			}
		case f := <-finished:
			f.done = true
			delete(busy, f.stream)
			n := 0
			for ; n < len(window) && window[n].done; n++ {
				c.acked(window[n].pos)
			}
			window = append(window[:0], window[n:]...)
			if held != nil && !busy[held.StreamID] && !draining {
				start(held)
				held = nil
			}
			if draining && len(window) == 0 {
				return progressed, dropped
			}
			if n > 0 {
				c.afterAcks(ctx, saves, len(events) > 0 || len(window) > 0)
			}
		case <-saves.C():
			c.onSaveTimer(ctx, saves)
		case <-ctx.Done():
			return progressed, ctx.Err()
		}
	}
}

// open subscribes to $all after c.from. The client's search for a server
// ignores contexts, so the call runs under untilDone; a subscription that
// arrives after we stopped waiting is closed.
func (c *consumer) open(ctx context.Context) (*esdb.Subscription, error) {
	opts := esdb.SubscribeToAllOptions{
		From:            esdb.Start{},
		Filter:          c.filter,
		MaxSearchWindow: maxSearchWindow,
	}
	if c.from != nil {
		opts.From = esdb.Position{Commit: *c.from, Prepare: *c.from}
	}
	client, err := c.s.conn.begin()
	if err != nil {
		return nil, err
	}
	type result struct {
		sub *esdb.Subscription
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer c.s.conn.inflight.Done()
		sub, err := client.SubscribeToAll(ctx, opts)
		done <- result{sub, err}
	}()
	timeout := time.NewTimer(c.s.cfg.OpenTimeout)
	defer timeout.Stop()
	var gaveUp error
	select {
	case r := <-done:
		if r.err != nil && errorCode(r.err) == esdb.ErrorCodeConnectionClosed {
			if _, rerr := c.s.conn.Renew(client); rerr != nil {
				return nil, fmt.Errorf("%w (and no new client: %w)", r.err, rerr)
			}
		}
		return r.sub, r.err
	case <-ctx.Done():
		gaveUp = ctx.Err()
	case <-timeout.C:
		// A call that queued for the client while its discovery was
		// failing never returns; the next attempt meets the closed client
		// and renews it.
		gaveUp = fmt.Errorf("%w: no subscription within %s", errOpenTimeout, c.s.cfg.OpenTimeout)
	}
	// The goroutine stays registered with conn until the client returns
	// (so Conn.Close does not close the client under it); a subscription
	// that arrives late is closed.
	go func() {
		if r := <-done; r.sub != nil {
			_ = r.sub.Close()
		}
	}()
	return nil, gaveUp
}

var errOpenTimeout = errors.New("event store did not answer")

// deliver hands msg to the handler and waits until it is acked, handing
// it out again after each nack (after NackDelay); false when ctx ended
// first.
func (c *consumer) deliver(ctx context.Context, msg *message.Message) bool {
	attempt, cancel := c.handOut(ctx, msg)
	return c.settle(ctx, msg, attempt, cancel)
}

// handOut sends a copy of msg to the handler, with a context of its own
// (cancelled once the handler answered); nil when ctx ended first.
func (c *consumer) handOut(ctx context.Context, msg *message.Message) (*message.Message, context.CancelFunc) {
	attempt := msg.Copy()
	msgCtx, cancel := context.WithCancel(ctx)
	attempt.SetContext(msgCtx)
	select {
	case c.out <- attempt:
		return attempt, cancel
	case <-ctx.Done():
		cancel()
		return nil, nil
	}
}

// settle waits for the handler's answer to attempt, a copy of msg handed
// out, and hands msg out again after a nack, until one copy is acked;
// false when ctx ended first.
func (c *consumer) settle(ctx context.Context, msg, attempt *message.Message, cancel context.CancelFunc) bool {
	for attempt != nil {
		select {
		case <-attempt.Acked():
			cancel()
			return true
		case <-attempt.Nacked():
			cancel()
		case <-ctx.Done():
			cancel()
			return false
		}
		select {
		case <-time.After(c.s.cfg.NackDelay):
		case <-ctx.Done():
			return false
		}
		attempt, cancel = c.handOut(ctx, msg)
	}
	return false
}

// saveFailed logs a failed save as a warning, unless it failed because
// the subscription is stopping: ctx ended (it saves once more on its way
// out, with a context of its own), or the writes before it were cut short
// by the end of their own context (BeforeCheckpoint's handler stopping;
// the events come again from the saved checkpoint). A failure of that
// last save is logged as information: nothing retries it.
func (c *consumer) saveFailed(ctx context.Context, msg string, err error) {
	switch {
	case c.leaving:
		// Nothing is retried after this one: say what the next start does.
		c.log.Info("last checkpoint not saved on the way out; the next subscription delivers again from the saved one",
			"err", err, "position", c.fromString(), "unsaved", c.unsaved)
	case ctx.Err() == nil && !errors.Is(err, context.Canceled):
		c.log.Warn(msg, "err", err, "position", c.fromString(), "unsaved", c.unsaved)
	}
}

// saveCheckpoint takes a checkpoint of the last acked position if it is
// not taken yet: it saves it, or only announces it while a save is not
// due (CheckpointSaveEvery), and saves an announced one once it is due. A
// failure is logged and retried at the next opportunity: delivery goes on
// (at-least-once holds; a crash would only redeliver more).
func (c *consumer) saveCheckpoint(ctx context.Context) { c.checkpointNow(ctx, false) }

// checkpointNow is saveCheckpoint; save makes it save at once whatever
// CheckpointSaveEvery says (a subscription that drops or ends).
func (c *consumer) checkpointNow(ctx context.Context, save bool) {
	if c.checkpoint == "" || c.from == nil {
		c.unsaved = 0
		return
	}
	if c.unsaved == 0 && !c.unwritten {
		return
	}
	due := save || c.announcer == nil || time.Since(c.written) >= c.s.cfg.CheckpointSaveEvery
	if c.unsaved == 0 && !due {
		c.armSave()
		return
	}
	saveCtx, cancel := context.WithTimeout(ctx, checkpointStoreTimeout)
	defer cancel()
	pos := *c.from
	if c.unsaved > 0 {
		if before := c.s.cfg.BeforeCheckpoint; before != nil {
			if err := before(saveCtx, c.topic); err != nil {
				c.saveFailed(ctx, "cannot complete the writes before a checkpoint; will retry", err)
				if !save || !c.unwritten {
					return
				}
				// Leaving: the last announced position, whose writes
				// were done, is saved at least.
				pos = c.announced
			}
		}
		if !due {
			c.announcer.Announce(c.checkpoint, pos)
			c.unsaved, c.unwritten, c.announced, c.saved = 0, true, pos, time.Now()
			c.armSave()
			return
		}
	}
	if err := c.s.cfg.Checkpoints.Save(saveCtx, c.checkpoint, pos); err != nil {
		c.saveFailed(ctx, "cannot save checkpoint; will retry", err)
		return
	}
	if pos == *c.from {
		c.unsaved = 0
	}
	c.unwritten = false
	c.saved = time.Now()
	c.written = c.saved
}

// armSave sets the timer to save an announced checkpoint when the save
// is due, unless it is set already (for sooner).
func (c *consumer) armSave() {
	if c.timer != nil {
		c.timer.arm(max(c.s.cfg.CheckpointSaveEvery-time.Since(c.written), time.Millisecond))
	}
}
