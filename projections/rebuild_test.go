package projections_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/projections"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// failingWrite is a projection whose rebuild folds like the real one but
// fails to write.
type failingWrite struct {
	projections.Projection
	err error
}

func (p failingWrite) Rebuild(ctx context.Context, version int) (projections.Builder, error) {
	b, err := p.Projection.Rebuild(ctx, version)
	return failingBuilder{b, p.err}, err
}

type failingBuilder struct {
	projections.Builder
	err error
}

func (b failingBuilder) Finish(context.Context) error { return b.err }

// The builders write their versions side by side; when one of them fails,
// the rebuild fails with its error, switches nothing and drops every new
// version, the others written in full included.
func TestRebuildWriteFailureSwitchesNothing(t *testing.T) {
	w := newWorld(t)
	_, stop := w.runner("replica-a", w.db)
	o := w.history(w.bootstrap("Acme", "owner@acme.example"))
	w.caughtUp(o.position)
	stop()

	broken := errors.New("disk full")
	var projs []projections.Projection
	for _, p := range readmodels.Projections(w.db, readmodels.Options{PrepareCollection: srv.PrepareCollection()}) {
		if p.Name() == readmodels.InvitationsBase {
			p = failingWrite{p, broken}
		}
		projs = append(projs, p)
	}
	_, err := projections.Rebuild(w.ctx, projections.RebuildConfig{Source: w.source(), Checkpoints: mongodb.NewCheckpointStore(w.db),
		Versions: mongodb.NewVersions(w.db, time.Now), Leases: mongodb.NewLeases(w.db, time.Now, quiet()), Owner: "test", Logger: quiet()}, projs...)
	if !errors.Is(err, broken) || !strings.Contains(err.Error(), "rebuild invitations: write version 2") {
		t.Fatalf("rebuild: %v, want the invitations' write failure", err)
	}
	versions := mongodb.NewVersions(w.db, time.Now)
	for _, name := range readmodels.Names() {
		if a, _, err := versions.Active(w.ctx, name); err != nil || a.Version != 1 {
			t.Errorf("%s: active %+v %v, want version 1 still", name, a, err)
		}
	}
	names, err := w.db.ListCollectionNames(w.ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if left := slices.DeleteFunc(names, func(n string) bool { return !strings.HasSuffix(n, "_v2") }); len(left) > 0 {
		t.Errorf("collections of the failed version left behind: %v", left)
	}
}
