package readmodels

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections"
)

// BenchmarkLive applies LIVE_BENCH_EVENTS events (2,000 by default) to the
// three live appliers at once, each on its own goroutine as the runner
// runs them, over an organization of 5,000 people built by a rebuild: new
// people invited by the owner, and one in four of them accepting and
// joining (InvitationAccepted, MemberJoined). Every flushEvery events each
// applier is flushed, as the runner's subscriber does before a
// checkpoint: 256 is a catch-up (CheckpointEvery), 5 is the steady state
// at 200 commands/s (one checkpoint per CheckpointDelay of 25 ms).
//
// It reports the events applied per second beside FerretDB's insertMany
// rate in the same run (insertMany-docs/s, the same number of Users rows
// into a scratch collection), so that runs on a noisy machine compare by
// ratio:
//
//	go test -run '^$' -bench BenchmarkLive -benchtime 1x ./projections/readmodels/
func BenchmarkLive(b *testing.B) {
	n := 2_000
	if v, err := strconv.Atoi(os.Getenv("LIVE_BENCH_EVENTS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	db := srv.DB(b)
	const orgID domain.OrgID = "org-bench"
	base := orgHistory(orgID, 5_000, 1)
	opts := Options{PrepareCollection: srv.PrepareCollection()}
	for _, p := range Projections(db, opts) {
		rebuild(b, ctx, p, 1, base)
	}
	ownerID := domain.UserID(string(orgID) + "-owner")
	next := uint64(len(base)+1) * 100
	round := 0
	// events returns n new events after everything applied so far.
	events := func() history {
		round++
		var h history
		add := func(actor string, e domain.Event) {
			env := history{}.add(actor, e)[0] // not h.add, which copies h
			env.Position = next
			env.EventID = fmt.Sprintf("bench-%d-%d", round, len(h))
			h = append(h, env)
			next += 100
		}
		for i := 0; len(h) < n; i++ {
			email := fmt.Sprintf("new-%d-%05d@example.org", round, i)
			inv := domain.InvitationID(fmt.Sprintf("inv-new-%d-%05d", round, i))
			add(string(ownerID), domain.UserInvited{InvitationID: inv, OrgID: orgID, Email: email, NormalizedEmail: email,
				Role: domain.RoleMember, InvitedBy: ownerID, Generation: 1, ExpiresAt: t0.Add(48 * time.Hour)})
			if i%4 == 3 {
				user := domain.UserID(fmt.Sprintf("u-new-%d-%05d", round, i))
				add(string(user), domain.InvitationAccepted{InvitationID: inv, OrgID: orgID, UserID: user, Generation: 1})
				add(string(user), domain.MemberJoined{OrgID: orgID, UserID: user, Email: email, NormalizedEmail: email, Name: "New",
					Role: domain.RoleMember, Via: domain.JoinedViaInvitation, InvitedBy: ownerID, InvitationID: inv})
			}
		}
		return h[:n]
	}

	b.Run("insertMany", func(b *testing.B) {
		coll := mongodb.Collection(db, "bench_raw", 1)
		if err := createCollection(ctx, coll); err != nil {
			b.Fatal(err)
		}
		if err := opts.PrepareCollection(ctx, coll); err != nil {
			b.Fatal(err)
		}
		docs := make([]any, n)
		var elapsed time.Duration
		for i := 0; b.Loop(); i++ {
			for j := range docs {
				id := fmt.Sprintf("raw-%d-%05d", i, j)
				docs[j] = User{ID: id, OrgID: orgID, Email: id + "@example.org", NormalizedEmail: id + "@example.org",
					Status: StatusInvited, Role: domain.RoleMember, InvitedAt: timePtr(t0), UpdatedAt: t0, Position: int64(j)}
			}
			start := time.Now()
			for k := 0; k < len(docs); k += bulkBatch {
				if _, err := coll.InsertMany(ctx, docs[k:min(k+bulkBatch, len(docs))], options.InsertMany().SetOrdered(false)); err != nil {
					b.Fatal(err)
				}
			}
			elapsed += time.Since(start)
		}
		b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "insertMany-docs/s")
	})
	for _, flushEvery := range []int{256, 5} {
		b.Run(fmt.Sprintf("flushEvery=%d", flushEvery), func(b *testing.B) {
			var elapsed time.Duration
			for b.Loop() {
				h := events()
				start := time.Now()
				var wg sync.WaitGroup
				errs := make([]error, 3)
				for i, p := range Projections(db, opts) {
					wg.Go(func() { errs[i] = applyFlushing(ctx, p, h, flushEvery) })
				}
				wg.Wait()
				elapsed += time.Since(start)
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "events/s")
		})
	}
}

// applyFlushing applies h to a fresh live applier of version 1 of p,
// flushing it every flushEvery events (counting the events p does not
// handle, as the subscriber's checkpoints do) and at the end.
func applyFlushing(ctx context.Context, p projections.Projection, h history, flushEvery int) error {
	a := p.Live(1)
	f, _ := a.(projections.Flusher)
	flush := func() error {
		if f == nil {
			return nil
		}
		return f.Flush(ctx)
	}
	for i, e := range h {
		if p.Handles(e.Type) {
			if err := a.Apply(ctx, e); err != nil {
				return fmt.Errorf("%s: apply %s at %d: %w", p.Name(), e.Type, e.Position, err)
			}
		}
		if (i+1)%flushEvery == 0 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
