package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/mongo"
)

// ErrStagesFailed is returned (wrapped) by Run when a stage failed; the
// results are complete nonetheless and were written.
var ErrStagesFailed = errors.New("some stages failed")

// runner holds one run's state.
type runner struct {
	o   Options
	log io.Writer
	res *Results

	api   *apiClient
	child *child
	pid   int
	// background are the processes of a split run besides the target.
	background []background
	sampler    *sampler
	eventStore string // connection string of the event store under the portal
	mongoURI   string
	pprofURL   string
	dataDir    string // where the fsync baseline writes
	// readModelsDir holds the SQLite files of the child's embedded
	// FerretDB; "" when the portal runs elsewhere.
	readModelsDir string
	tag           string // makes this run's addresses unique
	adminToken    string
	ownerPassword string // of the child's bootstrap owner; never printed
	password      string // of the self-service registrations; never printed

	mongo     *mongo.Client
	mongoDB   *mongo.Database
	mongoErr  error
	esdb      *rawAppend
	esdbErr   error
	seedToken string // consistency token after the seed, once visible
}

// Run measures the portal as o says, prints the table to out and writes
// the JSON file. It returns the results even when some stages failed
// (with ErrStagesFailed) or the run was interrupted.
func Run(ctx context.Context, o Options, out io.Writer) (*Results, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	r := &runner{o: o, log: o.Log, tag: randomHex(3)}
	if r.log == nil {
		r.log = io.Discard
	}
	r.res = &Results{
		Version: ResultsVersion, Tool: "portal bench", Profile: o.Profile, StartedAt: time.Now().UTC(),
		Machine: describeMachine(), Settings: settingsOf(o),
	}
	cleanup, err := r.setUp(ctx)
	defer cleanup()
	if err != nil {
		return nil, err
	}
	r.stages(ctx)
	r.finish()

	printReport(out, r.res, o.Out)
	if err := r.res.writeJSON(o.Out); err != nil {
		return r.res, err
	}
	if ctx.Err() != nil {
		return r.res, fmt.Errorf("interrupted: %w", ctx.Err())
	}
	var failed []string
	for _, s := range r.res.Stages {
		if s.Status == StatusFailed {
			failed = append(failed, s.Name)
		}
	}
	if len(failed) > 0 {
		return r.res, fmt.Errorf("%w: %s", ErrStagesFailed, strings.Join(failed, ", "))
	}
	return r.res, nil
}

func settingsOf(o Options) Settings {
	return Settings{
		Concurrency: o.Concurrency, Rate: o.Rate, DurationS: o.Duration.Seconds(), Count: o.Count,
		LagRate: o.LagRate, LagDurationS: o.LagDuration.Seconds(), Members: o.Members, Queries: o.Queries,
		MemoryRate: o.MemoryRate, MemoryDurationS: o.MemoryDuration.Seconds(),
		BaselineDurationS: o.BaselineDuration.Seconds(), SettleTimeoutS: o.SettleTimeout.Seconds(),
	}
}

// stages runs the selected stages in order; each records its own result.
func (r *runner) stages(ctx context.Context) {
	type step struct {
		name string
		run  func(context.Context)
	}
	steps := []step{
		{StageFsync, r.stageFsync},
		{StageGinNoop, r.stageGinNoop},
		{StageRawAppend, r.stageRawAppend},
		{StageRawMongo, r.stageRawMongo},
		{StageSeed, r.stageSeed},
		{StageUsersQuery, r.stageUsersQuery},
		{StageInvite1, r.stageInvite1},
		{StageInvite50, r.stageInvite50},
		{StageRegister, r.stageRegister},
		{StageLag, r.stageLag},
		{StageMemory, r.stageMemory},
		{StageRebuild, r.stageRebuild},
	}
	for _, s := range steps {
		wanted := r.o.runs(s.name) || s.name == StageSeed && r.o.runs(StageUsersQuery)
		if !wanted || ctx.Err() != nil {
			continue
		}
		if r.child != nil {
			if gone, err := r.child.exited(); gone {
				r.add(Stage{Name: s.name, Kind: "product", Status: StatusFailed,
					Reason: fmt.Sprintf("the portal exited (%v); its last log lines:\n%s", err, r.child.logTail())})
				continue
			}
		}
		s.run(ctx)
	}
}

// add records a finished stage and prints its one-line summary.
func (r *runner) add(s Stage) {
	if s.Status == "" {
		s.Status = StatusOK
	}
	if r.child != nil && s.Latency != nil && s.Latency.Errors > 0 {
		// What the portal said about it, while it is still in the tail.
		lines := r.child.errorLines()
		for _, line := range lines[max(0, len(lines)-3):] {
			s.note("portal log: %s", truncate(line, 400))
		}
	}
	r.res.Stages = append(r.res.Stages, s)
	line := fmt.Sprintf("  %-16s %s", s.Name, s.Status)
	if s.Latency != nil {
		line += fmt.Sprintf("  n=%d err=%d  %.0f/s  p50 %.2f ms  p99 %.2f ms", s.Latency.Count, s.Latency.Errors, s.Latency.PerS, s.Latency.P50Ms, s.Latency.P99Ms)
	}
	if s.Reason != "" {
		line += "  (" + firstLine(s.Reason) + ")"
	}
	r.logf("%s", line)
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.log, "bench: "+format+"\n", args...)
}

// finish takes the last samples and evaluates the goals.
func (r *runner) finish() {
	if r.sampler != nil {
		r.sampler.close()
		r.res.Process = processSummary(r.pid, r.sampler.snapshot(), r.res.Stages)
		r.sampler = nil
	}
	for i, b := range r.background {
		if p, err := readProc(b.child.pid); err == nil {
			r.res.Target.Background[i].CPUSeconds = p.CPUSeconds - b.cpu0
		}
	}
	r.res.Machine.finish()
	r.res.FinishedAt = time.Now().UTC()
	r.res.Goals, r.res.Ratios = evaluate(r.res)
}
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather than return an error since Go 1.24)
	return hex.EncodeToString(b)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
