// Package esdbserver is the embedded, single-node event store that speaks
// EventStoreDB's gRPC protocol (the subset described in
// shared/ESDB-PROTOCOL.md), so that the official Go client runs against it
// unchanged. Storage lives in package store; this package maps the wire
// protocol onto it.
package esdbserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/orgportal/onboarding/adapters/esdbserver/store"
)

// DefaultListenAddr is where the store listens unless told otherwise. It is a
// loopback address on purpose: the store has no authentication.
const DefaultListenAddr = "127.0.0.1:2113"

// maxReceiveMessageSize lets a single oversized event reach our own size
// check (and its clear error) instead of gRPC's generic one; it matches the
// client's 17 MiB limit.
const maxReceiveMessageSize = 17 << 20

// streamWorkers is how many goroutines serve the calls in turn instead of
// one new goroutine per call, which starts with a small stack and grows it
// through gRPC and the store on every call (runtime.newstack was 3 % of the
// portal's CPU with one client inviting). A subscription or a long read
// keeps its worker until it ends; a call that finds every worker busy gets
// a goroutine of its own, as without workers.
const streamWorkers = 32

// Config configures an embedded event store server.
type Config struct {
	// DataDir holds the store's files. Required.
	DataDir string
	// ListenAddr is the TCP address to listen on; DefaultListenAddr when empty.
	// Port 0 picks a free port (see Server.Addr).
	ListenAddr string
	// AllowNonLoopback must be set to listen on anything but a loopback
	// address; the store has no authentication.
	AllowNonLoopback bool
	// Logger receives the server's logs; slog.Default() when nil.
	Logger *slog.Logger
	// GRPCOptions are appended to the server's own options (tests add
	// interceptors here).
	GRPCOptions []grpc.ServerOption
	// Store tunes the storage engine.
	Store store.Options
}

// Server is a running embedded event store.
type Server struct {
	store    *store.Store
	grpc     *grpc.Server
	listener net.Listener
	log      *slog.Logger

	shutdown       context.Context
	cancelShutdown context.CancelFunc
	served         chan struct{}
	closeOnce      sync.Once
	closeErr       error
}

// Start opens the data directory, starts listening and serves until Shutdown
// or Close is called. It returns once the listener is bound, so a client may
// connect as soon as Start returns.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = DefaultListenAddr
	}
	if err := checkListenAddr(cfg.ListenAddr, cfg.AllowNonLoopback); err != nil {
		return nil, err
	}
	if cfg.Store.Logger == nil {
		cfg.Store.Logger = cfg.Logger
	}
	st, err := store.Open(cfg.DataDir, cfg.Store)
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", cfg.ListenAddr)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("event store: cannot listen on %s: %w (is another event store or portal running? pick another address)", cfg.ListenAddr, err)
	}
	opts := []grpc.ServerOption{
		// The client pings every 10 s even when idle; grpc-go's default policy
		// would answer with GOAWAY after a few pings and drop subscriptions.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 20 * time.Second}),
		grpc.MaxRecvMsgSize(maxReceiveMessageSize),
		grpc.NumStreamWorkers(streamWorkers),
	}
	opts = append(opts, cfg.GRPCOptions...)
	s := &Server{
		store:    st,
		grpc:     grpc.NewServer(opts...),
		listener: lis,
		log:      cfg.Logger,
		served:   make(chan struct{}),
	}
	s.shutdown, s.cancelShutdown = context.WithCancel(context.Background())
	streams.RegisterStreamsServer(s.grpc, &streamsService{store: st, log: cfg.Logger, shutdown: s.shutdown})
	serverfeatures.RegisterServerFeaturesServer(s.grpc, featuresService{})
	go func() {
		defer close(s.served)
		if err := s.grpc.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.log.Error("event store stopped serving", "err", err)
		}
	}()
	return s, nil
}

// checkListenAddr refuses non-loopback addresses unless explicitly allowed:
// anyone who can reach the port can read and write every stream.
func checkListenAddr(addr string, allowNonLoopback bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("event store: listen address %q is not host:port: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err == nil && ip.IsLoopback() {
		return nil
	}
	if !allowNonLoopback {
		return fmt.Errorf("event store: refusing to listen on %q: the store has no authentication, so it listens on loopback only unless non-loopback listening is explicitly allowed", addr)
	}
	return nil
}

// IsLoopbackAddr reports whether a listen address is on loopback; callers
// warn when it is not.
func IsLoopbackAddr(addr string) bool { return checkListenAddr(addr, false) == nil }

// Addr is the address the server listens on (useful with port 0).
func (s *Server) Addr() net.Addr { return s.listener.Addr() }

// ConnectionString is the esdb:// URL a client uses to reach this server,
// e.g. "esdb://127.0.0.1:2113?tls=false".
func (s *Server) ConnectionString() string {
	return fmt.Sprintf("esdb://%s?tls=false", s.listener.Addr().String())
}

// Store exposes the storage engine (statistics, in-process tools).
func (s *Server) Store() *store.Store { return s.store }

// Shutdown stops accepting calls, lets in-flight appends finish (or fail)
// until ctx is done, ends subscriptions and closes the storage.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() {
		// Subscriptions never end on their own; end them first so that the
		// graceful stop only waits for bounded calls.
		s.cancelShutdown()
		stopped := make(chan struct{})
		go func() {
			s.grpc.GracefulStop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-ctx.Done():
			s.grpc.Stop()
			<-stopped
		}
		<-s.served
		// Appends already handed to the store are completed by Close.
		s.closeErr = s.store.Close()
	})
	return s.closeErr
}

// Close is Shutdown without waiting for calls in flight.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return s.Shutdown(ctx)
}

type streamsService struct {
	streams.UnimplementedStreamsServer
	store    *store.Store
	log      *slog.Logger
	shutdown context.Context
}
