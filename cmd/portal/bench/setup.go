package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/orgportal/onboarding/adapters/hostinfo"
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
	switch {
	case r.o.URL != "":
		err = r.reachRunning(ctx, &undo)
	case r.o.Topology == TopologySplit:
		err = r.startSplit(ctx, &undo)
	default:
		err = r.startChild(ctx, &undo)
	}
	if err != nil {
		return cleanup, err
	}
	r.res.Machine.DataFS = hostinfo.FSType(r.dataDir)
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
	dir, err := r.makeDataDir(undo)
	if err != nil {
		return err
	}
	env := r.servingEnv()
	env["PORTAL_DATA_DIR"] = filepath.Join(dir, "data")
	c, err := r.start(ctx, undo, "the portal", childSpec{args: []string{"serve"}, ready: readyServe, env: env}, r.o.ChildLog)
	if err != nil {
		return err
	}
	r.readModelsDir = config.Config{DataDir: env["PORTAL_DATA_DIR"]}.ReadModelsDir()
	r.eventStore, r.mongoURI = c.eventStore, c.mongoURI
	return r.target(ctx, c, Target{Mode: "child", Topology: TopologyOne, DataDir: dir})
}

// startSplit runs the product as the split of README "Replicas and
// roles", one process per part: `portal mongo`; a replica of role api,
// which embeds the event store and takes every request of the run; and a
// replica of role all, which projects and mails. The last two are the
// background: they run at --background-nice (and on --background-cpus
// only, when given), and with --pause-background they are stopped during
// the loads of the command stages.
func (r *runner) startSplit(ctx context.Context, undo *[]func()) error {
	dir, err := r.makeDataDir(undo)
	if err != nil {
		return err
	}
	nice := r.o.BackgroundNice
	r.readModelsDir = filepath.Join(dir, "readmodels")
	mongo, err := r.start(ctx, undo, "portal mongo", childSpec{
		args:  []string{"mongo", "--listen", "127.0.0.1:0", "--data", r.readModelsDir},
		ready: readyMongo, nice: nice, cpus: r.o.BackgroundCPUs, env: map[string]string{"PORTAL_LOG_FORMAT": "json"},
	}, suffixed(r.o.ChildLog, ".mongo"))
	if err != nil {
		return err
	}
	if mongo.mongoURL == "" {
		return errors.New("portal mongo logged no url")
	}
	shared := r.servingEnv()
	shared["PORTAL_MONGO_URL"] = mongo.mongoURL
	shared["PORTAL_TOKEN_KEYS"] = randomHex(32) // both replicas check the sessions the api replica signs
	env := maps.Clone(shared)
	maps.Copy(env, map[string]string{"PORTAL_ROLE": "api", "PORTAL_DATA_DIR": filepath.Join(dir, "api")})
	var api *child
	// The event store's port must be fixed for the other replica, so it is
	// picked free before the replica binds it; another process may take it
	// in between, and then a new one is picked.
	for attempt := 1; ; attempt++ {
		if env["PORTAL_EVENTSTORE_LISTEN"], err = freeLoopbackAddr(); err != nil {
			return fmt.Errorf("a port for the event store: %w", err)
		}
		api, err = r.start(ctx, undo, "the replica of role api", childSpec{args: []string{"serve"}, ready: readyServe, env: env}, r.o.ChildLog)
		if err == nil {
			break
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return err
		}
		r.logf("the event store's port %s was taken meanwhile; trying another", env["PORTAL_EVENTSTORE_LISTEN"])
	}
	env = shared
	for _, k := range []string{"PORTAL_PPROF_ADDR", "PORTAL_BOOTSTRAP_ORG", "PORTAL_BOOTSTRAP_EMAIL", "PORTAL_BOOTSTRAP_PASSWORD"} {
		delete(env, k) // the api replica was bootstrapped and is the one profiled
	}
	maps.Copy(env, map[string]string{
		"PORTAL_DATA_DIR": filepath.Join(dir, "all"), "PORTAL_EVENTSTORE_URL": api.eventStore,
	})
	worker, err := r.start(ctx, undo, "the replica of role all", childSpec{args: []string{"serve"}, ready: readyServe, env: env, nice: nice, cpus: r.o.BackgroundCPUs},
		suffixed(r.o.ChildLog, ".all"))
	if err != nil {
		return err
	}
	r.background = []background{{role: RoleAll, child: worker}, {role: RoleMongo, child: mongo}}
	for i, b := range r.background {
		if p, err := readProc(b.child.pid); err == nil {
			r.background[i].cpu0 = p.CPUSeconds
		}
	}
	r.eventStore, r.mongoURI = api.eventStore, mongo.mongoURL
	t := Target{Mode: "child", Topology: TopologySplit, DataDir: dir, BackgroundNice: nice, BackgroundCPUs: r.o.BackgroundCPUs,
		BackgroundPaused: r.o.PauseBackground}
	for _, b := range r.background {
		t.Background = append(t.Background, BackgroundProcess{Role: b.role, PID: b.child.pid})
	}
	return r.target(ctx, api, t)
}

// makeDataDir creates the run's data directory, removed at cleanup unless
// --keep-data.
func (r *runner) makeDataDir(undo *[]func()) (string, error) {
	dir, err := os.MkdirTemp(r.o.WorkDir, "portal-bench-")
	if err != nil {
		return "", fmt.Errorf("data directory: %w", err)
	}
	*undo = append(*undo, func() {
		if r.o.KeepData {
			r.logf("data kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	r.dataDir = dir
	return dir, nil
}

// servingEnv is the environment of a portal that serves the run: the
// bench organization, JSON logs, and the limits that would throttle a
// load test lifted. The child is configured the way an operator
// configures it, by its documented variables, not through the
// composition root's packages.
func (r *runner) servingEnv() map[string]string {
	r.ownerPassword = "bench-secret-" + randomHex(16)
	r.adminToken = randomHex(32)
	env := map[string]string{
		"PORTAL_HTTP_ADDR":           "127.0.0.1:0",
		"PORTAL_LOG_FORMAT":          "json",
		"PORTAL_LOG_LEVEL":           "info",
		"PORTAL_BOOTSTRAP_ORG":       benchOrgName,
		"PORTAL_BOOTSTRAP_EMAIL":     benchOwnerEmail,
		"PORTAL_BOOTSTRAP_PASSWORD":  r.ownerPassword,
		"PORTAL_RATE_LIMIT_CLIENT":   "off",
		"PORTAL_RATE_LIMIT_SUBJECT":  "off",
		"PORTAL_INVITATIONS_PER_DAY": "0",
		"PORTAL_ADMIN_TOKEN":         r.adminToken,
	}
	if r.o.CPUProfile != "" {
		env["PORTAL_PPROF_ADDR"] = "127.0.0.1:0"
	}
	return env
}

// start runs a child of the run's binary, its whole log to logPath when
// that is set, and stops it at cleanup.
func (r *runner) start(ctx context.Context, undo *[]func(), name string, spec childSpec, logPath string) (*child, error) {
	var logFile io.WriteCloser // nil: only the last lines are kept
	if logPath != "" {
		f, err := os.Create(logPath)
		if err != nil {
			return nil, fmt.Errorf("--child-log: %w (give a file path in a writable directory)", err)
		}
		logFile, spec.logTo = f, f
	}
	spec.binary = r.o.Binary
	r.logf("starting %s: %s %s (data in %s)", name, spec.binary, strings.Join(spec.args, " "), r.dataDir)
	c, err := startProcess(ctx, spec)
	if err != nil {
		if logFile != nil {
			_ = logFile.Close()
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	*undo = append(*undo, func() {
		r.logf("stopping %s", name)
		if err := c.stop(); err != nil {
			r.logf("%s stop: %v", name, err)
		}
		if logFile != nil {
			if err := logFile.Close(); err != nil {
				r.logf("child log: %v", err)
			}
			r.logf("the log of %s is in %s", name, logPath)
		}
	})
	return c, nil
}

// target makes c the portal the run drives and signs in as the owner.
func (r *runner) target(ctx context.Context, c *child, t Target) error {
	r.child, r.pid = c, c.pid
	if c.pprofAddr != "" {
		r.pprofURL = "http://" + c.pprofAddr
	}
	r.api = &apiClient{base: "http://" + c.httpAddr, hc: newHTTPClient(maxConns(r.o))}
	t.URL, t.PID, t.Pprof = r.api.base, c.pid, r.pprofURL != ""
	r.res.Target = t
	r.logf("portal pid %d serving on %s", c.pid, r.api.base)
	return r.api.signIn(ctx, benchOwnerEmail, r.ownerPassword, "")
}

// suffixed is path with suffix added, or "" when path is.
func suffixed(path, suffix string) string {
	if path == "" {
		return ""
	}
	return path + suffix
}

// freeLoopbackAddr returns a loopback address with a port free now, for a
// listener whose port must be known before it starts.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
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
	r.res.Target = Target{Mode: "url", Topology: TopologyOne, URL: r.api.base, PID: r.pid, Pprof: r.pprofURL != ""}
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
