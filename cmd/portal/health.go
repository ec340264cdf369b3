package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/readpref"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections"
)

// readinessTimeout bounds each dependency check behind /readyz.
const readinessTimeout = 2 * time.Second

// readinessProbeStream is read, never written: reading a stream that does not
// exist is a cheap round trip that any user may make.
const readinessProbeStream domain.StreamName = "portal_readiness-probe"

// readinessCheck is one dependency /readyz asks about.
type readinessCheck struct {
	name  string
	check func(context.Context) error
}

func newRouter(logger *slog.Logger, checks []readinessCheck, middleware ...gin.HandlerFunc) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	// The client address is the connection's unless proxies are
	// configured (runServe); Gin would otherwise believe any
	// X-Forwarded-For, and rate limits would be trivial to dodge.
	_ = r.SetTrustedProxies(nil)
	// middleware goes first, around the recovery too: request timing sees
	// a handler that panicked as the 500 it became.
	r.Use(middleware...)
	r.Use(gin.CustomRecoveryWithWriter(io.Discard, func(c *gin.Context, rec any) {
		// The route template, never the path: paths carry tokens.
		logger.Error("panic in HTTP handler", "route", c.FullPath(), "panic", rec)
		c.AbortWithStatus(http.StatusInternalServerError)
	}))

	// /healthz: the process is alive and serving HTTP.
	r.GET("/healthz", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
	})
	// /readyz: the dependencies answer; 503 names the ones that do not.
	r.GET("/readyz", func(c *gin.Context) {
		results := runChecks(c.Request.Context(), checks)
		failing := []string{}
		status := map[string]string{}
		for _, ch := range checks {
			if err := results[ch.name]; err != nil {
				failing = append(failing, ch.name)
				status[ch.name] = err.Error()
				logger.Warn("not ready", "dependency", ch.name, "err", err)
			} else {
				status[ch.name] = "ok"
			}
		}
		if len(failing) > 0 {
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "failing": failing, "checks": status})
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready", "checks": status})
	})
	return r
}

// runChecks runs all checks concurrently, each bounded by readinessTimeout.
func runChecks(ctx context.Context, checks []readinessCheck) map[string]error {
	var mu sync.Mutex
	var wg sync.WaitGroup
	results := make(map[string]error, len(checks))
	for _, ch := range checks {
		wg.Go(func() {
			err := withTimeout(ctx, readinessTimeout, ch.check)
			mu.Lock()
			results[ch.name] = err
			mu.Unlock()
		})
	}
	wg.Wait()
	return results
}

// withTimeout returns when f does or when the timeout passes, whichever comes
// first: some client calls (waiting for a connection) ignore their context.
func withTimeout(ctx context.Context, d time.Duration, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pingEventStore loads a stream that is never written: a missing stream is
// the healthy answer, and the adapter replaces a client that gave up after
// an outage, so readiness recovers without a restart.
func pingEventStore(ctx context.Context, events commands.EventStore) error {
	_, err := events.Load(ctx, readinessProbeStream)
	return err
}

// pingReadModels asks the read-model database for a round trip: reads
// answer 503 while it is down, and the projections wait for it.
func pingReadModels(ctx context.Context, db *mongo.Database) error {
	return db.Client().Ping(ctx, readpref.Primary())
}

// projectionsReady fails while a projection this replica runs is stalled
// (or still building its first version); the error names the event.
func projectionsReady(runner *projections.Runner) func(context.Context) error {
	return func(context.Context) error { return runner.Ready() }
}
