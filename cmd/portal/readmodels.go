package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/orgportal/onboarding/adapters/eventstoredb"
	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections"
	"github.com/orgportal/onboarding/projections/priority"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// projectionLeaseTTL is how long a replica holds a projection without
// renewing it: the longest pause before another replica takes over from
// one that died.
const projectionLeaseTTL = 15 * time.Second

// backlogCap bounds the events counted for the lag figures: beyond it the
// projection is simply "that far behind".
const backlogCap = 10_000

// projectionSource is the event store side of the projections: every
// domain event type, decoded by codec, with the head and backlog probes
// for progress and lag.
func projectionSource(conn *eventstoredb.Conn, codec *eventstoredb.Codec) (projections.Source, error) {
	registry, err := domain.NewRegistry()
	if err != nil {
		return projections.Source{}, err
	}
	types := registry.Types()
	return projections.Source{
		Conn: conn, Decode: codec.DecodeMessage, EventTypes: types,
		// The results are read only when the probe returned in time: a
		// call left behind may still write them.
		Head: func(ctx context.Context) (uint64, error) {
			var pos uint64
			if err := probe(ctx, func(ctx context.Context) (err error) { pos, err = headPosition(ctx, conn); return err }); err != nil {
				return 0, err
			}
			return pos, nil
		},
		Backlog: func(ctx context.Context, after uint64) (int, time.Time, error) {
			var n int
			var oldest time.Time
			if err := probe(ctx, func(ctx context.Context) (err error) { n, oldest, err = backlog(ctx, conn, types, after); return err }); err != nil {
				return 0, time.Time{}, err
			}
			return n, oldest, nil
		},
	}, nil
}

// probeTimeout bounds the head and backlog reads.
const probeTimeout = 5 * time.Second

// probe runs f for at most probeTimeout or until ctx ends: the client's
// calls can wait for a server regardless of their context (see
// eventstoredb.Connect), and a shutdown must not wait with them. A call
// left behind returns, and is dropped, once the client gives up.
func probe(ctx context.Context, f func(context.Context) error) error {
	return withTimeout(ctx, probeTimeout, f)
}

// headPosition is the commit position of the last event in $all.
func headPosition(ctx context.Context, conn *eventstoredb.Conn) (uint64, error) {
	rs, err := conn.Client().ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		return 0, err
	}
	defer rs.Close()
	ev, err := rs.Recv()
	if errors.Is(err, io.EOF) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return ev.OriginalEvent().Position.Commit, nil
}

// backlog counts the domain events after position (up to backlogCap) and
// returns when the first of them was written.
func backlog(ctx context.Context, conn *eventstoredb.Conn, types []string, after uint64) (int, time.Time, error) {
	rs, err := conn.Client().ReadAll(ctx, esdb.ReadAllOptions{From: esdb.Position{Commit: after, Prepare: after}}, backlogCap+1)
	if err != nil {
		return 0, time.Time{}, err
	}
	defer rs.Close()
	n, oldest := 0, time.Time{}
	for n < backlogCap {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, time.Time{}, err
		}
		rec := ev.OriginalEvent()
		if rec == nil || rec.Position.Commit <= after {
			continue
		}
		if _, ok := slices.BinarySearch(types, rec.EventType); !ok {
			continue
		}
		if n == 0 {
			oldest = rec.CreatedDate
		}
		n++
	}
	return n, oldest, nil
}

// readModelProjections are the projections over db; prepare is what the
// embedded FerretDB needs done to each new collection (nil for MongoDB);
// reader, when set, is the process's reader, whose Users page cache the
// live users projection keeps current (nil when nothing reads).
func readModelProjections(db *mongo.Database, prepare func(context.Context, *mongo.Collection) error, reader *readmodels.MongoReader) []projections.Projection {
	return readmodels.Projections(db, readmodels.Options{PrepareCollection: prepare, Reader: reader})
}

// slowerCheckpoints are the projections that take a checkpoint at most
// every 100 ms under load instead of every 25 ms (the runner's default,
// which the Users page, read after every change in the portal, keeps):
// the invitations list and the audit trail are read after a change less
// often, and their reads wait only for their own projection. In the lag
// benchmark at 150 invitations/s that took the FerretDB commands from
// 6,705 to 5,596 per 30 s (their inserts from about 790 to 335 each: an
// invitation's insert and the update that records its mail now often
// land in one write) and the portal's CPU per command down by a tenth.
var slowerCheckpoints = map[string]time.Duration{
	readmodels.InvitationsBase: 100 * time.Millisecond,
	readmodels.AuditBase:       100 * time.Millisecond,
}

// saveEveryCheckpoint is projections.RunnerConfig.CheckpointSaveEvery's
// "save each one".
const saveEveryCheckpoint = -1

// checkpointSaveEvery chooses how often the projections write their
// checkpoint to the database (projections.RunnerConfig.CheckpointSaveEvery;
// in between, they announce it to this process's readers only). Readers in
// other replicas, replicas of role api among them, learn the projections'
// progress from those writes alone, so every write spared makes a read
// with a consistency token wait longer there.
//
//   - On MongoDB a write costs a fraction of a millisecond: every
//     checkpoint is saved (at most one per 25 ms per projection under
//     load), and other replicas see progress as soon as this one does.
//   - On FerretDB a write costs about 1.5 ms of its CPU, and the embedded
//     one has no other reader anyway: the runner's default, 250 ms.
//
// ferret is asked only for a database reached by URL; when it fails the
// default stands.
func checkpointSaveEvery(ctx context.Context, rm readModelsDB, ferret func(context.Context) (bool, error), logger *slog.Logger) time.Duration {
	if rm.prepare != nil { // the embedded FerretDB
		return 0
	}
	isFerret, err := ferret(ctx)
	switch {
	case err != nil:
		logger.Warn("read-model database kind unknown; checkpoints are written every 250 ms", "err", err)
		return 0
	case isFerret:
		return 0
	}
	return saveEveryCheckpoint
}

// startProjections runs the read models' projections on this replica
// (each while it holds the projection's lease) until stop is called; with
// observe (role api) it takes no lease and only shows what the replicas
// that run them saved. Their handlers yield to the commands gate counts.
func startProjections(ctx context.Context, src projections.Source, rm readModelsDB, reader *readmodels.MongoReader, owner string, observe bool, gate *priority.Gate, logger *slog.Logger) (*projections.Runner, func(), error) {
	logger = logger.With("component", "projections")
	runner, err := projections.NewRunner(projections.RunnerConfig{
		Source:      src,
		Projections: readModelProjections(rm.db, rm.prepare, reader),
		Checkpoints: rm.checkpoints,
		Versions:    mongodb.NewVersions(rm.db, time.Now),
		Leases:      mongodb.NewLeases(rm.db, time.Now, logger),
		Owner:       owner, LeaseTTL: projectionLeaseTTL, Logger: logger,
		CheckpointDelays: slowerCheckpoints, Observe: observe, Yield: gate.Yield,
		CheckpointSaveEvery: checkpointSaveEvery(ctx, rm, func(ctx context.Context) (bool, error) {
			return mongodb.IsFerretDB(ctx, rm.db)
		}, logger),
	})
	if err != nil {
		return nil, nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := runner.Run(runCtx); err != nil {
			logger.Error("projections stopped", "err", err)
		}
	}()
	return runner, func() {
		cancel()
		<-done
	}, nil
}
