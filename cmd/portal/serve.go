package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/orgportal/onboarding/adapters/esdbserver"
	"github.com/orgportal/onboarding/adapters/eventstoredb"
	"github.com/orgportal/onboarding/cmd/portal/config"
	"github.com/orgportal/onboarding/domain"
)

// runServe wires the portal and serves until ctx is cancelled. Each step
// below is one piece of infrastructure; later features slot in as new steps.
// Shutdown runs the defers in reverse: HTTP first, then the event store
// client, then the embedded event store.
func runServe(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	logger.Info("starting portal",
		"eventstore", describe(cfg.EventStoreURL, "embedded"),
		"mongo", describe(cfg.MongoURL, "embedded (not wired yet)"),
		"smtp", describe(cfg.SMTPURL, "outbox folder (not wired yet)"),
		"data_dir", cfg.DataDir)

	// 1. Event store: the embedded server unless a URL is configured.
	eventStoreURL := cfg.EventStoreURL
	if eventStoreURL == "" {
		srv, err := startEventStore(ctx, esdbserver.Config{
			DataDir:    cfg.EventStoreDataDir(),
			ListenAddr: cfg.EventStoreListen,
			Logger:     logger.With("component", "eventstore"),
		})
		if err != nil {
			return err
		}
		defer func() {
			if err := shutdownEventStore(srv); err != nil {
				logger.Error("event store shutdown", "err", err)
			}
		}()
		eventStoreURL = srv.ConnectionString()
		logger.Info("embedded event store listening",
			"addr", srv.Addr().String(),
			"connection_string", eventStoreURL,
			"data", cfg.EventStoreDataDir())
	}

	// 2. Event store client (the official one, also for the embedded server).
	conn, err := eventstoredb.Dial(ctx, eventStoreURL, logger.With("component", "esdb-client"))
	if err != nil {
		return err
	}
	defer func() {
		if err := conn.Close(); err != nil {
			logger.Warn("event store client close", "err", err)
		}
	}()

	// 3. Event codec and the write side's event store; command handlers next.
	registry, err := domain.NewRegistry()
	if err != nil {
		return fmt.Errorf("event registry: %w", err)
	}
	codec, err := eventstoredb.NewCodec(registry)
	if err != nil {
		return err
	}
	events, err := eventstoredb.NewStore(conn, codec)
	if err != nil {
		return err
	}
	// 4. Read models (MongoDB or embedded FerretDB) and projections: later issues.
	// 5. Mail (SMTP or outbox folder): later issues.

	// 6. HTTP: health endpoints now; the API and portal pages later.
	router := newRouter(logger, []readinessCheck{
		{name: "eventstore", check: func(ctx context.Context) error { return pingEventStore(ctx, events) }},
	})

	// 7. Serve until SIGINT/SIGTERM.
	return serveHTTP(ctx, cfg, router, logger)
}

// serveHTTP listens on cfg.HTTPAddr and serves h until ctx is cancelled, then
// shuts the server down gracefully.
func serveHTTP(ctx context.Context, cfg config.Config, h http.Handler, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// Tests and scripts read this line to find the port when it was 0.
	logger.Info("http server listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURLFor(ln.Addr()))

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	return nil
}

func describe(url, whenEmpty string) string {
	if url == "" {
		return whenEmpty
	}
	return redactURL(url)
}
