package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// visibleTimeout bounds the wait for one command's row; past it the
	// command counts as an error ("not visible").
	visibleTimeout = 10 * time.Second
	// maxInFlight caps the open loops' requests in flight (each holds a
	// connection to the portal).
	maxInFlight = 512
	// A lag run is judged in thirds: a backlog that grows shows as a last
	// third much slower than the first.
	backlogGrowthFactor = 2.0
	backlogFloorMs      = 50.0
)

// lagInFlight is how many requests an open loop at rate may have in
// flight: 2.5 s worth, at least the command clients, at most maxInFlight.
func lagInFlight(rate float64, concurrency int) int {
	return min(max(int(rate*2.5), concurrency), maxInFlight)
}

// lagProbe measures command → visible lag: an invitation, then GET
// /users?limit=1&q=<address> with the write's consistency token until a
// fresh answer lists the row.
type lagProbe struct {
	r *runner

	routeMissing atomic.Bool
	stale        atomic.Int64 // answers X-Consistency: stale
	noHeader     atomic.Int64 // answers without X-Consistency (token not supported yet)
	probes       atomic.Int64 // GET /users sent

	mu       sync.Mutex
	commands []time.Duration // latency of the invitation alone
}

func (p *lagProbe) op(prefix string) opFunc {
	return func(ctx context.Context, seq int) error {
		email := p.r.email(prefix, seq)
		t0 := time.Now()
		token, _, err := p.r.api.invite(ctx, inviteBody([]string{email}))
		if err != nil {
			return err
		}
		cmd := time.Since(t0)
		p.mu.Lock()
		p.commands = append(p.commands, cmd)
		p.mu.Unlock()
		return p.waitVisible(ctx, email, token)
	}
}

func (p *lagProbe) waitVisible(ctx context.Context, email, token string) error {
	deadline := time.Now().Add(visibleTimeout)
	q := url.Values{"limit": {"1"}, "q": {email}}
	for {
		p.probes.Add(1)
		page, consistency, err := p.r.getUsers(ctx, q, token)
		var se *statusError
		switch {
		case err != nil && routeMissing(err):
			p.routeMissing.Store(true)
			return err
		case err != nil && errors.As(err, &se) && se.status == http.StatusServiceUnavailable:
			// the read side is not ready; wait below and ask again
		case err != nil:
			return err
		case consistency == "stale":
			p.stale.Add(1)
			if time.Now().After(deadline) {
				return failure(fmt.Sprintf("still stale after %v", visibleTimeout))
			}
			continue // the portal already waited its bound; ask again at once
		case page.hasEmail(email):
			if consistency == "" {
				p.noHeader.Add(1)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return failure(fmt.Sprintf("row not visible within %v", visibleTimeout))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond): // no token support: poll
		}
	}
}

// stageLag sends --lag-rate commands/s for --lag-duration (open loop) and
// measures, per command, the time from sending it to a fresh Users page
// answer that lists its row.
func (r *runner) stageLag(ctx context.Context) {
	s := Stage{Name: StageLag, Kind: "product"}
	spec := loadSpec{Concurrency: lagInFlight(r.o.LagRate, r.o.Concurrency), Rate: r.o.LagRate, Duration: r.o.LagDuration}
	if spec.Rate <= 0 {
		spec.Rate = 200
	}
	r.logf("%s: InviteUsers (1 address) then GET /users?q=<address> with %s until fresh, %s, up to %d in flight",
		s.Name, consistencyToken, describeLoad(spec), spec.Concurrency)
	// One read first: without the Users route there is nothing to wait
	// for, and the commands would be sent for nothing.
	if _, _, err := r.getUsers(ctx, url.Values{"limit": {"1"}}, ""); routeMissing(err) {
		s.Status, s.Reason = StatusNotAvailable, fmt.Sprintf("the Users page is not available yet: %v", err)
		r.add(s)
		return
	}
	// The stages before leave the projections a backlog (tens of thousands
	// of invitations in the default profile) that the CPU settle wait does
	// not see to the end: work it off first, so that the stage measures
	// the lag of its own commands at its rate, not the earlier backlog.
	if took, err := r.catchUp(ctx); err != nil {
		s.note("the read models had not caught up with the earlier stages after %v (%v); the stage starts behind", catchUpTimeout, err)
	} else {
		s.figure("catchUpBeforeS", took.Seconds())
	}
	probe := &lagProbe{r: r}
	var profile func()
	if r.o.profiles(StageLag) {
		profile = r.startProfile(ctx, &s, spec.Duration)
	}
	cpu0 := r.cpuNow()
	res := r.load(ctx, &s, spec, probe.op("lag"))
	r.account(ctx, &s, cpu0, r.cpuNow(), res)
	if profile != nil {
		profile()
	}
	if probe.routeMissing.Load() {
		s = Stage{Name: s.Name, Kind: s.Kind, Status: StatusNotAvailable, Reason: "the Users page went away during the stage (route not found or read models not configured)"}
		r.add(s)
		return
	}
	cmd := summarize(probe.commands, 0)
	s.figure("targetRate", spec.Rate)
	s.figure("achievedRate", float64(res.Count+res.Errors)/res.ElapsedS)
	s.figure("commandP50Ms", cmd.P50Ms)
	s.figure("commandP99Ms", cmd.P99Ms)
	s.figure("staleAnswers", float64(probe.stale.Load()))
	s.figure("readsPerCommand", float64(probe.probes.Load())/float64(max(len(probe.commands), 1)))
	if n := probe.noHeader.Load(); n > 0 {
		s.figure("answersWithoutConsistencyHeader", float64(n))
		s.note("%d answers carried no %s header: the read did not wait for the token, the harness polled every 20 ms", n, consistencyHeader)
	}
	first, last := thirds(res.samples, res.ElapsedS)
	s.figure("firstThirdP99Ms", first.P99Ms)
	s.figure("lastThirdP99Ms", last.P99Ms)
	s.figure("firstThirdP50Ms", first.P50Ms)
	s.figure("lastThirdP50Ms", last.P50Ms)
	growing := backlogGrowing(first, last) || res.Missed > 0
	s.figure("backlogGrowing", b2f(growing))
	r.add(s)
}

// catchUpTimeout bounds the wait for the projections to work off what
// the earlier stages wrote.
const catchUpTimeout = 5 * time.Minute

// catchUp sends one invitation and waits until a fresh Users page lists
// it, and the invitations and audit queries given its token answer
// fresh (a read waits only for the read model it reads): then the
// projections have applied everything written before.
func (r *runner) catchUp(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	email := r.email("catchup", 0)
	token, _, err := r.api.invite(ctx, inviteBody([]string{email}))
	if err != nil {
		return 0, err
	}
	q := url.Values{"limit": {"1"}, "q": {email}}
	caughtUp := []func() bool{
		func() bool {
			page, consistency, err := r.getUsers(ctx, q, token)
			return err == nil && consistency != "stale" && page.hasEmail(email)
		},
		func() bool { return r.fresh(ctx, "/invitations", token) },
		func() bool { return r.fresh(ctx, "/audit", token) },
	}
	for time.Since(start) < catchUpTimeout {
		for len(caughtUp) > 0 && caughtUp[0]() {
			caughtUp = caughtUp[1:]
		}
		if len(caughtUp) == 0 {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return 0, errors.New("not visible")
}

// fresh reports whether the organization's query at path (/invitations,
// /audit), given token, answers fresh: its read model has passed token.
// A portal without that query has nothing to wait for.
func (r *runner) fresh(ctx context.Context, path, token string) bool {
	resp, err := r.api.call(ctx, http.MethodGet, apiBase+"/orgs/"+r.api.org+path+"?limit=1", "GET /orgs/{orgId}"+path, nil,
		map[string]string{consistencyToken: token})
	return routeMissing(err) || err == nil && resp.header.Get(consistencyHeader) == "fresh"
}

// thirds summarizes the samples started in the first and in the last
// third of the run.
func thirds(samples []sample, elapsedS float64) (first, last Latency) {
	third := time.Duration(elapsedS / 3 * float64(time.Second))
	var a, b []time.Duration
	for _, s := range samples {
		switch {
		case s.at < third:
			a = append(a, s.lat)
		case s.at >= 2*third:
			b = append(b, s.lat)
		}
	}
	return summarize(a, third), summarize(b, third)
}

// backlogGrowing: the last third's median lag is more than twice the
// first's and above a floor (tiny lags double by noise alone).
func backlogGrowing(first, last Latency) bool {
	return last.Count > 0 && first.Count > 0 &&
		last.P50Ms > backlogFloorMs && last.P50Ms > backlogGrowthFactor*first.P50Ms
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Memory flatness: RSS may grow while caches fill; after the middle of the
// run it should not grow by more than this (the larger of the two).
const (
	flatGrowthFraction = 0.10
	flatGrowthMiB      = 32.0
)

// stageMemory sends --memory-rate invitations/s for --memory-duration and
// reads the portal's RSS at the start, the middle and the end, and its
// live heap and Users page cache from /metrics (memoryBeyondCaches).
func (r *runner) stageMemory(ctx context.Context) {
	s := Stage{Name: StageMemory, Kind: "product"}
	if r.sampler == nil {
		s.Status, s.Reason = StatusNotAvailable, "no process to sample (with --url give --pid)"
		r.add(s)
		return
	}
	rate := r.o.MemoryRate
	if rate <= 0 {
		rate = 200
	}
	spec := loadSpec{Concurrency: lagInFlight(rate, r.o.Concurrency), Rate: rate, Duration: r.o.MemoryDuration}
	r.logf("%s: InviteUsers (1 address), %s; RSS sampled throughout", s.Name, describeLoad(spec))
	from, _ := r.sampler.take()
	began := time.Now()
	follow := r.followMemory(ctx)
	var profile func()
	if r.o.profiles(StageMemory) {
		profile = r.startProfile(ctx, &s, spec.Duration)
	}
	cpu0 := r.cpuNow()
	res := r.load(ctx, &s, spec, func(ctx context.Context, seq int) error {
		_, _, err := r.api.invite(ctx, inviteBody([]string{r.email("mem", seq)}))
		return err
	})
	to, _ := r.sampler.take()
	mem := follow()
	if profile != nil {
		profile()
	}
	r.account(ctx, &s, cpu0, r.cpuNow(), res)
	window := between(r.sampler.snapshot(), from.At, to.At)
	if len(window) < 3 {
		s.Status, s.Reason = StatusFailed, "too few RSS samples"
		r.add(s)
		return
	}
	start, mid, end := window[0], window[len(window)/2], window[len(window)-1]
	var peak int64
	for _, p := range window {
		peak = max(peak, p.RSSKiB)
	}
	s.figure("rssStartMiB", mib(start.RSSKiB))
	s.figure("rssMidMiB", mib(mid.RSSKiB))
	s.figure("rssEndMiB", mib(end.RSSKiB))
	s.figure("rssPeakMiB", mib(peak))
	growth := mib(end.RSSKiB - mid.RSSKiB)
	s.figure("secondHalfGrowthMiB", growth)
	s.figure("allowedGrowthMiB", max(flatGrowthMiB, flatGrowthFraction*mib(mid.RSSKiB)))
	memoryBeyondCaches(&s, mem, began.Add(time.Since(began)/2), end.RSSKiB-start.RSSKiB)
	r.add(s)
}

// The portal's memory series the memory stage follows (/metrics).
const (
	metricHeapLive   = "go_gc_heap_live_bytes"
	metricCacheRows  = "portal_users_cache_rows"
	metricCacheBytes = "portal_users_cache_bytes"
)

// memorySampleEvery is how often the memory stage reads them.
const memorySampleEvery = 5 * time.Second

// memSample is the memory series at one moment; a series the portal does
// not export is absent.
type memSample struct {
	at     time.Time
	values map[string]float64
}

// followMemory reads the memory series now and every memorySampleEvery;
// stop reads them once more and returns every sample.
func (r *runner) followMemory(ctx context.Context) (stop func() []memSample) {
	var mu sync.Mutex
	var samples []memSample
	take := func() {
		v, err := r.api.gauges(ctx, metricHeapLive, metricCacheRows, metricCacheBytes)
		if err != nil {
			r.logf("reading the portal's memory from /metrics: %v", err)
			return
		}
		mu.Lock()
		samples = append(samples, memSample{at: time.Now(), values: v})
		mu.Unlock()
	}
	take()
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(memorySampleEvery)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				take()
			}
		}
	}()
	return func() []memSample {
		close(quit)
		<-done
		take()
		mu.Lock()
		defer mu.Unlock()
		return samples
	}
}

// memoryBeyondCaches puts in s what the goal "flat, no growth beyond the
// caches" asks about: the growth of the portal's live heap (as the last
// collection found it) over the second half, less the growth of the Users
// page cache's rows meanwhile. Every invitation adds a row to the
// organization, which the cache holds whole (rowCache), so its growth is
// by design; and RSS is no measure of it, holding the collector's
// headroom too (up to GOGC %, 200 in the portal, on top of the live heap,
// so it follows the cache threefold). rssGrowthKiB is the stage's, for the
// RSS per cached row.
func memoryBeyondCaches(s *Stage, samples []memSample, mid time.Time, rssGrowthKiB int64) {
	if len(samples) < 2 {
		s.note("too few reads of /metrics to tell the caches' growth from the rest")
		return
	}
	first, last := samples[0], samples[len(samples)-1]
	rowsFrom, ok1 := first.values[metricCacheRows]
	rowsTo, ok2 := last.values[metricCacheRows]
	if ok1 && ok2 {
		s.figure("usersCacheRowsStart", rowsFrom)
		s.figure("usersCacheRowsEnd", rowsTo)
		if rowsTo > rowsFrom {
			s.note("the Users page cache grew by %.0f rows meanwhile (the organization's new invitations): %.0f bytes of RSS per row over the stage",
				rowsTo-rowsFrom, float64(rssGrowthKiB)*1024/(rowsTo-rowsFrom))
		}
	}
	m := nearest(samples[:len(samples)-1], mid)
	liveMid, ok1 := m.values[metricHeapLive]
	liveEnd, ok2 := last.values[metricHeapLive]
	if !ok1 || !ok2 {
		s.note("the portal does not export %s: the memory goal is judged by RSS", metricHeapLive)
		return
	}
	cacheMid, cacheEnd := m.values[metricCacheBytes], last.values[metricCacheBytes] // 0 without the cache
	const mibBytes = 1 << 20
	s.figure("heapLiveMidMiB", liveMid/mibBytes)
	s.figure("heapLiveEndMiB", liveEnd/mibBytes)
	s.figure("usersCacheMidMiB", cacheMid/mibBytes)
	s.figure("usersCacheEndMiB", cacheEnd/mibBytes)
	s.figure("beyondCachesGrowthMiB", ((liveEnd-liveMid)-(cacheEnd-cacheMid))/mibBytes)
	s.figure("allowedBeyondCachesMiB", max(flatGrowthMiB, flatGrowthFraction*liveMid/mibBytes))
}

// nearest is the sample taken closest to t (samples is not empty).
func nearest(samples []memSample, t time.Time) memSample {
	best := samples[0]
	for _, x := range samples[1:] {
		if x.at.Sub(t).Abs() < best.at.Sub(t).Abs() {
			best = x
		}
	}
	return best
}

func mib(kib int64) float64 { return float64(kib) / 1024 }
