package projections_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// countingCheckpoints counts the checkpoint saves of a runner.
type countingCheckpoints struct {
	*mongodb.CheckpointStore
	saves atomic.Int64
}

func (c *countingCheckpoints) Save(ctx context.Context, name string, pos uint64) error {
	c.saves.Add(1)
	return c.CheckpointStore.Save(ctx, name, pos)
}

// A runner catching up on a backlog saves its checkpoints in batches, not
// once per event, and still saves the last position while it runs (no
// event comes after it): readers with the last consistency token get
// through without the runner stopping.
func TestRunnerBatchesCheckpointsAndSavesWhenIdle(t *testing.T) {
	w := newWorld(t)
	o := w.history(w.bootstrap("Acme", "owner@acme.example"))
	checkpoints := &countingCheckpoints{CheckpointStore: mongodb.NewCheckpointStore(w.db)}
	r, err := projections.NewRunner(projections.RunnerConfig{
		Source:      w.source(),
		Projections: readmodels.Projections(w.db, readmodels.Options{PrepareCollection: srv.PrepareCollection()}),
		Checkpoints: checkpoints, Versions: mongodb.NewVersions(w.db, time.Now),
		Leases: mongodb.NewLeases(w.db, time.Now, quiet()), Owner: "replica-a", LeaseTTL: 3 * time.Second,
		VersionPoll: 100 * time.Millisecond, StatusEvery: 100 * time.Millisecond, Logger: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(w.ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = r.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	w.caughtUp(o.position)
	// The first versions were built in bulk from history; everything
	// after that is live.
	before := checkpoints.saves.Load()
	const invites = 30
	emails := make([]string, invites)
	for i := range emails {
		emails[i] = fmt.Sprintf("burst%02d@example.org", i)
	}
	res, err := w.handlers.InviteUsers(w.ctx, commands.Request{Actor: domain.UserActor(o.owner)},
		commands.InviteUsersInput{OrgID: o.id, Emails: emails})
	if err != nil {
		t.Fatal(err)
	}
	w.caughtUp(res.Position)
	// Each invitation is two events (the hold, the invitation), which
	// every projection receives.
	deliveries := int64(3 * 2 * invites)
	saves := checkpoints.saves.Load() - before
	t.Logf("%d checkpoint saves for %d deliveries", saves, deliveries)
	if saves >= deliveries {
		t.Errorf("%d checkpoint saves for %d deliveries: not batched", saves, deliveries)
	}
}

// A runner that stops (a shutdown, its lease still held) writes what its
// projections handled but had not flushed yet, and saves their
// checkpoints: a reader of the read models after it has gone finds every
// event it had handled.
func TestRunnerStoppingFlushesWhatItHandled(t *testing.T) {
	w := newWorld(t)
	o := w.history(w.bootstrap("Acme", "owner@acme.example"))
	checkpoints := mongodb.NewCheckpointStore(w.db)
	r, err := projections.NewRunner(projections.RunnerConfig{
		Source:      w.source(),
		Projections: readmodels.Projections(w.db, readmodels.Options{PrepareCollection: srv.PrepareCollection()}),
		Checkpoints: checkpoints, Versions: mongodb.NewVersions(w.db, time.Now),
		Leases: mongodb.NewLeases(w.db, time.Now, quiet()), Owner: "replica-a", LeaseTTL: 3 * time.Second,
		VersionPoll: 100 * time.Millisecond, StatusEvery: 100 * time.Millisecond, Logger: quiet(),
		// After the first, no checkpoint is taken while the runner runs.
		CheckpointEvery: 1 << 20, CheckpointDelay: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(w.ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = r.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	invite := func(email string) commands.Position {
		res, err := w.handlers.InviteUsers(w.ctx, commands.Request{Actor: domain.UserActor(o.owner)},
			commands.InviteUsersInput{OrgID: o.id, Emails: []string{email}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Position
	}
	// The first live checkpoint of each projection is taken at once.
	w.caughtUp(invite("first@example.org"))
	last := invite("handled@example.org")
	// Events are acknowledged one at a time: once the marker is handled,
	// the invitation before it is acknowledged (the status moves before
	// the acknowledgement).
	marker := invite("marker@example.org")
	eventually(t, "every projection to have handled the marker", func() bool {
		for _, st := range r.Statuses() {
			if st.State != projections.StateRunning || st.Position < uint64(marker) {
				return false
			}
		}
		return true
	})
	cancel()
	wg.Wait()

	reader := readmodels.NewReader(w.db, readmodels.ReaderOptions{})
	if pos, err := reader.Position(w.ctx); err != nil || pos < uint64(last) {
		t.Errorf("stored checkpoints at %d (%v) after the runner stopped, want at least %d", pos, err, last)
	}
	page, err := reader.Users(w.ctx, readmodels.UsersQuery{OrgID: o.id, Status: readmodels.StatusInvited, Limit: readmodels.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(page.Items, func(u readmodels.User) bool { return u.Email == "handled@example.org" }) {
		t.Errorf("the invitation handled before the stop is not in the Users read model: %d invited rows", len(page.Items))
	}
}
