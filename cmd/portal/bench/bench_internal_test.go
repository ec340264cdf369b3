package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {95, 95 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := percentile(lat, tt.p); got != tt.want {
			t.Errorf("p%v = %v, want %v", tt.p, got, tt.want)
		}
	}
	l := summarize([]time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond}, time.Second)
	if l.Count != 3 || l.PerS != 3 || l.P50Ms != 2 || l.MaxMs != 3 || l.MeanMs != 2 {
		t.Errorf("summary: %+v", l)
	}
	if l := summarize(nil, time.Second); l.Count != 0 || l.P99Ms != 0 {
		t.Errorf("empty summary: %+v", l)
	}
}

func TestParseProc(t *testing.T) {
	// A command name with spaces and parentheses must not shift the fields.
	stat := []byte("4242 (por tal) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 12345 0 0")
	cpu, err := parseStatCPU(stat)
	if err != nil || cpu != 3.0 {
		t.Errorf("stat: cpu %v err %v, want 3 s (250 + 50 ticks)", cpu, err)
	}
	if _, err := parseStatCPU([]byte("garbage")); err == nil {
		t.Error("malformed stat: no error")
	}
	if p, err := readProc(os.Getpid()); err == nil && (p.RSSKiB <= 0 || p.HWMKiB < p.RSSKiB) {
		t.Errorf("own process: %+v", p)
	}
}

func TestClosedLoopCountsAndErrors(t *testing.T) {
	var calls atomic.Int64
	res := runLoad(context.Background(), loadSpec{Concurrency: 4, Count: 100}, func(_ context.Context, seq int) error {
		calls.Add(1)
		if seq%10 == 0 {
			return &statusError{route: "POST /x", status: 409, code: "already_invited"}
		}
		return nil
	})
	if calls.Load() != 100 || res.Count != 90 || res.Errors != 10 || res.ErrorKinds["409 already_invited"] != 10 {
		t.Errorf("calls %d, result %+v", calls.Load(), res.Latency)
	}
	if len(res.samples) != 90 {
		t.Errorf("%d samples, want 90", len(res.samples))
	}
}

func TestOpenLoopSendsAtRateAndCountsMissedTicks(t *testing.T) {
	// One client that takes 50 ms per request at 200/s: most ticks find it
	// busy and the queue (one slot) full.
	res := runLoad(context.Background(), loadSpec{Concurrency: 1, Rate: 200, Count: 40}, func(ctx context.Context, _ int) error {
		time.Sleep(50 * time.Millisecond)
		return nil
	})
	if res.Count+res.Missed != 40 || res.Missed == 0 {
		t.Errorf("sent %d, missed %d: want 40 ticks in all, some missed", res.Count, res.Missed)
	}
	// A latency is measured from the tick, so queueing shows.
	if res.MaxMs < 50 {
		t.Errorf("max latency %v ms below the request's own 50 ms", res.MaxMs)
	}
}

func TestErrKindNeverShowsTheURL(t *testing.T) {
	c := &apiClient{base: "http://127.0.0.1:1", hc: newHTTPClient(1)}
	_, err := c.call(context.Background(), http.MethodPost, "/api/v1/join/SECRET-TOKEN", "POST /join/{token}", []byte("{}"), nil)
	if err == nil {
		t.Fatal("no error from a closed port")
	}
	if kind := errKind(err); strings.Contains(kind, "SECRET") || !strings.HasPrefix(kind, "transport") {
		t.Errorf("kind %q", kind)
	}
	se := &statusError{route: "POST /join/{token}", status: 410, code: "link_rotated"}
	if strings.Contains(se.Error(), "SECRET") || errKind(fmt.Errorf("wrapped: %w", se)) != "410 link_rotated" {
		t.Errorf("status error: %v / %q", se, errKind(se))
	}
}

func TestRouteMissing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"status":404,"code":"route_not_found"}`))
		case "/unknown-member":
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"status":404,"code":"member_not_found"}`))
		case "/not-configured":
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":503,"code":"read_models_not_configured"}`))
		case "/down":
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":503,"code":"read_models_unavailable"}`))
		default:
			_, _ = w.Write([]byte(`{}`))
		}
	}))
	defer srv.Close()
	c := &apiClient{base: srv.URL, hc: newHTTPClient(1)}
	for path, want := range map[string]bool{"/missing": true, "/unknown-member": false, "/not-configured": true, "/down": false, "/ok": false} {
		_, err := c.call(context.Background(), http.MethodGet, path, path, nil, nil)
		if got := routeMissing(err); got != want {
			t.Errorf("%s: routeMissing = %v (err %v), want %v", path, got, err, want)
		}
	}
}

func TestBacklogJudgedByThirds(t *testing.T) {
	var flat, growing []sample
	for i := range 90 {
		at := time.Duration(i) * 100 * time.Millisecond
		flat = append(flat, sample{at: at, lat: 20 * time.Millisecond})
		growing = append(growing, sample{at: at, lat: time.Duration(10+10*i) * time.Millisecond})
	}
	if first, last := thirds(flat, 9); backlogGrowing(first, last) {
		t.Errorf("flat lag judged growing: %+v / %+v", first, last)
	}
	if first, last := thirds(growing, 9); !backlogGrowing(first, last) {
		t.Errorf("growing lag not judged growing: %+v / %+v", first, last)
	}
}

func TestEvaluateGoals(t *testing.T) {
	ok := func(name string, l Latency, figures map[string]float64) Stage {
		return Stage{Name: name, Status: StatusOK, Latency: &l, Figures: figures}
	}
	res := &Results{
		Settings: Settings{Concurrency: 64, LagRate: 200, LagDurationS: 300, Members: 5000, MemoryDurationS: 600},
		Stages: []Stage{
			ok("raw-append-c1", Latency{Count: 10, P50Ms: 0.5, PerS: 1000}, nil),
			ok("invite1-c1", Latency{Count: 10, P50Ms: 1.2, PerS: 500}, nil),
			ok("invite1", Latency{Count: 10, P50Ms: 20, PerS: 3200}, nil),
			ok("lag", Latency{Count: 10, P99Ms: 200}, map[string]float64{"achievedRate": 199, "backlogGrowing": 0}),
			ok("users-query", Latency{Count: 10, P99Ms: 40}, nil),
			ok("users-query-raw", Latency{Count: 10, P99Ms: 10}, nil),
			ok("memory", Latency{Count: 10}, map[string]float64{"secondHalfGrowthMiB": 5, "allowedGrowthMiB": 32}),
			{Name: "rebuild", Status: StatusNotAvailable, Reason: "not yet"},
		},
	}
	goals, _ := evaluate(res)
	want := map[string]*bool{}
	yes, no := true, false
	for _, g := range goals {
		want[g.Name] = g.Met
	}
	check := func(prefix string, expect *bool) {
		t.Helper()
		for name, met := range want {
			if strings.HasPrefix(name, prefix) {
				if (met == nil) != (expect == nil) || met != nil && *met != *expect {
					t.Errorf("%s: met %v, want %v", name, deref(met), deref(expect))
				}
				return
			}
		}
		t.Errorf("no goal %q", prefix)
	}
	check("InviteUsers p50 overhead", &yes) // 0.7 ms
	check("InviteUsers throughput", &yes)
	check("Command → visible lag", &yes)
	check("Users page query p99", &no) // 4×
	check("Memory flat", &yes)
	check("Rebuild rate", nil)
}

// The memory goal allows growth in the caches: judged by the live heap
// less the Users cache when the portal exports both, by RSS otherwise.
func TestMemoryGoal(t *testing.T) {
	judge := func(figures map[string]float64) Goal {
		res := &Results{Settings: Settings{MemoryDurationS: 600},
			Stages: []Stage{{Name: StageMemory, Status: StatusOK, Latency: &Latency{Count: 10}, Figures: figures}}}
		return memoryGoal(view{res})
	}
	// RSS grew 200 MiB, the live heap 70, of which the cache 60.
	beyond := map[string]float64{"secondHalfGrowthMiB": 200, "allowedGrowthMiB": 50, "beyondCachesGrowthMiB": 10, "allowedBeyondCachesMiB": 32}
	if g := judge(beyond); g.Met == nil || !*g.Met || g.Value != 10 || !strings.Contains(g.Note, "RSS grew 200 MiB") {
		t.Errorf("within the caches: %+v", g)
	}
	beyond["beyondCachesGrowthMiB"] = 40
	if g := judge(beyond); g.Met == nil || *g.Met {
		t.Errorf("40 MiB beyond the caches: %+v", g)
	}
	if g := judge(map[string]float64{"secondHalfGrowthMiB": 200, "allowedGrowthMiB": 50}); g.Met == nil || *g.Met || !strings.Contains(g.Note, "judged by RSS") {
		t.Errorf("no live heap, RSS grew: %+v", g)
	}
	if g := judge(nil); g.Met != nil {
		t.Errorf("not measured: %+v", g)
	}
}

func TestMemoryBeyondCaches(t *testing.T) {
	t0 := time.Now()
	sample := func(s int, live, rows, bytes float64) memSample {
		return memSample{at: t0.Add(time.Duration(s) * time.Second), values: map[string]float64{
			metricHeapLive: live * (1 << 20), metricCacheRows: rows, metricCacheBytes: bytes * (1 << 20)}}
	}
	samples := []memSample{sample(0, 100, 1000, 10), sample(50, 150, 2000, 40), sample(100, 160, 3000, 60), sample(150, 200, 4000, 80)}
	var s Stage
	memoryBeyondCaches(&s, samples, t0.Add(90*time.Second), 4096)
	// Middle: the sample at 100 s; growth 200 − 160 = 40 MiB, the cache's 20.
	for k, want := range map[string]float64{"heapLiveMidMiB": 160, "heapLiveEndMiB": 200, "usersCacheMidMiB": 60, "usersCacheEndMiB": 80,
		"beyondCachesGrowthMiB": 20, "allowedBeyondCachesMiB": 32, "usersCacheRowsStart": 1000, "usersCacheRowsEnd": 4000} {
		if got := s.Figures[k]; got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	if len(s.Notes) != 1 || !strings.Contains(s.Notes[0], "3000 rows") || !strings.Contains(s.Notes[0], "1398 bytes of RSS per row") {
		t.Errorf("notes: %q", s.Notes)
	}
	var bare Stage // an older portal: neither series
	memoryBeyondCaches(&bare, []memSample{{at: t0, values: map[string]float64{}}, {at: t0.Add(time.Minute), values: map[string]float64{}}}, t0, 0)
	if _, ok := bare.Figures["beyondCachesGrowthMiB"]; ok || len(bare.Notes) != 1 || !strings.Contains(bare.Notes[0], "judged by RSS") {
		t.Errorf("without the series: %v %q", bare.Figures, bare.Notes)
	}
}

func deref(b *bool) any {
	if b == nil {
		return "n/a"
	}
	return *b
}

func TestValidateNamesEveryProblem(t *testing.T) {
	o, err := ProfileOptions(ProfileSmoke)
	if err != nil {
		t.Fatal(err)
	}
	o.Concurrency, o.Stages, o.CPUProfileStage = 0, []string{"nope"}, "seed"
	err = o.validate()
	for _, want := range []string{"binary", "--concurrency", `"nope"`, `--cpuprofile-stage "seed"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validate: %v, want a mention of %s", err, want)
		}
	}
	if _, err := ProfileOptions("fast"); err == nil {
		t.Error("unknown profile accepted")
	}
}

func TestValidateTopology(t *testing.T) {
	base, err := ProfileOptions(ProfileSmoke)
	if err != nil {
		t.Fatal(err)
	}
	base.Binary = "portal"
	if err := base.validate(); err != nil || base.Topology != TopologyOne || base.BackgroundNice != 19 {
		t.Fatalf("the profile's defaults: %v, topology %q, nice %d", err, base.Topology, base.BackgroundNice)
	}
	for _, tc := range []struct {
		name string
		set  func(*Options)
		want string // "" when valid
	}{
		{"split", func(o *Options) { o.Topology = TopologySplit }, ""},
		{"split, paused, nice 0", func(o *Options) { o.Topology, o.PauseBackground, o.BackgroundNice = TopologySplit, true, 0 }, ""},
		{"unknown topology", func(o *Options) { o.Topology = "three" }, `--topology "three"`},
		{"pause in one process", func(o *Options) { o.PauseBackground = true }, "--pause-background needs --topology split"},
		{"split by URL", func(o *Options) {
			o.Topology, o.URL, o.Email, o.Password = TopologySplit, "http://127.0.0.1:8080", "a@b.example", "pw"
		}, "start the split yourself"},
		{"nice out of range", func(o *Options) { o.Topology, o.BackgroundNice = TopologySplit, 20 }, "--background-nice 20"},
		{"negative nice", func(o *Options) { o.Topology, o.BackgroundNice = TopologySplit, -5 }, "--background-nice -5"},
		{"split, background on CPU 0", func(o *Options) { o.Topology, o.BackgroundCPUs = TopologySplit, []int{0} }, ""},
		{"background CPUs in one process", func(o *Options) { o.BackgroundCPUs = []int{0} }, "--background-cpus needs --topology split"},
		{"a CPU the machine lacks", func(o *Options) { o.Topology, o.BackgroundCPUs = TopologySplit, []int{runtime.NumCPU()} },
			fmt.Sprintf("--background-cpus %d", runtime.NumCPU())},
		{"a negative CPU", func(o *Options) { o.Topology, o.BackgroundCPUs = TopologySplit, []int{-1} }, "--background-cpus -1"},
	} {
		o := base
		tc.set(&o)
		err := o.validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want a mention of %s", tc.name, err, tc.want)
		}
	}
}

// The command goals say when they were measured on a split run's api
// replica, and whether its background was paused.
func TestCommandGoalsNameTheTopology(t *testing.T) {
	l := Latency{Count: 10, P50Ms: 1.2, PerS: 3500}
	res := &Results{
		Settings: Settings{Concurrency: 64},
		Stages: []Stage{
			{Name: "raw-append-c1", Status: StatusOK, Latency: &Latency{Count: 10, P50Ms: 0.5}},
			{Name: "invite1-c1", Status: StatusOK, Latency: &l},
			{Name: "invite1", Status: StatusOK, Latency: &l},
		},
	}
	notes := func() []string {
		goals, _ := evaluate(res)
		return []string{goals[0].Note, goals[1].Note}
	}
	if n := notes(); n[0] != "" || n[1] != "" {
		t.Errorf("one process: notes %q", n)
	}
	res.Target = Target{Topology: TopologySplit, BackgroundNice: 19}
	for _, n := range notes() {
		if !strings.Contains(n, "background on the same CPUs at nice 19") {
			t.Errorf("split: note %q", n)
		}
	}
	res.Target.BackgroundCPUs = []int{1}
	for _, n := range notes() {
		if !strings.Contains(n, "background confined to CPU 1 at nice 19") {
			t.Errorf("split, background on CPU 1: note %q", n)
		}
	}
	res.Target.BackgroundPaused = true
	for _, n := range notes() {
		if !strings.Contains(n, "background paused") {
			t.Errorf("split, paused: note %q", n)
		}
	}
}

// A child started with CPUs runs on those alone, every thread of it, and
// with the nice value given.
func TestStartLimitedConfinesTheChild(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("CPU affinity is set on Linux only")
	}
	cmd := exec.Command("sleep", "30")
	if err := startLimited(cmd, 7, []int{0}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), "Cpus_allowed_list:\t0\n") {
		t.Errorf("the child may run on other CPUs:\n%s", status)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	if len(fields) < 17 || fields[16] != "7" { // field 19 of stat, nice
		t.Errorf("the child's nice value: stat %q", stat)
	}
	// The threads that run the harness's goroutines are not confined (the
	// one that forked the child is gone, or wedged if it was the main
	// thread, which /proc/self would show).
	runtime.LockOSThread()
	self, err := os.ReadFile("/proc/thread-self/status")
	runtime.UnlockOSThread()
	if err == nil && runtime.NumCPU() > 1 && strings.Contains(string(self), "Cpus_allowed_list:\t0\n") {
		t.Error("starting a confined child confined the harness")
	}
}

func TestProfiledStage(t *testing.T) {
	var o Options
	if o.profiles(StageInvite1) {
		t.Error("a profile without --cpuprofile")
	}
	o.CPUProfile = "cpu.pprof"
	if !o.profiles(StageInvite1) || o.profiles(StageLag) {
		t.Error("without --cpuprofile-stage the profile is invite1's alone")
	}
	o.CPUProfileStage = StageLag
	if o.profiles(StageInvite1) || !o.profiles(StageLag) || o.profiles(StageMemory) {
		t.Error("--cpuprofile-stage lag: the profile is lag's alone")
	}
}

// Ratios far below one keep two significant digits in the table.
// A run at one client has one InviteUsers stage, and one CPU ratio for it.
func TestRatiosAtOneClientNameEachStageOnce(t *testing.T) {
	l := Latency{Count: 10, P50Ms: 1.5, PerS: 500}
	res := &Results{
		Settings: Settings{Concurrency: 1},
		Stages: []Stage{
			{Name: "raw-append", Status: StatusOK, Latency: &Latency{Count: 10, P50Ms: 0.5, PerS: 2000}},
			{Name: "invite1", Status: StatusOK, Latency: &l, CPUPer1000: 0.8},
		},
	}
	_, ratios := evaluate(res)
	seen := map[string]bool{}
	var cpu int
	for _, r := range ratios {
		if seen[r.Name] {
			t.Errorf("ratio %q listed twice: %+v", r.Name, ratios)
		}
		seen[r.Name] = true
		if strings.HasPrefix(r.Name, "Portal CPU per 1,000 requests") {
			cpu++
		}
	}
	if cpu != 1 {
		t.Errorf("%d CPU ratios, want the one of invite1: %+v", cpu, ratios)
	}
}

func TestSmallRatiosKeepTheirDigits(t *testing.T) {
	for v, want := range map[float64]string{0: "0.00", 0.0033: "0.0033", 0.05: "0.05", 0.5: "0.50", 3.30: "3.30", 566.53: "566.53", -0.004: "-0.004"} {
		if got := small(v); got != want {
			t.Errorf("small(%v) = %q, want %q", v, got, want)
		}
	}
}
