package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.mongodb.org/mongo-driver/mongo"

	"github.com/orgportal/onboarding/adapters/mongodb"
)

// Baselines run first, while the portal is idle: the speed of the parts
// under the product, measured in the same run, so that the ratios mean
// something on a noisy machine.

func (r *runner) stageFsync(ctx context.Context) {
	s := Stage{Name: StageFsync, Kind: "baseline", Concurrency: 1}
	r.logf("fsync: 4 KiB write + fsync in a loop for %v in %s (%s)", r.o.BaselineDuration, r.dataDir, r.res.Machine.DataFS)
	l, err := measureFsync(ctx, r.dataDir, r.o.BaselineDuration)
	if err != nil {
		s.Status, s.Reason = StatusFailed, err.Error()
	}
	s.Latency = &l
	s.figure("syncsPerS", l.PerS)
	s.note("filesystem %s", r.res.Machine.DataFS)
	r.add(s)
}

func (r *runner) stageGinNoop(ctx context.Context) {
	url, stop, err := ginNoop()
	if err != nil {
		r.add(Stage{Name: StageGinNoop, Kind: "baseline", Status: StatusFailed, Reason: err.Error()})
		return
	}
	defer stop()
	client := &apiClient{base: url, hc: newHTTPClient(r.o.Concurrency)}
	body := inviteBody([]string{"someone@example.org"})
	op := func(ctx context.Context, _ int) error {
		_, err := client.call(ctx, http.MethodPost, "/noop", "POST /noop", body, nil)
		return err
	}
	for _, c := range r.levels() {
		s := Stage{Name: levelName(StageGinNoop, c, r.o.Concurrency), Kind: "baseline", Concurrency: c}
		r.logf("%s: in-process Gin handler (bind + answer), %d clients, %v", s.Name, c, r.o.BaselineDuration)
		res := runLoad(ctx, loadSpec{Concurrency: c, Duration: r.o.BaselineDuration}, op)
		s.Latency = &res.Latency
		s.note("runs in the harness's process, not the portal's")
		r.add(s)
	}
}

func (r *runner) stageRawAppend(ctx context.Context) {
	if r.esdb == nil {
		r.add(Stage{Name: StageRawAppend, Kind: "baseline", Status: StatusNotAvailable, Reason: r.esdbErr.Error()})
		return
	}
	// One append first, so that the client has connected and discovered
	// the server before the clock runs.
	if err := r.esdb.op(ctx, -1); err != nil {
		r.add(Stage{Name: StageRawAppend, Kind: "baseline", Status: StatusFailed, Reason: "warm-up append: " + err.Error()})
		return
	}
	for _, c := range r.levels() {
		s := Stage{Name: levelName(StageRawAppend, c, r.o.Concurrency), Kind: "baseline", Concurrency: c}
		r.logf("%s: official client, one event per append to a new stream, %d clients, %v", s.Name, c, r.o.BaselineDuration)
		offset := 1_000_000 * c         // distinct stream names per level
		resume := r.pauseBackground(&s) // as for the commands it is the baseline of
		res := runLoad(ctx, loadSpec{Concurrency: c, Duration: r.o.BaselineDuration}, func(ctx context.Context, seq int) error {
			return r.esdb.op(ctx, offset+seq)
		})
		resume()
		s.Latency = &res.Latency
		if res.Count == 0 {
			s.Status, s.Reason = StatusFailed, "no append succeeded"+errorSummary(res.ErrorKinds)
		}
		r.add(s)
	}
}

// Names of the raw Mongo baselines.
const (
	stageMongoInsert     = "mongo-insert"
	stageMongoUpdateID   = "mongo-update-id"
	stageMongoInsertMany = "mongo-insertmany"
)

func (r *runner) stageRawMongo(ctx context.Context) {
	if r.mongo == nil {
		for _, name := range []string{stageMongoInsert, stageMongoUpdateID, stageMongoInsertMany} {
			r.add(Stage{Name: name, Kind: "baseline", Status: StatusNotAvailable, Reason: r.mongoErr.Error()})
		}
		return
	}
	coll := r.mongoDB.Collection("bench_scratch_" + r.tag)
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := coll.Drop(dctx); err != nil {
			r.logf("drop scratch collection %s: %v", coll.Name(), mongoFailure("drop", err))
		}
	}()
	m := &rawMongo{coll: coll}
	d := r.o.BaselineDuration
	r.logf("raw Mongo: insertOne, updateOne {_id}, insertMany ×%d into %s.%s, one client, %v each", insertManyBatch, r.mongoDB.Name(), coll.Name(), d)
	indexNote, indexErr := r.indexScratch(ctx, coll)

	ins, ids := m.insertOne(ctx, d)
	s := Stage{Name: stageMongoInsert, Kind: "baseline", Concurrency: 1, Latency: &ins.Latency}
	if indexNote != "" {
		s.note("%s", indexNote)
	}
	r.add(withFailure(s, ins))

	upd := m.updateByID(ctx, ids, d)
	s = Stage{Name: stageMongoUpdateID, Kind: "baseline", Concurrency: 1, Latency: &upd.Latency}
	if indexNote != "" {
		s.note("%s", indexNote)
	}
	if indexErr != nil {
		s.Status, s.Reason = StatusFailed, indexErr.Error()
		r.add(s)
	} else {
		r.add(withFailure(s, upd))
	}

	many := m.insertMany(ctx, d)
	s = Stage{Name: stageMongoInsertMany, Kind: "baseline", Concurrency: 1, Latency: &many.Latency}
	s.figure("docsPerS", many.PerS*insertManyBatch)
	s.note("one operation is a batch of %d documents", insertManyBatch)
	r.add(withFailure(s, many))
}

// indexScratch gives the scratch collection what the portal gives the
// collections its projections read and write by _id. MongoDB indexes _id
// by itself; the embedded FerretDB does not serve _id lookups from its own
// index (adapters/mongodb IndexIDs), so the portal adds one in the SQLite
// files, and without it every updateOne {_id} reads the whole collection:
// a baseline of a different store than the projections use. The harness
// can add it only for a portal it started. err is set when that failed:
// the update baseline would then say nothing about the projections.
func (r *runner) indexScratch(ctx context.Context, coll *mongo.Collection) (note string, err error) {
	ferret, ferr := mongodb.IsFerretDB(ctx, r.mongoDB)
	switch {
	case ferr != nil:
		return "", fmt.Errorf("tell MongoDB from FerretDB: %w", mongoFailure("buildInfo", ferr))
	case !ferret:
		return "MongoDB: _id is indexed by the server", nil
	case r.readModelsDir == "":
		return "FerretDB reached by URL: _id lookups use an index only where the server adds one (`portal mongo` does, within a second of a collection's creation; a FerretDB of its own scans the collection)", nil
	}
	if err := r.mongoDB.CreateCollection(ctx, coll.Name()); err != nil {
		return "", fmt.Errorf("create %s: %w", coll.Name(), mongoFailure("create", err))
	}
	if err := mongodb.IndexIDsIn(ctx, r.readModelsDir, coll); err != nil {
		return "", fmt.Errorf("index _id as the portal does, in the portal's SQLite files under %s (the harness must be able to write there): %w", r.readModelsDir, err)
	}
	return "embedded FerretDB: _id indexed as the portal indexes its projections' collections", nil
}

func withFailure(s Stage, res loadResult) Stage {
	if res.Count == 0 {
		s.Status, s.Reason = StatusFailed, "no operation succeeded"+errorSummary(res.ErrorKinds)
	}
	return s
}

// levels are the client counts of the baselines and of invite1: one
// client, for latency overhead, and --concurrency, for throughput.
func (r *runner) levels() []int {
	if r.o.Concurrency == 1 {
		return []int{1}
	}
	return []int{1, r.o.Concurrency}
}

// levelName names a stage's level: "<name>-c1" for one client, "<name>"
// at --concurrency.
func levelName(name string, clients, concurrency int) string {
	if clients == 1 && concurrency != 1 {
		return name + "-c1"
	}
	return name
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
