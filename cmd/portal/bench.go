package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/orgportal/onboarding/cmd/portal/bench"
)

// benchCmd wires `portal bench`: the end-to-end load harness (package
// bench). By default it starts this very binary as `serve` in a temporary
// data directory, so the figures are those of the product as shipped.
func (a *app) benchCmd() *cobra.Command {
	var profile, password, admin string
	given, _ := bench.ProfileOptions(bench.ProfileDefault) // the default profile always exists
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test the portal end to end and compare each stage with its baseline (see BENCHMARKS.md)",
		Long: "bench starts the portal on the embedded stack as a child process (or targets a running\n" +
			"one with --url), drives it over HTTP and measures command latency and throughput,\n" +
			"command → visible lag, the Users page query, the rebuild rate, and the portal's RSS and\n" +
			"CPU, beside baselines measured in the same run (raw append, raw Mongo writes, a no-op\n" +
			"Gin handler, fsync). It prints a table with the goals and writes all figures as JSON.\n\n" +
			"Profiles: smoke (seconds), default (a few minutes), soak (lag for 5 min, memory for 10).\n" +
			"The defaults shown are the default profile's; flags given explicitly override the profile.\n\n" +
			"--topology split runs the product as an api replica beside a replica of role all and\n" +
			"portal mongo (README, \"Replicas and roles\") and measures the api replica; see BENCHMARKS.md.\n\n" +
			"With --url, sign in with --email and the password in $BENCH_PASSWORD; the baselines\n" +
			"need --eventstore-url and --mongo-url, RSS and CPU need --pid (same machine).\n" +
			"The global --data-dir and --log-* flags do not apply: the child gets a temporary data\n" +
			"directory (see --work-dir, --keep-data) and logs JSON to the harness.",
		Args: cobra.NoArgs,
	}
	cmd.Flags().StringVar(&profile, "profile", bench.ProfileDefault, "preset: smoke, default or soak")
	cmd.Flags().StringVar(&password, "password", "", "with --url: the password of --email; prefer $BENCH_PASSWORD (flags show in the process list)")
	cmd.Flags().StringVar(&admin, "admin-token", "", "with --url: the portal's admin token, for the rebuild stage; prefer $BENCH_ADMIN_TOKEN")
	benchFlags(cmd.Flags(), &given)

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		opts, err := bench.ProfileOptions(profile)
		if err != nil {
			return err
		}
		// The profile gives every value; a flag given on the command line
		// replaces its own, whatever the profile.
		overlay := pflag.NewFlagSet("profile", pflag.ContinueOnError)
		benchFlags(overlay, &opts)
		var errs []error
		cmd.Flags().Visit(func(f *pflag.Flag) { // only the flags given
			g := overlay.Lookup(f.Name)
			if g == nil {
				return
			}
			if slice, ok := f.Value.(pflag.SliceValue); ok {
				errs = append(errs, g.Value.(pflag.SliceValue).Replace(slice.GetSlice()))
				return
			}
			errs = append(errs, g.Value.Set(f.Value.String()))
		})
		if err := errors.Join(errs...); err != nil {
			return err
		}
		// --duration alone means "for this long": drop the profile's count,
		// and the other way round.
		changed := cmd.Flags().Changed
		if changed("duration") && !changed("count") {
			opts.Count = 0
		}
		if changed("count") && !changed("duration") {
			opts.Duration = 0
		}
		opts.Password = firstOf(password, a.env("BENCH_PASSWORD"))
		opts.AdminToken = firstOf(admin, a.env("BENCH_ADMIN_TOKEN"))
		if opts.URL == "" {
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find the portal binary to start: %w", err)
			}
			opts.Binary = exe
		}
		opts.Log = a.stderr
		start := time.Now()
		_, err = bench.Run(cmd.Context(), opts, a.stdout)
		fmt.Fprintf(a.stderr, "bench: finished in %v\n", time.Since(start).Round(time.Second))
		return err
	}
	return cmd
}

// benchFlags defines the options' flags on fs, bound to o, with o's values
// as defaults.
func benchFlags(fs *pflag.FlagSet, o *bench.Options) {
	fs.StringVar(&o.URL, "url", o.URL, "base URL of a running portal to measure instead of starting one (http://host:port)")
	fs.StringVar(&o.Email, "email", o.Email, "with --url: email of an owner or admin to sign in as")
	fs.StringVar(&o.OrgID, "org", o.OrgID, "with --url: organization to load (default: the session's)")
	fs.StringVar(&o.EventStoreURL, "eventstore-url", o.EventStoreURL, "with --url: esdb:// connection string of its event store, for the raw append baseline (writes benchraw-* streams)")
	fs.StringVar(&o.MongoURL, "mongo-url", o.MongoURL, "with --url: mongodb:// URL of its read-model database, for the raw Mongo baselines and the raw Users query")
	fs.StringVar(&o.PprofURL, "pprof-url", o.PprofURL, "with --url: its pprof listener (http://host:port, see PORTAL_PPROF_ADDR), for --cpuprofile")
	fs.IntVar(&o.PID, "pid", o.PID, "with --url: its process id, to sample RSS and CPU from /proc")
	fs.StringVar(&o.WorkDir, "work-dir", o.WorkDir, "parent of the temporary data directory and the fsync file (default: the system temp dir)")
	fs.BoolVar(&o.KeepData, "keep-data", o.KeepData, "keep the child's data directory after the run")
	fs.StringVar(&o.ChildLog, "child-log", o.ChildLog, "write the child portal's whole log (JSON lines) to this file")
	fs.StringVar(&o.Out, "out", o.Out, "JSON file for all figures")
	fs.StringVar(&o.CPUProfile, "cpuprofile", o.CPUProfile, "write a pprof CPU profile of the portal taken during the stage --cpuprofile-stage names")
	fs.StringVar(&o.CPUProfileStage, "cpuprofile-stage", bench.StageInvite1, "stage of the CPU profile: invite1 (at --concurrency), lag or memory")
	fs.StringSliceVar(&o.Stages, "stages", o.Stages, "run only these stages (comma-separated): "+strings.Join(bench.AllStages, ","))
	fs.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "clients of the command stages")
	fs.Float64Var(&o.Rate, "rate", o.Rate, "requests/s of the command stages as an open loop; 0 is a closed loop")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "length of each command stage")
	fs.IntVar(&o.Count, "count", o.Count, "requests of each command stage, 0 for no bound (whichever of --duration and --count ends first)")
	fs.Float64Var(&o.LagRate, "lag-rate", o.LagRate, "commands/s of the lag stage")
	fs.DurationVar(&o.LagDuration, "lag-duration", o.LagDuration, "length of the lag stage")
	fs.IntVar(&o.Members, "members", o.Members, "members seeded before the Users page query")
	fs.IntVar(&o.Queries, "queries", o.Queries, "Users page queries (and as many raw finds)")
	fs.Float64Var(&o.MemoryRate, "memory-rate", o.MemoryRate, "commands/s of the memory run")
	fs.DurationVar(&o.MemoryDuration, "memory-duration", o.MemoryDuration, "length of the memory run")
	fs.DurationVar(&o.BaselineDuration, "baseline-duration", o.BaselineDuration, "length of each baseline level")
	fs.DurationVar(&o.SettleTimeout, "settle-timeout", o.SettleTimeout, "longest wait after a stage for the portal's background work (projections, mail) to finish")
	fs.StringVar(&o.RebuildProjection, "rebuild-projection", o.RebuildProjection, "read model the rebuild stage rebuilds")
	fs.StringVar(&o.Topology, "topology", o.Topology, "one: one portal process; split: portal mongo, a replica of role api (embeds the event store, takes the requests) and one of role all (projects, mails)")
	fs.IntVar(&o.BackgroundNice, "background-nice", o.BackgroundNice, "with --topology split: nice value of the replica of role all and of portal mongo")
	fs.IntSliceVar(&o.BackgroundCPUs, "background-cpus", o.BackgroundCPUs, "with --topology split: the only CPUs (comma-separated numbers) the replica of role all and portal mongo may use; the api replica may use every CPU (Linux)")
	fs.BoolVar(&o.PauseBackground, "pause-background", o.PauseBackground, "with --topology split: stop the background processes during the command stages' loads (as if they ran on CPUs of their own)")
}

func (a *app) env(name string) string {
	v, _ := a.lookupEnv(name)
	return v
}

func firstOf(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
