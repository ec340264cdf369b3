package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/orgportal/onboarding/adapters/esdbserver"
	"github.com/orgportal/onboarding/cmd/portal/config"
)

// shutdownTimeout bounds each component's graceful shutdown.
const shutdownTimeout = 10 * time.Second

func (a *app) eventStoreCmd(global bindings) *cobra.Command {
	b := global.clone()
	var data string
	var allowNonLoopback bool
	cmd := &cobra.Command{
		Use:   "eventstore",
		Short: "Run only the embedded event store, in the foreground, until SIGINT/SIGTERM",
		Long: "eventstore runs the project's EventStoreDB-compatible server on its own, so that\n" +
			"other processes (or the official clients) can use it. It has no authentication,\n" +
			"so it listens on loopback addresses only unless --allow-non-loopback is given.",
		Args: cobra.NoArgs,
	}
	b.bind(cmd.Flags(), config.EnvEventStoreListen, "listen", config.DefaultStandaloneEventStoreListen)
	cmd.Flags().StringVar(&data, "data", "", "directory of the event store's files (default $PORTAL_DATA_DIR/eventstore)")
	cmd.Flags().BoolVar(&allowNonLoopback, "allow-non-loopback", false,
		"allow listening on a non-loopback address (the store has no authentication)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if cmd.Flags().Changed("data") && data == "" {
			return fmt.Errorf("invalid --data %q: must not be empty", data)
		}
		cfg, err := config.LoadEventStore(b.source(cmd, a.lookupEnv), data)
		if err != nil {
			return err
		}
		return a.eventStore(cmd.Context(), cfg, allowNonLoopback)
	}
	return cmd
}

// runEventStore runs the embedded event store until ctx is cancelled.
func runEventStore(ctx context.Context, cfg config.EventStore, allowNonLoopback bool, logOut io.Writer) error {
	base := newHandler(logOut, cfg.Logging)
	logger := slog.New(base)
	gate := &logGate{}
	defer gate.openGate(context.Background())

	srv, err := startEventStore(ctx, esdbserver.Config{
		DataDir:          cfg.DataDir,
		ListenAddr:       cfg.ListenAddr,
		AllowNonLoopback: allowNonLoopback,
		Logger:           slog.New(gate.handler(base)).With("component", "eventstore"),
	})
	if err != nil {
		if !allowNonLoopback && !isLoopback(cfg.ListenAddr) {
			err = fmt.Errorf("%w (pass --allow-non-loopback to listen on %s anyway)", err, cfg.ListenAddr)
		}
		return err
	}
	logger.Info("event store listening",
		"addr", srv.Addr().String(),
		"connection_string", srv.ConnectionString(),
		"data", cfg.DataDir)
	if allowNonLoopback {
		logger.Warn("the event store accepts connections from other hosts and has no authentication: protect it with a firewall",
			"addr", srv.Addr().String())
	}
	gate.openGate(ctx)

	<-ctx.Done()
	logger.Info("shutting down event store")
	if err := shutdownEventStore(srv); err != nil {
		return err
	}
	logger.Info("event store stopped")
	return nil
}

// startEventStore creates the data directory and starts the embedded server.
func startEventStore(ctx context.Context, cfg esdbserver.Config) (*esdbserver.Server, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("event store data directory: %w", err)
	}
	// The server's lifetime is ended by Shutdown, in the order the caller
	// chooses, not by the signal that cancels ctx.
	srv, err := esdbserver.Start(context.WithoutCancel(ctx), cfg)
	if err != nil {
		return nil, fmt.Errorf("start event store: %w", err)
	}
	return srv, nil
}

// isLoopback reports whether a listen address is on loopback; it only words
// the error message, the server enforces the rule.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func shutdownEventStore(srv *esdbserver.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shut down event store: %w", err)
	}
	return nil
}
