package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/cmd/portal/config"
)

// The child's bootstrap organization and the read models' database.
const (
	benchOrgName    = "Bench Org"
	benchOwnerEmail = "owner@bench.example.org"
	readModelsDB    = "portal" // the database of the read models when the URL names none
)

// setUp starts or reaches the portal, signs in and connects to the stores
// under it. cleanup undoes whatever was done, also after an error.
func (r *runner) setUp(ctx context.Context) (cleanup func(), err error) {
	var undo []func()
	cleanup = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	r.password = "bench-" + randomHex(12)
	if r.o.URL != "" {
		err = r.reachRunning(ctx, &undo)
	} else {
		err = r.startChild(ctx, &undo)
	}
	if err != nil {
		return cleanup, err
	}
	r.res.Machine.DataFS = fsType(r.dataDir)
	if r.pid > 0 {
		every := 250 * time.Millisecond
		if r.o.MemoryDuration > 2*time.Minute || r.o.LagDuration > 2*time.Minute {
			every = time.Second
		}
		r.sampler = startSampler(r.pid, every)
		undo = append(undo, func() {
			if r.sampler != nil {
				r.sampler.close()
			}
		})
	}
	r.connectStores(ctx, &undo)
	return cleanup, nil
}

// startChild runs the portal on the embedded stack in a fresh data
// directory, with the limits that would throttle a load test lifted.
func (r *runner) startChild(ctx context.Context, undo *[]func()) error {
	dir, err := os.MkdirTemp(r.o.WorkDir, "portal-bench-")
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	*undo = append(*undo, func() {
		if r.o.KeepData {
			r.logf("data kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	r.dataDir = dir
	ownerPassword := "bench-secret-" + randomHex(16)
	r.adminToken = randomHex(32)
	// The child is configured the way an operator configures it, by its
	// documented variables, not through the composition root's packages.
	env := map[string]string{
		"PORTAL_HTTP_ADDR":           "127.0.0.1:0",
		"PORTAL_DATA_DIR":            filepath.Join(dir, "data"),
		"PORTAL_LOG_FORMAT":          "json",
		"PORTAL_LOG_LEVEL":           "info",
		"PORTAL_BOOTSTRAP_ORG":       benchOrgName,
		"PORTAL_BOOTSTRAP_EMAIL":     benchOwnerEmail,
		"PORTAL_BOOTSTRAP_PASSWORD":  ownerPassword,
		"PORTAL_RATE_LIMIT_CLIENT":   "off",
		"PORTAL_RATE_LIMIT_SUBJECT":  "off",
		"PORTAL_INVITATIONS_PER_DAY": "0",
		"PORTAL_ADMIN_TOKEN":         r.adminToken,
	}
	if r.o.CPUProfile != "" {
		env["PORTAL_PPROF_ADDR"] = "127.0.0.1:0"
	}
	var childLog io.WriteCloser // nil: only the last lines are kept
	if r.o.ChildLog != "" {
		f, err := os.Create(r.o.ChildLog)
		if err != nil {
			return fmt.Errorf("--child-log: %w (give a file path in a writable directory)", err)
		}
		childLog = f
	}
	binary := r.o.Binary
	r.logf("starting %s serve (data in %s)", binary, dir)
	c, err := startChild(ctx, binary, env, childLog)
	if err != nil {
		if childLog != nil {
			_ = childLog.Close()
		}
		return err
	}
	*undo = append(*undo, func() {
		r.logf("stopping the portal")
		if err := c.stop(); err != nil {
			r.logf("portal stop: %v", err)
		}
		if childLog != nil {
			if err := childLog.Close(); err != nil {
				r.logf("child log: %v", err)
			}
			r.logf("the portal's log is in %s", r.o.ChildLog)
		}
	})
	r.child, r.pid = c, c.pid
	r.readModelsDir = config.Config{DataDir: env["PORTAL_DATA_DIR"]}.ReadModelsDir()
	r.eventStore, r.mongoURI = c.eventStore, c.mongoURI
	if c.pprofAddr != "" {
		r.pprofURL = "http://" + c.pprofAddr
	}
	r.api = &apiClient{base: "http://" + c.httpAddr, hc: newHTTPClient(maxConns(r.o))}
	r.res.Target = Target{Mode: "child", URL: r.api.base, PID: c.pid, DataDir: dir, Pprof: r.pprofURL != ""}
	r.logf("portal pid %d serving on %s", c.pid, r.api.base)
	if err := r.api.signIn(ctx, benchOwnerEmail, ownerPassword, ""); err != nil {
		return err
	}
	return nil
}

// reachRunning targets a running portal given by URL.
func (r *runner) reachRunning(ctx context.Context, undo *[]func()) error {
	dir, err := os.MkdirTemp(r.o.WorkDir, "portal-bench-")
	if err != nil {
		return fmt.Errorf("work directory: %w", err)
	}
	*undo = append(*undo, func() { _ = os.RemoveAll(dir) })
	r.dataDir = dir
	r.pid = r.o.PID
	r.eventStore, r.mongoURI, r.adminToken = r.o.EventStoreURL, r.o.MongoURL, r.o.AdminToken
	r.pprofURL = strings.TrimRight(r.o.PprofURL, "/")
	r.api = &apiClient{base: strings.TrimRight(r.o.URL, "/"), hc: newHTTPClient(maxConns(r.o))}
	r.res.Target = Target{Mode: "url", URL: r.api.base, PID: r.pid, Pprof: r.pprofURL != ""}
	if runs, known, err := r.api.projecting(ctx); err == nil && known {
		r.res.Target.Projects = &runs
	}
	return r.api.signIn(ctx, r.o.Email, r.o.Password, r.o.OrgID)
}

// connectStores opens the official event store client and the Mongo
// client the baselines use; a store that cannot be reached makes its
// baselines "not available", it does not stop the run.
func (r *runner) connectStores(ctx context.Context, undo *[]func()) {
	if r.eventStore == "" {
		r.esdbErr = errors.New("no event store connection string (the child's log did not name one; give --eventstore-url with --url)")
	} else if a, err := newRawAppend(r.eventStore, r.tag); err != nil {
		r.esdbErr = err
	} else {
		r.esdb = a
		*undo = append(*undo, a.close)
	}
	if r.mongoURI == "" {
		r.mongoErr = errors.New("no read-model database URI (the child's log did not name one; give --mongo-url with --url)")
	} else {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		client, err := mongodb.Connect(cctx, r.mongoURI, discardLogger())
		cancel()
		if err != nil {
			r.mongoErr = err
		} else {
			r.mongo = client
			r.mongoDB = client.Database(mongodb.DatabaseName(r.mongoURI, readModelsDB))
			*undo = append(*undo, func() {
				dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = client.Disconnect(dctx)
			})
		}
	}
	r.res.Target.EventStore, r.res.Target.Mongo = r.esdb != nil, r.mongo != nil
}

// maxConns is the size of the HTTP client's idle pool: enough for the
// command clients and for the open loops' requests in flight.
func maxConns(o Options) int {
	return max(o.Concurrency, lagInFlight(o.LagRate, o.Concurrency), lagInFlight(o.MemoryRate, o.Concurrency))
}
