package eventstoredb_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"

	"github.com/orgportal/onboarding/adapters/esdbserver"
	"github.com/orgportal/onboarding/adapters/eventstoredb"
	"github.com/orgportal/onboarding/adapters/porttest"
)

// esdbHarness is an embedded event store on a fixed address, so that it can
// be restarted underneath its clients, with one Conn shared by every
// publisher and subscriber (as in the portal).
type esdbHarness struct {
	dataDir     string
	addr        string
	conn        *eventstoredb.Conn
	checkpoints *eventstoredb.MemoryCheckpoints
	log         *slog.Logger
	renewals    *countingHandler // the Conn's logs: counts replaced clients

	mu  sync.Mutex // serialises restarts
	srv *esdbserver.Server
}

// warnLogger shows the adapter's warnings (reconnects) in the test output.
func warnLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func newESDBHarness(t *testing.T) *esdbHarness {
	t.Helper()
	// Pick a free port first: a restart must come back on the same address.
	addr := fmt.Sprintf("127.0.0.1:%d", porttest.FreeLoopbackPort(t))
	h := &esdbHarness{dataDir: t.TempDir(), addr: addr, checkpoints: eventstoredb.NewMemoryCheckpoints(), log: warnLogger()}
	if err := h.start(); err != nil {
		t.Fatalf("start embedded event store: %v", err)
	}
	t.Cleanup(func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.srv != nil {
			_ = h.srv.Close()
		}
	})
	h.renewals = &countingHandler{match: "replaced it with a new one"}
	var err error
	h.conn, err = eventstoredb.Dial(context.Background(), "esdb://"+addr+"?tls=false", slog.New(h.renewals))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.conn.Close() }) // before the server's cleanup
	return h
}

// countingHandler is a silent slog handler that counts the records whose
// message contains match.
type countingHandler struct {
	match string
	n     atomic.Int64
}

func (c *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (c *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, c.match) {
		c.n.Add(1)
	}
	return nil
}
func (c *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *countingHandler) WithGroup(string) slog.Handler      { return c }

// start (re)starts the server on h.addr; the port can stay busy for a
// moment after a close.
func (h *esdbHarness) start() error {
	var err error
	for range 50 {
		var srv *esdbserver.Server
		srv, err = esdbserver.Start(context.Background(), esdbserver.Config{DataDir: h.dataDir, ListenAddr: h.addr, Logger: quietLogger()})
		if err == nil {
			h.srv = srv
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// restart stops the server abruptly (Close: calls in flight fail), keeps it
// down for downtime, and starts it again on the same data and address.
func (h *esdbHarness) restart(downtime time.Duration) error {
	return h.restartSignalling(downtime, nil)
}

// restartSignalling is restart that closes down (when not nil) once the
// server has stopped: a test that checks what happens during the outage
// waits for that rather than guessing how long stopping takes.
func (h *esdbHarness) restartSignalling(downtime time.Duration, down chan<- struct{}) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.srv.Close(); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	h.srv = nil
	if down != nil {
		close(down)
	}
	time.Sleep(downtime)
	if err := h.start(); err != nil {
		return fmt.Errorf("start again on %s: %w", h.addr, err)
	}
	return nil
}

// restartCommand returns the RestartServiceCommand for Watermill's reconnect
// test. The suite runs it as a process, as it would "docker restart"; the
// process is this test binary running TestWatermillRestartCommand, which
// asks this process, over a loopback connection, to restart the server and
// returns when it is back.
func (h *esdbHarness) restartCommand(t *testing.T, downtime time.Duration) []string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var served sync.WaitGroup
	t.Cleanup(func() {
		_ = lis.Close()
		served.Wait()
	})
	served.Go(func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			served.Go(func() {
				defer func() { _ = c.Close() }()
				if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
					return
				}
				reply := "ok"
				if err := h.restart(downtime); err != nil {
					reply = "error: " + err.Error()
				}
				_, _ = fmt.Fprintln(c, reply)
			})
		}
	})
	return []string{os.Args[0], "-test.run=^TestWatermillRestartCommand$", "--", restartCommandArg, lis.Addr().String()}
}

const restartCommandArg = "restart-embedded-event-store"

// TestWatermillRestartCommand is not a test: it is the restart command of
// the Watermill reconnect test (see restartCommand).
func TestWatermillRestartCommand(t *testing.T) {
	if flag.Arg(0) != restartCommandArg {
		t.Skip("helper process: restarts the embedded event store of the test process that runs it (Watermill's reconnect test)")
	}
	c, err := net.DialTimeout("tcp", flag.Arg(1), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if _, err := fmt.Fprintln(c, "restart"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if reply = strings.TrimSpace(reply); reply != "ok" {
		t.Fatal(reply)
	}
}

func (h *esdbHarness) publisher(t *testing.T) *eventstoredb.Publisher {
	t.Helper()
	pub, err := eventstoredb.NewPublisher(h.conn, eventstoredb.PublisherConfig{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func (h *esdbHarness) subscriber(t *testing.T, cfg eventstoredb.SubscriberConfig) *eventstoredb.Subscriber {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = h.log
	}
	if cfg.NackDelay == 0 {
		// The suite nacks hundreds of times in a row; the default pause
		// only matters against a hot loop in production.
		cfg.NackDelay = 5 * time.Millisecond
	}
	sub, err := eventstoredb.NewSubscriber(h.conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// pubSub is the suite's plain constructor: an ephemeral subscriber, which
// starts at the beginning of its topic every time.
func (h *esdbHarness) pubSub(t *testing.T) (message.Publisher, message.Subscriber) {
	return h.publisher(t), h.subscriber(t, eventstoredb.SubscriberConfig{})
}

// groupPubSub is the suite's consumer-group constructor: a durable
// subscriber whose progress is checkpointed under the group's name.
func (h *esdbHarness) groupPubSub(t *testing.T, group string) (message.Publisher, message.Subscriber) {
	return h.publisher(t), h.subscriber(t, eventstoredb.SubscriberConfig{ConsumerGroup: group, Checkpoints: h.checkpoints})
}

// watermillFeatures are the suite's feature flags, stated honestly:
//
//   - ConsumerGroups: a group is a durable subscription; each group's
//     checkpoint is its own, so every group gets every message.
//   - ExactlyOnceDelivery false: delivery is at-least-once (a crash between
//     the handler and the checkpoint redelivers).
//   - GuaranteedOrder: each subscription delivers in $all order, one message
//     at a time, so even several subscribers merged keep the order of the
//     first deliveries (GuaranteedOrderWithSingleSubscriber is not needed).
//   - Persistent: the event store keeps everything.
//   - NewSubscriberReceivesOldMessages: a subscriber without a group (the
//     plain constructor) starts at the beginning of the topic's stream.
//   - ContextPreserved false: a message's context does not travel through
//     the store.
func watermillFeatures(restart []string) tests.Features {
	return tests.Features{
		ConsumerGroups:                      true,
		ExactlyOnceDelivery:                 false,
		GuaranteedOrder:                     true,
		GuaranteedOrderWithSingleSubscriber: false,
		Persistent:                          true,
		RestartServiceCommand:               restart,
		RequireSingleInstance:               false,
		NewSubscriberReceivesOldMessages:    true,
		ContextPreserved:                    false,
	}
}
