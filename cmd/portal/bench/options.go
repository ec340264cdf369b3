package bench

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Profiles name the presets of Options.
const (
	ProfileSmoke   = "smoke"   // a few seconds in all: the test that keeps the harness from rotting
	ProfileDefault = "default" // a few minutes: the figures of BENCHMARKS.md
	ProfileSoak    = "soak"    // 5 min of lag at 200/s and a 10 min memory run
)

// Stage names, in the order they run. --stages selects a subset.
const (
	StageFsync       = "fsync"
	StageGinNoop     = "gin-noop"
	StageRawAppend   = "raw-append"
	StageRawMongo    = "raw-mongo"
	StageSeed        = "seed"
	StageUsersQuery  = "users-query"
	StageInvite1     = "invite1"
	StageInvite50    = "invite50"
	StageRegister    = "register"
	StageLag         = "lag"
	StageMemory      = "memory"
	StageRebuild     = "rebuild"
	stageUsersRaw    = "users-query-raw"
	stageInvite1Solo = "invite1-c1"
)

// AllStages lists every selectable stage in run order.
var AllStages = []string{
	StageFsync, StageGinNoop, StageRawAppend, StageRawMongo,
	StageSeed, StageUsersQuery,
	StageInvite1, StageInvite50, StageRegister,
	StageLag, StageMemory, StageRebuild,
}

// Options configure a run. Start from ProfileOptions and override fields.
type Options struct {
	Profile string

	// Binary is the portal executable started as the child (`serve`);
	// the CLI passes os.Executable(). Ignored when URL is set.
	Binary string
	// URL targets a running portal instead of a child, e.g.
	// http://127.0.0.1:8080. Email and Password sign in as an owner or
	// admin of OrgID (the session's organization when empty).
	URL      string
	Email    string
	Password string
	OrgID    string
	// AdminToken authorizes the admin API (rebuild); the child gets a
	// generated one.
	AdminToken string
	// EventStoreURL and MongoURL are the stores under a running portal,
	// for the baselines; the child's are read from its log.
	EventStoreURL string
	MongoURL      string
	// PprofURL is a running portal's pprof listener (http://host:port),
	// for CPUProfile; the child gets one on a free loopback port.
	PprofURL string
	// PID is a running portal's process id, for RSS and CPU (same machine).
	PID int

	// WorkDir is the parent of the child's temporary data directory and of
	// the fsync file; the system temp directory when empty.
	WorkDir  string
	KeepData bool
	// ChildLog, when set, is a file that receives the child's whole log
	// (JSON lines); only its last lines are kept otherwise, for errors.
	ChildLog string
	// Out is the JSON results file.
	Out string
	// CPUProfile, when set, receives a pprof CPU profile of the portal
	// taken during CPUProfileStage: invite1 (at Concurrency, the default),
	// lag or memory, for that stage's whole length.
	CPUProfile      string
	CPUProfileStage string
	// Stages selects stages by name; all when empty.
	Stages []string

	// Command stages (invite1, invite50, register): Concurrency clients;
	// Rate > 0 makes an open loop at that many requests/s, 0 a closed loop;
	// each stage runs for Duration or Count requests, whichever ends first
	// (0 = no bound; one of them must be set).
	Concurrency int
	Rate        float64
	Duration    time.Duration
	Count       int

	// LagRate commands/s, open loop, for LagDuration.
	LagRate     float64
	LagDuration time.Duration
	// Members seeded before the Users query stage, which sends Queries
	// queries through the API and as many raw finds.
	Members int
	Queries int
	// MemoryRate commands/s for MemoryDuration: the flatness run.
	MemoryRate     float64
	MemoryDuration time.Duration
	// BaselineDuration is how long each baseline level runs.
	BaselineDuration time.Duration
	// SettleTimeout bounds the wait, after each load stage, for the
	// portal's background work (projections, mail) to finish.
	SettleTimeout time.Duration
	// RebuildProjection is the read model the rebuild stage rebuilds.
	RebuildProjection string

	// Topology is how the harness runs the product it starts:
	// TopologyOne (one process; also when empty) or TopologySplit.
	Topology string
	// BackgroundNice is the nice value of the background processes of a
	// split run (0–19).
	BackgroundNice int
	// BackgroundCPUs, when not empty, are the only CPUs a split run's
	// background processes may use (the api replica may use every CPU):
	// background work confined to its share of a machine, as a cgroup's
	// cpuset or taskset would confine it. Linux only.
	BackgroundCPUs []int
	// PauseBackground stops a split run's background processes (SIGSTOP)
	// during the loads of the command stages and their baselines, and
	// continues them (SIGCONT) before the settle wait: the figures of a
	// replica of role api whose background work runs on CPUs of its own.
	PauseBackground bool

	// Log receives progress lines; discarded when nil.
	Log io.Writer
}

// Topologies of a run that starts the product.
const (
	// TopologyOne is one `portal serve` with everything embedded.
	TopologyOne = "one"
	// TopologySplit is `portal mongo`, a replica of role api that embeds
	// the event store and takes the requests, and a replica of role all
	// that projects and mails (README, "Replicas and roles").
	TopologySplit = "split"
)

// ProfileOptions returns the preset named profile ("" is the default).
func ProfileOptions(profile string) (Options, error) {
	o := Options{
		Profile:          ProfileDefault,
		Out:              "bench-results.json",
		Concurrency:      64,
		Duration:         15 * time.Second,
		LagRate:          200,
		LagDuration:      30 * time.Second,
		Members:          5000,
		Queries:          100,
		MemoryRate:       200,
		MemoryDuration:   60 * time.Second,
		BaselineDuration: 2 * time.Second,
		// Long enough for the mail of the invite50 stage's tens of
		// thousands of invitations: the stages after it (register, lag)
		// would otherwise share the CPU with that mail.
		SettleTimeout:     3 * time.Minute,
		RebuildProjection: "users",
		Topology:          TopologyOne,
		BackgroundNice:    19,
	}
	switch profile {
	case "", ProfileDefault:
	case ProfileSmoke:
		o.Profile = ProfileSmoke
		o.Concurrency = 4
		o.Duration = 2 * time.Second
		o.Count = 40
		// Slow enough that the projections keep up while the test suite
		// loads the machine: the smoke run checks that the stage works,
		// the default profile measures it.
		o.LagRate = 5
		o.LagDuration = 2 * time.Second
		o.Members = 100
		o.Queries = 10
		o.MemoryRate = 20
		o.MemoryDuration = 2 * time.Second
		o.BaselineDuration = 300 * time.Millisecond
		o.SettleTimeout = time.Second
	case ProfileSoak:
		o.Profile = ProfileSoak
		o.Duration = 30 * time.Second
		o.LagDuration = 5 * time.Minute
		o.Queries = 300
		o.MemoryDuration = 10 * time.Minute
		o.BaselineDuration = 3 * time.Second
		o.SettleTimeout = 5 * time.Minute
	default:
		return Options{}, fmt.Errorf("unknown profile %q: want %s, %s or %s", profile, ProfileSmoke, ProfileDefault, ProfileSoak)
	}
	return o, nil
}

// validate reports every problem with o at once.
func (o Options) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.URL == "" && o.Binary == "" {
		bad("no portal binary to start (and no --url to target)")
	}
	if o.URL != "" {
		if !strings.HasPrefix(o.URL, "http://") && !strings.HasPrefix(o.URL, "https://") {
			bad("--url %q: want http://host:port", o.URL)
		}
		if o.Email == "" || o.Password == "" {
			bad("--url needs --email and a password (BENCH_PASSWORD) of an owner or admin")
		}
	}
	if o.Concurrency < 1 {
		bad("--concurrency must be at least 1")
	}
	if o.Rate < 0 || o.LagRate < 0 || o.MemoryRate < 0 {
		bad("rates must not be negative")
	}
	if o.Duration <= 0 && o.Count <= 0 {
		bad("the command stages need --duration or --count")
	}
	if o.Members < 50 || o.Queries < 1 {
		bad("--members must be at least 50 and --queries at least 1")
	}
	if o.Out == "" {
		bad("--out must name a file")
	}
	if o.CPUProfileStage != "" && !slices.Contains(profiledStages, o.CPUProfileStage) {
		bad("--cpuprofile-stage %q: want one of %s", o.CPUProfileStage, strings.Join(profiledStages, ", "))
	}
	switch {
	case o.Topology != "" && o.Topology != TopologyOne && o.Topology != TopologySplit:
		bad("--topology %q: want %s or %s", o.Topology, TopologyOne, TopologySplit)
	case o.Topology == TopologySplit && o.URL != "":
		bad("--topology %s starts its own processes; with --url, start the split yourself (BENCHMARKS.md) and give --pid of the replica measured", TopologySplit)
	case o.PauseBackground && o.Topology != TopologySplit:
		bad("--pause-background needs --topology %s: in one process the background work cannot be paused apart from the commands", TopologySplit)
	}
	if len(o.BackgroundCPUs) > 0 && o.Topology != TopologySplit {
		bad("--background-cpus needs --topology %s: in one process the background work shares the commands' CPUs", TopologySplit)
	}
	for _, c := range o.BackgroundCPUs {
		if c < 0 || c >= runtime.NumCPU() {
			bad("--background-cpus %d: this machine's CPUs are 0 to %d", c, runtime.NumCPU()-1)
		}
	}
	if o.BackgroundNice < 0 || o.BackgroundNice > 19 {
		bad("--background-nice %d: want 0 (as the api replica) to 19 (the lowest priority)", o.BackgroundNice)
	}
	for _, s := range o.Stages {
		if !slices.Contains(AllStages, s) {
			bad("unknown stage %q (stages: %s)", s, strings.Join(AllStages, ", "))
		}
	}
	return errors.Join(errs...)
}

// profiledStages are the stages a CPU profile can be taken of.
var profiledStages = []string{StageInvite1, StageLag, StageMemory}

// profiles reports whether the CPU profile is to be taken during stage.
func (o Options) profiles(stage string) bool {
	if o.CPUProfile == "" {
		return false
	}
	if o.CPUProfileStage == "" {
		return stage == StageInvite1
	}
	return o.CPUProfileStage == stage
}

// runs reports whether stage is selected.
func (o Options) runs(stage string) bool {
	return len(o.Stages) == 0 || slices.Contains(o.Stages, stage)
}

// commandLoad is the load of a command stage at the given concurrency.
func (o Options) commandLoad(concurrency int) loadSpec {
	return loadSpec{Concurrency: concurrency, Rate: o.Rate, Duration: o.Duration, Count: o.Count}
}
