package projections_test

import (
	"context"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/projections"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// failFirstFlush is a read model whose first flush with something to
// write fails: the real applier's, with a context that is over.
type failFirstFlush struct {
	projections.Projection
	failed atomic.Bool
}

func (p *failFirstFlush) Live(version int) projections.Applier {
	return &failingFlusher{Applier: p.Projection.Live(version), p: p}
}

type failingFlusher struct {
	projections.Applier
	p       *failFirstFlush
	applied atomic.Int64 // events applied since the last flush
}

func (a *failingFlusher) Apply(ctx context.Context, e projections.Envelope) error {
	a.applied.Add(1)
	return a.Applier.Apply(ctx, e)
}

func (a *failingFlusher) Flush(ctx context.Context) error {
	if a.applied.Swap(0) > 0 && a.p.failed.CompareAndSwap(false, true) {
		over, cancel := context.WithCancel(ctx)
		cancel()
		ctx = over
	}
	return a.Applier.(projections.Flusher).Flush(ctx)
}

// A flush that fails before a checkpoint makes the runner deliver again
// from the last saved checkpoint, to a new applier: the read models end
// up as a clean run leaves them, and the failure counts in the status.
func TestRunnerRedeliversAfterAFailedFlush(t *testing.T) {
	w := newWorld(t)
	var projs []projections.Projection
	for _, p := range readmodels.Projections(w.db, readmodels.Options{PrepareCollection: srv.PrepareCollection()}) {
		projs = append(projs, &failFirstFlush{Projection: p})
	}
	r, _ := w.runnerOf("replica-a", w.db, projs)
	eventually(t, "runner running", func() bool { return allIn(r, projections.StateRunning) })
	o := w.history(w.bootstrap("Acme", "owner@acme.example"))
	w.caughtUp(o.position)
	for _, p := range projs {
		if !p.(*failFirstFlush).failed.Load() {
			t.Errorf("%s: no flush failed", p.Name())
		}
		if st, _ := r.Status(p.Name()); st.Failures == 0 {
			t.Errorf("%s: status does not show the failed flush: %+v", p.Name(), st)
		}
	}

	clean := srv.DB(t)
	_, stop := w.runner("replica-b", clean)
	cleanReader := readmodels.NewReader(clean, readmodels.ReaderOptions{})
	eventually(t, "the clean run caught up", func() bool {
		p, err := cleanReader.Position(w.ctx)
		return err == nil && p >= uint64(o.position)
	})
	stop()
	for _, base := range readmodels.Names() {
		got, want := dump(t, w.ctx, mongodb.Collection(w.db, base, 1)), dump(t, w.ctx, mongodb.Collection(clean, base, 1))
		if len(want) == 0 || !reflect.DeepEqual(got, want) {
			t.Errorf("%s after a failed flush and the redelivery:\n got %v\nwant %v", base, got, want)
		}
	}
}
