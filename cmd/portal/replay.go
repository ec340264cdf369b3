package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/orgportal/onboarding/adapters/esdbserver"
	"github.com/orgportal/onboarding/adapters/eventstoredb"
	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/cmd/portal/config"
	"github.com/orgportal/onboarding/projections"
	"github.com/orgportal/onboarding/projections/readmodels"
)

func (a *app) replayCmd(global bindings) *cobra.Command {
	b := global.clone()
	var projection, progress string
	cmd := &cobra.Command{
		Use:   "replay --projection users|invitations|audit|all",
		Short: "Rebuild read models from the whole event history into new collection versions, then switch readers over",
		Long: "replay reads $all from the start into a fresh version of each named read model\n" +
			"(in one pass), writes it in bulk and makes it the version readers use. Running\n" +
			"portals keep serving the old version meanwhile and move to the new one.\n\n" +
			"Against the configured " + config.EnvEventStoreURL + " and " + config.EnvMongoURL + ", or, when they\n" +
			"are empty, on the embedded stores in " + config.EnvDataDir + ", which a running portal\n" +
			"locks: rebuild through its admin API then (POST " + adminBasePath + "/projections/{name}/rebuild).",
		Args: cobra.NoArgs,
	}
	for _, env := range []string{config.EnvEventStoreURL, config.EnvMongoURL} {
		b.bind(cmd.Flags(), env, "", "")
	}
	cmd.Flags().StringVar(&projection, "projection", "", "read model to rebuild: "+strings.Join(readmodels.Names(), ", ")+", or all")
	cmd.Flags().StringVar(&progress, "progress", "auto", "progress display: bar (one updating line), lines (a line every few seconds), or auto (bar on a terminal)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		names, err := replayNames(projection)
		if err != nil {
			return err
		}
		if progress != "auto" && progress != "bar" && progress != "lines" {
			return fmt.Errorf("invalid --progress %q: want auto, bar or lines", progress)
		}
		cfg, err := config.Load(b.source(cmd, a.lookupEnv))
		if err != nil {
			return err
		}
		bar := progress == "bar" || progress == "auto" && isTerminal(a.stderr)
		return runReplay(cmd.Context(), cfg, names, bar, a.stdout, a.stderr)
	}
	return cmd
}

// replayNames resolves --projection.
func replayNames(flag string) ([]string, error) {
	all := readmodels.Names()
	switch {
	case flag == "all":
		return all, nil
	case slices.Contains(all, flag):
		return []string{flag}, nil
	case flag == "":
		return nil, fmt.Errorf("name the read model to rebuild: --projection %s or all", strings.Join(all, "|"))
	}
	return nil, fmt.Errorf("invalid --projection %q: want %s or all", flag, strings.Join(all, ", "))
}

// runReplay rebuilds the named read models and prints a summary on stdout.
func runReplay(ctx context.Context, cfg config.Config, names []string, bar bool, stdout, stderr io.Writer) error {
	logging := cfg.Logging
	if bar && logging.Level < slog.LevelWarn {
		// Info lines would tear the progress bar; the summary says it all.
		logging.Level = slog.LevelWarn
	}
	logger := newLogger(stderr, logging)

	eventStoreURL := cfg.EventStoreURL
	if eventStoreURL == "" {
		dir := cfg.EventStoreDataDir()
		if _, err := os.Stat(dir); err != nil {
			return fmt.Errorf("no event store in %s (%s): nothing to replay; set %s or %s", dir, err, config.EnvDataDir, config.EnvEventStoreURL)
		}
		srv, err := startEventStore(ctx, esdbserver.Config{DataDir: dir, ListenAddr: "127.0.0.1:0", Logger: logger.With("component", "eventstore")})
		if err != nil {
			return inUse(cfg, err)
		}
		defer func() {
			if err := shutdownEventStore(srv); err != nil {
				logger.Error("event store shutdown", "err", err)
			}
		}()
		eventStoreURL = srv.ConnectionString()
	}
	conn, err := eventstoredb.Dial(ctx, eventStoreURL, logger.With("component", "esdb-client"))
	if err != nil {
		return err
	}
	defer conn.Close()
	codec, _, err := eventstoredb.ForDomain(conn)
	if err != nil {
		return err
	}
	rm, err := openReadModels(ctx, cfg, logger)
	if err != nil {
		return inUse(cfg, err)
	}
	defer rm.close()
	src, err := projectionSource(conn, codec)
	if err != nil {
		return err
	}
	var projs []projections.Projection
	for _, p := range readModelProjections(rm.db, rm.prepare, nil) {
		if slices.Contains(names, p.Name()) {
			projs = append(projs, p)
		}
	}

	show := newProgress(stderr, bar)
	results, err := projections.Rebuild(ctx, projections.RebuildConfig{
		Source: src, Checkpoints: mongodb.NewCheckpointStore(rm.db), Versions: mongodb.NewVersions(rm.db, time.Now),
		Leases: mongodb.NewLeases(rm.db, time.Now, logger), Owner: leaseOwner(), Logger: logger.With("component", "replay"),
		Progress: show.update, ProgressEvery: 250 * time.Millisecond,
	}, projs...)
	show.done()
	if err != nil {
		return fmt.Errorf("replay: %w (the versions in use are unchanged)", err)
	}
	for _, name := range names {
		st := results[name]
		took := time.Duration(0)
		if st.FinishedAt != nil {
			took = st.FinishedAt.Sub(st.StartedAt)
		}
		fmt.Fprintf(stdout, "%s: version %d is active: %d events read, %d applied, up to position %d, in %s (%.0f events/s)\n",
			name, st.Version, st.Events, st.Applied, st.Position, took.Round(time.Millisecond), st.Rate)
	}
	return nil
}

// inUse explains a data directory locked by a running portal.
func inUse(cfg config.Config, err error) error {
	msg := err.Error()
	if !errors.Is(err, syscall.EWOULDBLOCK) && !strings.Contains(msg, "in use") && !strings.Contains(msg, "temporarily unavailable") {
		return err
	}
	return fmt.Errorf("%w\nA portal seems to be running on %s. Rebuild through its admin API instead:\n"+
		"  curl -X POST -H \"Authorization: Bearer $%s\" http://<portal>%s/projections/<name>/rebuild\n"+
		"or stop it and run replay again", err, cfg.DataDir, config.EnvAdminToken, adminBasePath)
}

// progress shows a rebuild's progress: one line redrawn in place on a
// terminal, or a plain line every few seconds otherwise. All projections
// of a replay share one pass, so one line tells.
type progress struct {
	w    io.Writer
	bar  bool
	mu   sync.Mutex
	last time.Time
	drew bool
}

func newProgress(w io.Writer, bar bool) *progress { return &progress{w: w, bar: bar} }

func (p *progress) update(name string, st projections.RebuildStatus) {
	p.mu.Lock()
	defer p.mu.Unlock()
	every := 5 * time.Second
	if p.bar {
		every = 200 * time.Millisecond
	}
	if st.State == projections.RebuildRunning && time.Since(p.last) < every || !p.bar && st.State != projections.RebuildRunning {
		return // the summary reports the end
	}
	p.last = time.Now()
	eta := "ETA unknown"
	if st.ETASeconds > 0 {
		eta = "ETA " + (time.Duration(st.ETASeconds) * time.Second).String()
	} else if st.State != projections.RebuildRunning {
		eta = string(st.State)
	}
	pct := st.Fraction() * 100
	if p.bar {
		const width = 30
		filled := int(st.Fraction() * width)
		fmt.Fprintf(p.w, "\r[%s%s] %5.1f%%  %d events  %.0f/s  %s   ", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), pct, st.Events, st.Rate, eta)
		p.drew = true
		return
	}
	fmt.Fprintf(p.w, "replay: %.1f%% of $all read, %d events, %.0f events/s, %s (%s version %d)\n", pct, st.Events, st.Rate, eta, name, st.Version)
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drew {
		fmt.Fprintln(p.w)
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
