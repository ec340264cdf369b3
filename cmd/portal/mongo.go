package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/cmd/portal/config"
)

// defaultStandaloneMongoListen is where `portal mongo` listens: MongoDB's
// port, on loopback.
const defaultStandaloneMongoListen = "127.0.0.1:27017"

// mongoCmd runs the embedded read-model database (FerretDB v1 on SQLite)
// on its own, so that tools, tests and a portal started with
// PORTAL_MONGO_URL can share it, and so that it can be stopped and started
// apart from the portal (fault drills).
func (a *app) mongoCmd(global bindings) *cobra.Command {
	b := global.clone()
	var listen, data string
	var allowNonLoopback bool
	cmd := &cobra.Command{
		Use:   "mongo",
		Short: "Run only the embedded read-model database (FerretDB, MongoDB wire protocol) until SIGINT/SIGTERM",
		Long: "mongo runs the FerretDB v1 server (SQLite backend) that `serve` embeds when\n" +
			"PORTAL_MONGO_URL is empty, on its own. It has no authentication, so it listens on\n" +
			"loopback addresses only unless --allow-non-loopback is given. The first log line\n" +
			"names the mongodb:// URL to give PORTAL_MONGO_URL.\n\n" +
			"FerretDB's own _id index does not serve its lookups by _id. A portal embedding\n" +
			"FerretDB adds one that does to its collections (adapters/mongodb IndexIDs); one\n" +
			"that reaches this server by URL cannot, so this server adds it to every new\n" +
			"collection itself, within a second of its creation.",
		Args: cobra.NoArgs,
	}
	cmd.Flags().StringVar(&listen, "listen", defaultStandaloneMongoListen, "host:port to listen on (port 0 picks a free one)")
	cmd.Flags().StringVar(&data, "data", "", "directory of the SQLite files (default $PORTAL_DATA_DIR/readmodels)")
	cmd.Flags().BoolVar(&allowNonLoopback, "allow-non-loopback", false,
		"allow listening on a non-loopback address (the server has no authentication)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		src := b.source(cmd, a.lookupEnv)
		logging, err := config.LoadLogging(src)
		if err != nil {
			return err
		}
		if cmd.Flags().Changed("data") && strings.TrimSpace(data) == "" {
			return fmt.Errorf("invalid --data %q: must not be empty", data)
		}
		if data == "" {
			dir, _ := src.Value(config.EnvDataDir, config.DefaultDataDir)
			data = filepath.Join(dir, "readmodels")
		}
		if !allowNonLoopback && !isLoopback(listen) {
			return fmt.Errorf("invalid --listen %q: not a loopback address; the server has no authentication "+
				"(pass --allow-non-loopback to listen there anyway)", listen)
		}
		return runMongo(cmd.Context(), listen, data, allowNonLoopback, logging, a.stderr)
	}
	return cmd
}

// runMongo serves the embedded read-model database until ctx is cancelled.
func runMongo(ctx context.Context, listen, data string, allowNonLoopback bool, logging config.Logging, logOut io.Writer) error {
	logger := slog.New(newHandler(logOut, logging))
	srv, err := mongodb.StartEmbedded(mongodb.EmbeddedConfig{Dir: data, Listen: listen, Logger: logger})
	if err != nil {
		return fmt.Errorf("start read-model database: %w", err)
	}
	logger.Info("read-model database listening", "url", srv.URI(), "data", data)
	if allowNonLoopback {
		logger.Warn("the read-model database accepts connections from other hosts and has no authentication: protect it with a firewall")
	}
	keepIDsIndexed(ctx, srv, time.Second, logger)
	logger.Info("shutting down read-model database")
	if err := srv.Close(); err != nil {
		return fmt.Errorf("shut down read-model database: %w", err)
	}
	logger.Info("read-model database stopped")
	return nil
}

// keepIDsIndexed indexes the _id lookups of new collections every period
// until ctx is done (mongodb.Embedded.IndexAllIDs). A failure is logged
// when it first happens or changes, not every period.
func keepIDsIndexed(ctx context.Context, srv *mongodb.Embedded, period time.Duration, logger *slog.Logger) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	var lastErr string
	for {
		n, err := srv.IndexAllIDs(ctx)
		switch {
		case err != nil && ctx.Err() == nil && err.Error() != lastErr:
			logger.Warn("indexing _id lookups of new collections failed: until it works, lookups by _id in them read the whole collection; "+
				"check that this process can write the SQLite files in its data directory (retrying every period)", "period", period, "err", err)
			lastErr = err.Error()
		case err == nil && lastErr != "":
			logger.Info("indexing _id lookups works again")
			lastErr = ""
		}
		if n > 0 {
			logger.Info("indexed _id lookups of new collections", "collections", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
