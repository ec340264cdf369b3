package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/orgportal/onboarding/adapters/esdbserver"
	"github.com/orgportal/onboarding/adapters/eventstoredb"
	"github.com/orgportal/onboarding/adapters/httpapi"
	"github.com/orgportal/onboarding/adapters/tokens"
	"github.com/orgportal/onboarding/cmd/portal/config"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/commands/passwordhash"
	"github.com/orgportal/onboarding/domain"
)

// runServe wires the portal and serves until ctx is cancelled. Each step
// below is one piece of infrastructure; later features slot in as new steps.
// Shutdown runs the defers in reverse: HTTP first, then the event store
// client, then the embedded event store. stdout receives one line only: a
// generated bootstrap password, the one place a secret is ever shown.
func runServe(ctx context.Context, cfg config.Config, logger *slog.Logger, stdout io.Writer) error {
	logger.Info("starting portal",
		"eventstore", describe(cfg.EventStoreURL, "embedded"),
		"mongo", describe(cfg.MongoURL, "embedded (not wired yet)"),
		"smtp", describe(cfg.SMTPURL, "outbox folder (not wired yet)"),
		"data_dir", cfg.DataDir)

	// 0. The HTTP listener first: the public URL defaults to its address,
	// and every link the commands hand out starts with it.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	defer ln.Close() // no-op once the server has closed it
	publicURL := cfg.PublicURLFor(ln.Addr())

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

	// 3. Event codec and the write side's event store.
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

	// 4. Token keys (outside the event store) and the password hasher.
	signers, err := tokenSigners(cfg, logger)
	if err != nil {
		return err
	}
	hasher, err := passwordhash.New(passwordhash.DefaultParams())
	if err != nil {
		return err
	}
	if err := hasher.Warm(ctx); err != nil {
		return fmt.Errorf("password hasher: %w", err)
	}

	// 5. Command handlers, then the bootstrap organization.
	handlers, err := commands.New(commands.Deps{
		Store: events, Clock: time.Now, Tokens: signers, Passwords: hasher,
		Config: commands.Config{PublicURL: publicURL, InvitationTTL: cfg.InvitationTTL},
	})
	if err != nil {
		return err
	}
	if err := bootstrap(ctx, handlers, cfg.Bootstrap, logger, stdout); err != nil {
		return err
	}

	// 6. Read models (MongoDB or embedded FerretDB) and projections: later issues.
	// 7. Mail (SMTP or outbox folder): later issues.

	// 8. HTTP: health endpoints and the API under /api/v1.
	router := newRouter(logger, []readinessCheck{
		{name: "eventstore", check: func(ctx context.Context) error { return pingEventStore(ctx, events) }},
	})
	if proxies := cfg.TrustedProxyList(); len(proxies) > 0 {
		if err := router.SetTrustedProxies(proxies); err != nil {
			return fmt.Errorf("trusted proxies: %w", err)
		}
	}
	api, err := httpapi.New(httpapi.Deps{
		Commands: handlers, Logger: logger.With("component", "http"),
		Config: httpapi.Config{
			SecureCookie: strings.HasPrefix(publicURL, "https://"),
			ClientRate:   cfg.Limits.Client, SubjectRate: cfg.Limits.Subject,
			InvitationsPerDay: cfg.Limits.InvitationsPerDay,
		},
	})
	if err != nil {
		return err
	}
	api.Mount(router)

	// 9. Serve until SIGINT/SIGTERM.
	return serveHTTP(ctx, ln, publicURL, router, logger)
}

// tokenSigners loads the token keyring (configured keys, or the key file in
// the data directory, created on first start) and binds one signer per
// purpose. Only key ids are logged.
func tokenSigners(cfg config.Config, logger *slog.Logger) (commands.TokenService, error) {
	kr, err := tokens.LoadOrCreateKeyring(cfg.DataDir, string(cfg.TokenKeys))
	if err != nil {
		return commands.TokenService{}, err
	}
	logger.Info("token keys loaded", "source", kr.Source(), "signing_key_id", kr.SigningKeyID(), "keys", len(kr.KeyIDs()))
	var ts commands.TokenService
	for _, bind := range []struct {
		purpose tokens.Purpose
		into    *commands.TokenSigner
	}{
		{tokens.PurposeInvitation, &ts.Invitation},
		{tokens.PurposeSelfServiceLink, &ts.SelfServiceLink},
		{tokens.PurposeVerification, &ts.Verification},
		{tokens.PurposePasswordSetup, &ts.PasswordSetup},
		{tokens.PurposePasswordReset, &ts.PasswordReset},
		{tokens.PurposeSession, &ts.Session},
	} {
		s, err := kr.For(bind.purpose)
		if err != nil {
			return commands.TokenService{}, err
		}
		*bind.into = s
	}
	return ts, nil
}

// bootstrapRetryDelay is the pause between bootstrap attempts while the
// event store cannot be reached.
const bootstrapRetryDelay = 2 * time.Second

// bootstrap creates the configured organization and owner on first start
// (a restart finds them and does nothing). While the event store is
// unreachable it retries until ctx ends; any other failure stops the start.
// A generated password goes to stdout once, at creation, and nowhere else.
func bootstrap(ctx context.Context, h *commands.Handlers, b config.Bootstrap, logger *slog.Logger, stdout io.Writer) error {
	if !b.Enabled() {
		logger.Info("no bootstrap organization configured (PORTAL_BOOTSTRAP_ORG, PORTAL_BOOTSTRAP_EMAIL)")
		return nil
	}
	for {
		res, err := h.Bootstrap(ctx, commands.Request{Actor: domain.ActorSystem}, commands.BootstrapInput{
			OrgName: b.OrgName, Email: b.Email, Password: string(b.Password),
		})
		switch {
		case err == nil && !res.Created:
			logger.Info("bootstrap organization exists", "org_id", res.OrgID)
			return nil
		case err == nil:
			logger.Info("bootstrap organization created", "org_id", res.OrgID, "owner_id", res.OwnerID,
				"owner_email", b.Email, "password_generated", res.GeneratedPassword != "")
			if res.GeneratedPassword != "" {
				fmt.Fprintf(stdout, "Bootstrap owner %s of organization %q (%s): generated password %s (shown once; store it now)\n",
					b.Email, b.OrgName, res.OrgID, res.GeneratedPassword)
			}
			return nil
		case errors.Is(err, commands.ErrUnavailable):
			logger.Warn("bootstrap: event store unavailable; retrying", "err", err, "retry_in", bootstrapRetryDelay)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(bootstrapRetryDelay):
			}
		default:
			return fmt.Errorf("bootstrap organization %q: %w", b.OrgName, err)
		}
	}
}

// serveHTTP serves h on ln until ctx is cancelled, then shuts the server
// down gracefully.
func serveHTTP(ctx context.Context, ln net.Listener, publicURL string, h http.Handler, logger *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// Tests and scripts read this line to find the port when it was 0.
	logger.Info("http server listening", "addr", ln.Addr().String(), "public_url", publicURL)

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
