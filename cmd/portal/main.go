// Command portal is the onboarding backend's one composition root.
//
//	portal [serve]      run the product (the default)
//	portal eventstore   run only the embedded event store
//	portal mongo        run only the embedded read-model database (FerretDB)
//	portal healthcheck  ask a running portal's /readyz (for container health checks)
//	portal replay       rebuild read models from the event history
//	portal bench        load-test the portal end to end (see BENCHMARKS.md)
//
// Configuration comes from flags and PORTAL_* environment variables; a flag
// wins over the environment, which wins over the default. See README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/orgportal/onboarding/cmd/portal/config"
)

func main() {
	// The first SIGINT/SIGTERM cancels ctx and starts a graceful shutdown; a
	// second one kills the process the default way.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()

	tuneGC(os.LookupEnv)
	a := newApp(os.Stdout, os.Stderr, os.LookupEnv)
	if err := a.rootCmd().ExecuteContext(ctx); err != nil {
		os.Exit(1)
	}
}

// defaultGCPercent is the garbage collector's GOGC when the environment
// sets none. At Go's default of 100 the collector took 6 % of the portal's
// CPU in the lag benchmark (the live heap turns over with every event);
// at 200 the same stage cost 9.14 CPU s per 1,000 commands instead of
// 9.96, for a peak RSS of 388 MiB instead of 314 (BENCHMARKS.md). GOGC
// (and GOMEMLIMIT) in the environment still decide when set.
const defaultGCPercent = 200

// tuneGC applies defaultGCPercent unless GOGC is set, in which case the
// runtime has applied it already.
func tuneGC(lookupEnv func(string) (string, bool)) {
	if _, set := lookupEnv("GOGC"); !set {
		debug.SetGCPercent(defaultGCPercent)
	}
}

// app holds what the commands get from the process, so tests can run them
// in process with their own environment and capture the resolved
// configuration instead of serving.
type app struct {
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)

	serve      func(ctx context.Context, cfg config.Config) error
	eventStore func(ctx context.Context, cfg config.EventStore, allowNonLoopback bool) error
}

func newApp(stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) *app {
	a := &app{stdout: stdout, stderr: stderr, lookupEnv: lookupEnv}
	a.serve = func(ctx context.Context, cfg config.Config) error {
		logger := newLogger(a.stderr, cfg.Logging)
		if err := runServe(ctx, cfg, logger, a.stdout); err != nil {
			return err
		}
		logger.Info("portal stopped")
		return nil
	}
	a.eventStore = func(ctx context.Context, cfg config.EventStore, allowNonLoopback bool) error {
		return runEventStore(ctx, cfg, allowNonLoopback, a.stderr)
	}
	return a
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "portal",
		Short: "User-onboarding backend of the organization portal",
		Long: "portal runs the onboarding backend. Without a subcommand it runs `serve`.\n\n" +
			"Every flag can also be set by the PORTAL_* variable named in its help;\n" +
			"a flag wins over the environment, the environment over the default.",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)

	global := bindings{}
	global.bind(root.PersistentFlags(), config.EnvDataDir, "", "")
	global.bind(root.PersistentFlags(), config.EnvLogLevel, "", "")
	global.bind(root.PersistentFlags(), config.EnvLogFormat, "", "")

	serve := a.serveCmd(global)
	root.Flags().AddFlagSet(serve.Flags())
	root.RunE = serve.RunE

	root.AddCommand(serve, a.eventStoreCmd(global), a.healthcheckCmd(), a.benchCmd(), a.replayCmd(global), a.mongoCmd(global))
	return root
}

func (a *app) serveCmd(global bindings) *cobra.Command {
	b := global.clone()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the portal (default): HTTP server, event store client, and the embedded servers it needs",
		Args:  cobra.NoArgs,
	}
	for _, env := range []string{
		config.EnvHTTPAddr, config.EnvPublicURL, config.EnvEventStoreURL,
		config.EnvEventStoreListen, config.EnvMongoURL, config.EnvSMTPURL, config.EnvMailFrom, config.EnvMailFromName,
		config.EnvMailTemplates, config.EnvMailConcurrency,
		config.EnvBootstrapOrg, config.EnvBootstrapEmail, config.EnvBootstrapPassword,
		config.EnvTokenKeys, config.EnvInvitationTTL, config.EnvRateLimitClient,
		config.EnvRateLimitSubject, config.EnvInvitationsPerDay, config.EnvTrustedProxies,
		config.EnvConsistencyWait, config.EnvSessionCacheTTL, config.EnvBackgroundYield, config.EnvAdminToken,
		config.EnvPprofAddr, config.EnvRole,
	} {
		b.bind(cmd.Flags(), env, "", "")
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := config.Load(b.source(cmd, a.lookupEnv))
		if err != nil {
			return err
		}
		return a.serve(cmd.Context(), cfg)
	}
	return cmd
}

// bindings remembers which flag stands for which PORTAL_* variable.
type bindings map[string]string // env name → flag name

func (b bindings) clone() bindings {
	c := make(bindings, len(b))
	for k, v := range b {
		c[k] = v
	}
	return c
}

// bind registers a string flag for a setting. flagName and shownDefault
// override the table's when not empty.
func (b bindings) bind(fs *pflag.FlagSet, env, flagName, shownDefault string) {
	s, ok := config.Lookup(env)
	if !ok {
		panic("unknown setting " + env) // a programming error caught by any test
	}
	if flagName == "" {
		flagName = s.Flag
	}
	if shownDefault == "" {
		shownDefault = s.Default
	}
	fs.String(flagName, shownDefault, fmt.Sprintf("%s [$%s]", s.Usage, env))
	b[env] = flagName
}

// source collects the flags given on the command line: only those, so that
// an unset flag lets the environment through.
func (b bindings) source(cmd *cobra.Command, lookupEnv func(string) (string, bool)) config.Source {
	given := map[string]string{}
	for env, name := range b {
		if f := cmd.Flags().Lookup(name); f != nil && f.Changed {
			given[env] = f.Value.String()
		}
	}
	return config.Source{Flags: given, FlagNames: b, LookupEnv: lookupEnv}
}
