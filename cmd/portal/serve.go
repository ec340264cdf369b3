package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/orgportal/onboarding/adapters/esdbserver"
	"github.com/orgportal/onboarding/adapters/eventstoredb"
	"github.com/orgportal/onboarding/adapters/httpapi"
	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/adapters/ratelimit"
	"github.com/orgportal/onboarding/adapters/smtp"
	"github.com/orgportal/onboarding/adapters/tokens"
	"github.com/orgportal/onboarding/adapters/web"
	"github.com/orgportal/onboarding/cmd/portal/config"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/commands/passwordhash"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections"
	"github.com/orgportal/onboarding/projections/mail"
	"github.com/orgportal/onboarding/projections/priority"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// runServe wires the portal and serves until ctx is cancelled. Each step
// below is one piece of infrastructure; later features slot in as new steps.
// Shutdown runs the defers in reverse: HTTP first, then the mail reactor,
// the Mongo client, the embedded FerretDB, the event store client, and the
// embedded event store last. stdout receives one line only: a
// generated bootstrap password, the one place a secret is ever shown.
func runServe(ctx context.Context, cfg config.Config, logger *slog.Logger, stdout io.Writer) error {
	logger.Info("starting portal",
		"role", cfg.Role,
		"eventstore", describe(cfg.EventStoreURL, "embedded"),
		"mongo", describe(cfg.MongoURL, "embedded"),
		"smtp", describe(cfg.SMTPURL, "outbox folder"),
		"data_dir", cfg.DataDir)

	// 0. The HTTP listener first: the public URL defaults to its address,
	// and every link the commands hand out starts with it.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	defer ln.Close() // no-op once the server has closed it
	publicURL := cfg.PublicURLFor(ln.Addr())

	// Mail templates: the embedded ones, overridden from a directory. A
	// template that does not parse or render stops the start here, before
	// any server runs.
	templates, err := mail.LoadTemplatesDir(cfg.MailTemplates)
	if err != nil {
		return fmt.Errorf("%s: %w", config.EnvMailTemplates, err)
	}
	if cfg.MailTemplates != "" {
		logger.Info("mail templates override the embedded ones", "dir", cfg.MailTemplates)
	}

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
	codec, events, err := eventstoredb.ForDomain(conn)
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

	// 5. Command handlers, then the bootstrap organization. Their calls
	// to the event store, and the mail reactor's, are timed for /metrics.
	calls := newCallMetrics()
	timedEvents := calls.timeCalls(events)
	handlers, err := commands.New(commands.Deps{
		Store: timedEvents, Clock: time.Now, Tokens: signers, Passwords: hasher,
		Config: commands.Config{PublicURL: publicURL, InvitationTTL: cfg.InvitationTTL, SessionCacheTTL: sessionCacheTTL(cfg.SessionCacheTTL)},
	})
	if err != nil {
		return err
	}
	if err := bootstrap(ctx, handlers, cfg.Bootstrap, logger, stdout); err != nil {
		return err
	}

	// 6. Read-model database (MongoDB, or FerretDB embedded in the data
	// dir): the read models, with the projections' checkpoints, versions
	// and leases and the mail reactor's.
	readModels, err := openReadModels(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer readModels.close()

	// 7. Read models: users, invitations and audit, projected by this
	// replica while it holds their leases (readmodels.go); the reader the
	// API and the pages query reads their active versions.
	source, err := projectionSource(conn, codec)
	if err != nil {
		return err
	}
	reader := readmodels.NewReader(readModels.db, readmodels.ReaderOptions{Checkpoints: readModels.checkpoints})
	// On a replica of role api the runner only observes: it takes no
	// lease, so it never projects, and shows what the others saved; nor
	// does the mail reactor run there.
	// The commands this replica serves go first: while any is in flight,
	// the projections and the mail wait, up to PORTAL_BACKGROUND_YIELD
	// behind (priority.Gate). A replica of role api has no background
	// work to hold back.
	var gate *priority.Gate
	if !cfg.APIOnly() {
		gate = priority.New(cfg.BackgroundYield)
	}
	runner, stopProjections, err := startProjections(ctx, source, readModels, reader, leaseOwner(), cfg.APIOnly(), gate, logger)
	if err != nil {
		return err
	}
	defer stopProjections()

	// 8. Mail: SMTP, or .eml files in the outbox folder; the reactor runs
	// behind its own durable subscription until shutdown.
	if cfg.APIOnly() {
		logger.Info("role api: serving the API and the pages only; replicas of role all run the projections and the mail")
	} else {
		stopMail, err := startMailReactor(ctx, cfg, publicURL, templates, conn, codec, timedEvents, signers, readModels.db, gate, logger)
		if err != nil {
			return err
		}
		defer stopMail()
	}

	// 9. HTTP: health endpoints (the read-model database and the
	// projections count for readiness), metrics, the operator admin API,
	// and the API under /api/v1.
	router := newRouter(logger, []readinessCheck{
		{name: "eventstore", check: func(ctx context.Context) error { return pingEventStore(ctx, events) }},
		{name: "readmodels", check: func(ctx context.Context) error { return pingReadModels(ctx, readModels.db) }},
		{name: "projections", check: projectionsReady(runner)},
	}, calls.timeRequests, commandsFirst(gate))
	if proxies := cfg.TrustedProxyList(); len(proxies) > 0 {
		if err := router.SetTrustedProxies(proxies); err != nil {
			return fmt.Errorf("trusted proxies: %w", err)
		}
	}
	mountMetrics(router, runner, reader, append(calls.collectors(), gateCollector{gate})...)
	mountAdmin(router, runner, cfg.AdminToken, logger)
	// One set of rate limits for the API and the pages: both run the same
	// commands, so using both must not double anyone's attempts.
	limits := ratelimit.New(ratelimit.Config{
		Client: cfg.Limits.Client, Subject: cfg.Limits.Subject, InvitationsPerDay: cfg.Limits.InvitationsPerDay,
	})
	api, err := httpapi.New(httpapi.Deps{
		Commands: handlers, Logger: logger.With("component", "http"), Limits: limits,
		Config: httpapi.Config{
			SecureCookie: strings.HasPrefix(publicURL, "https://"), ConsistencyWait: cfg.ConsistencyWait,
		},
		ReadModels: reader, History: events,
	})
	if err != nil {
		return err
	}
	api.Mount(router)

	// Portal pages at the root, mounted after the API: requests no route
	// takes get the API's problem document unless a browser asks for a
	// page. The Users and Audit pages read the read models of step 7.
	pages, err := web.New(web.Deps{
		Commands: handlers, Reader: reader, Logger: logger.With("component", "web"),
		Limits: limits, Fallback: api.Unmatched,
		Config: web.Config{
			SecureCookie: strings.HasPrefix(publicURL, "https://"), ConsistencyWait: cfg.ConsistencyWait,
		},
	})
	if err != nil {
		return err
	}
	pages.Mount(router)

	// Profiling, only when asked for, on a loopback listener of its own.
	if cfg.PprofAddr != "" {
		stopPprof, err := startPprof(cfg.PprofAddr, logger.With("component", "pprof"))
		if err != nil {
			return err
		}
		defer stopPprof()
	}

	// 10. Serve until SIGINT/SIGTERM.
	return serveHTTP(ctx, ln, publicURL, router, logger)
}

// readModelsDB is the read-model database and what closes it.
type readModelsDB struct {
	db    *mongo.Database
	close func()
	// prepare indexes _id lookups of a new read-model collection on the
	// embedded FerretDB (mongodb.Embedded.IndexIDs); nil for MongoDB.
	prepare func(context.Context, *mongo.Collection) error
	// checkpoints is the process's one checkpoint store of the read
	// models: the projections save through it and the reader learns
	// from it where they are without reading the database.
	checkpoints *mongodb.CheckpointStore
}

// readModelsDatabase is the database name when the URL names none.
const readModelsDatabase = "portal"

// openReadModels connects to PORTAL_MONGO_URL, or starts the embedded
// FerretDB under $PORTAL_DATA_DIR/readmodels and connects to it. close
// disconnects the client, then stops the embedded server.
func openReadModels(ctx context.Context, cfg config.Config, logger *slog.Logger) (readModelsDB, error) {
	uri := cfg.MongoURL
	var embedded *mongodb.Embedded
	if uri == "" {
		var err error
		embedded, err = mongodb.StartEmbedded(mongodb.EmbeddedConfig{
			Dir: cfg.ReadModelsDir(), Logger: logger.With("component", "ferretdb"),
		})
		if err != nil {
			return readModelsDB{}, fmt.Errorf("embedded read-model database: %w", err)
		}
		uri = embedded.URI()
		logger.Info("embedded read-model database started", "data", cfg.ReadModelsDir())
	}
	stopEmbedded := func() {
		if embedded != nil {
			if err := embedded.Close(); err != nil {
				logger.Warn("embedded read-model database shutdown", "err", err)
			}
		}
	}
	client, err := mongodb.Connect(ctx, uri, logger.With("component", "mongo"))
	if err != nil {
		stopEmbedded()
		return readModelsDB{}, err
	}
	db := client.Database(mongodb.DatabaseName(uri, readModelsDatabase))
	rm := readModelsDB{
		db: db, checkpoints: mongodb.NewCheckpointStore(db),
		close: func() {
			dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := client.Disconnect(dctx); err != nil {
				logger.Warn("mongo client close", "err", err)
			}
			stopEmbedded()
		},
	}
	if embedded != nil {
		rm.prepare = embedded.IndexIDs
	}
	return rm, nil
}

// startMailReactor builds the mailer (SMTP, or the outbox folder) and runs
// the mail reactor on its own subscription, checkpointed in the read-model
// database under the consumer group mail.HandlerName, while this replica
// holds the lease of the same name in that database (one reactor across
// replicas; the others stand by and take over within mailLeaseTTL). stop
// ends it, waits for the handler in flight and releases the lease.
func startMailReactor(ctx context.Context, cfg config.Config, publicURL string, templates *mail.Templates, conn *eventstoredb.Conn,
	codec *eventstoredb.Codec, events commands.EventStore, signers commands.TokenService,
	db *mongo.Database, gate *priority.Gate, logger *slog.Logger) (stop func(), err error) {
	logger = logger.With("component", "mail")
	sender := smtp.Sender{Address: cfg.MailSender(publicURL), Name: cfg.MailSenderName()}
	var mailer mail.Mailer
	if cfg.SMTPURL == "" {
		outbox, err := smtp.NewOutbox(cfg.OutboxDir(), sender, time.Now, logger)
		if err != nil {
			return nil, err
		}
		mailer = outbox
		logger.Info("no SMTP server configured: mail goes to the outbox folder", "dir", cfg.OutboxDir())
	} else {
		if mailer, err = smtp.New(smtp.Config{URL: cfg.SMTPURL, From: sender, Logger: logger}); err != nil {
			return nil, err
		}
	}
	reactor, err := mail.New(mail.Deps{
		Store: events, Tokens: signers, Mailer: mailer, Clock: time.Now, PublicURL: publicURL, Templates: templates, Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	// One reactor runs across replicas: each holds the lease while it runs
	// and builds a fresh subscription per term, which resumes from the
	// checkpoint the previous holder left.
	runReactor := func(ctx context.Context) error {
		sub, err := eventstoredb.NewSubscriber(conn, eventstoredb.SubscriberConfig{
			ConsumerGroup: mail.HandlerName, Checkpoints: mongodb.NewCheckpointStore(db),
			Events: &eventstoredb.EventFilter{Types: mail.EventTypes()}, Logger: logger,
			CheckpointEvery: mailCheckpointEvery, CheckpointDelay: mailCheckpointDelay, MaxInFlight: cfg.MailConcurrency,
		})
		if err != nil {
			return err
		}
		defer func() {
			if err := sub.Close(); err != nil {
				logger.Warn("mail subscriber close", "err", err)
			}
		}()
		router, err := mail.NewRouter(reactor, mail.RouterConfig{
			Subscriber: sub, Decode: codec.DecodeMessage, Logger: logger,
			// A lost lease must stop the handler in flight before the
			// term ends and another replica takes over.
			CloseTimeout: mailLeaseTTL / 3,
			Yield: func(msg *message.Message) {
				gate.Yield(msg.Context(), eventstoredb.MessageWritten(msg))
			},
		})
		if err != nil {
			return err
		}
		return router.Run(ctx)
	}
	owner := leaseOwner()
	leases := mongodb.NewLeases(db, time.Now, logger)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := projections.RunWithLease(runCtx, leases, projections.LeaseConfig{
			Name: mail.HandlerName, Owner: owner, TTL: mailLeaseTTL, Logger: logger,
		}, runReactor)
		if err != nil {
			logger.Error("mail reactor stopped", "err", err)
		}
	}()
	return func() {
		cancel()
		<-done
	}, nil
}

// The mail reactor's checkpoint is saved every mailCheckpointEvery events
// or mailCheckpointDelay, not after each one (one write to the read-model
// database per mail, as many as all the projections' writes together).
// What it costs is redelivery after a crash or a lease handover: each
// event after the saved checkpoint is handled again, which reads its
// stream and finds the delivery recorded there, so no mail goes out twice
// because of it (see mail.Reactor).
//
// Up to cfg.MailConcurrency mails (of different aggregates) are sent at
// once: each waits on the mail server (or two fsyncs of the outbox) and on
// the append that records it, so one at a time bounds the mail to one per
// SMTP round trip, a few dozen a second.
const (
	mailCheckpointEvery = 64
	mailCheckpointDelay = 100 * time.Millisecond
)

// mailLeaseTTL is how long a replica holds the mail reactor's lease
// without renewing it: the longest pause before another replica takes over
// from one that died.
const mailLeaseTTL = 15 * time.Second

// leaseOwner names this process among the replicas: host, pid and a random
// part (a restarted container may get the same host name and pid).
func leaseOwner() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
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
	return kr.CommandSigners()
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

// sessionCacheTTL maps the setting (0 is off) to commands.Config's (0 is
// the default, negative is off).
func sessionCacheTTL(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
