package esdbserver_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/orgportal/onboarding/adapters/esdbserver"
)

// The crash test runs the server in a child process (this test binary,
// re-executed with -test.run=^TestCrashChild$), kills it with SIGKILL while
// writers are appending, restarts it on the same data directory several
// times, and finally checks the directory against everything the children
// reported as acknowledged.
//
// The child reports on stdout, one line per fact, each written with a single
// write(2) so that whatever reached the pipe before the kill is complete:
//
//	ADDR <connection string>
//	RESUME <stream> <last revision, -1 for none>
//	SENT <stream> <first revision> <count> <id,id,...>   (before the append)
//	ACK <stream> <first revision> <count> <commit> <prepare> <next expected> <id,id,...>
//	ERR <message>                                         (the child gives up)
const (
	crashChildEnv  = "ESDB_CRASH_CHILD"
	crashDirEnv    = "ESDB_CRASH_DIR"
	crashSeedEnv   = "ESDB_CRASH_SEED"
	crashPrefixEnv = "ESDB_CRASH_PREFIX"

	crashWriters          = 8
	crashStreamsPerWriter = 2
	crashEventType        = "CrashTestEvent"
)

// TestCrashChild is not a test on its own: it is the child process of
// TestCrashConsistency and skips unless that test started it.
func TestCrashChild(t *testing.T) {
	if os.Getenv(crashChildEnv) == "" {
		t.Skip("helper process of TestCrashConsistency")
	}
	crashRunChild()
}

// crashRunChild serves the data directory and appends until it is killed. It
// never returns.
func crashRunChild() {
	out := &crashLineWriter{w: os.Stdout}
	fail := func(format string, args ...any) {
		out.line("ERR " + strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " | "))
		os.Exit(3)
	}
	dir, prefix := os.Getenv(crashDirEnv), os.Getenv(crashPrefixEnv)
	seed, err := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64)
	if dir == "" || prefix == "" || err != nil {
		fail("child needs %s, %s and %s", crashDirEnv, crashPrefixEnv, crashSeedEnv)
	}

	// The parent holds our stdin open; when it goes away (test failed or
	// crashed) we must not linger.
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(4)
	}()
	time.AfterFunc(90*time.Second, func() { fail("child was never killed") })

	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := esdbserver.Start(ctx, esdbserver.Config{DataDir: dir, ListenAddr: "127.0.0.1:0", Logger: logger})
	if err != nil {
		fail("start server: %v", err)
	}
	out.line("ADDR " + srv.ConnectionString())

	cfg, err := esdb.ParseConnectionString(srv.ConnectionString())
	if err != nil {
		fail("parse connection string: %v", err)
	}
	cfg.Logger = esdb.NoopLogging()
	client, err := esdb.NewClient(cfg)
	if err != nil {
		fail("new client: %v", err)
	}

	var wg sync.WaitGroup
	for w := range crashWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			streams := make([]string, crashStreamsPerWriter)
			last := make([]int64, crashStreamsPerWriter)
			for i := range streams {
				streams[i] = fmt.Sprintf("%sw%d-s%d", prefix, w, i)
				rev, err := crashLastRevision(ctx, client, streams[i])
				if err != nil {
					fail("resume %s: %v", streams[i], err)
				}
				last[i] = rev
				out.line(fmt.Sprintf("RESUME %s %d", streams[i], rev))
			}
			for {
				i := rng.IntN(len(streams))
				n := 1 + rng.IntN(5)
				first := last[i] + 1
				events := make([]esdb.EventData, n)
				ids := make([]string, n)
				for k := range events {
					id := uuid.New()
					ids[k] = id.String()
					events[k] = esdb.EventData{
						EventID:     id,
						EventType:   crashEventType,
						ContentType: esdb.ContentTypeJson,
						Data:        fmt.Appendf(nil, `{"writer":%d,"revision":%d}`, w, first+int64(k)),
					}
				}
				idList := strings.Join(ids, ",")
				out.line(fmt.Sprintf("SENT %s %d %d %s", streams[i], first, n, idList))
				var expected esdb.ExpectedRevision = esdb.NoStream{}
				if last[i] >= 0 {
					expected = esdb.Revision(uint64(last[i]))
				}
				res, err := client.AppendToStream(ctx, streams[i], esdb.AppendToStreamOptions{ExpectedRevision: expected}, events...)
				if err != nil {
					fail("append %d events to %s at revision %d: %v", n, streams[i], first, err)
				}
				out.line(fmt.Sprintf("ACK %s %d %d %d %d %d %s", streams[i], first, n, res.CommitPosition, res.PreparePosition, res.NextExpectedVersion, idList))
				last[i] += int64(n)
			}
		}()
	}
	wg.Wait()
	fail("writers stopped")
}

// crashLastRevision returns stream's last revision, -1 when it has none.
func crashLastRevision(ctx context.Context, c *esdb.Client, stream string) (int64, error) {
	rs, err := c.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		return 0, err
	}
	defer rs.Close()
	ev, err := rs.Recv()
	var esErr *esdb.Error
	if errors.As(err, &esErr) && esErr.Code() == esdb.ErrorCodeResourceNotFound {
		return -1, nil
	}
	if err != nil {
		return 0, err
	}
	return int64(ev.Event.EventNumber), nil
}

// crashLineWriter writes whole lines with one write each (os.Stdout is not
// buffered), so a kill never leaves half a line in the pipe.
type crashLineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (c *crashLineWriter) line(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = io.WriteString(c.w, s+"\n")
}

// crashBatch is one append a child attempted.
type crashBatch struct {
	run    int
	stream string
	first  int64
	ids    []uuid.UUID
	acked  bool
	commit uint64 // position the ack reported
}

func (b *crashBatch) last() int64 { return b.first + int64(len(b.ids)) - 1 }

func (b *crashBatch) describe() string {
	state := "unacknowledged"
	if b.acked {
		state = fmt.Sprintf("acknowledged at commit %d", b.commit)
	}
	return fmt.Sprintf("run %d, %s revisions %d..%d (%s)", b.run, b.stream, b.first, b.last(), state)
}

type crashResume struct {
	run    int
	stream string
	last   int64
}

// crashHistory is what the children reported over all runs.
type crashHistory struct {
	batches []*crashBatch
	byFirst map[uuid.UUID]*crashBatch // first event id → batch
	resumes []crashResume
	streams map[string]bool
	acks    []int // acknowledged appends per run
}

func (h *crashHistory) handle(t *testing.T, run int, line string) error {
	t.Helper()
	kind, rest, _ := strings.Cut(line, " ")
	f := strings.Fields(rest)
	switch kind {
	case "ADDR":
	case "RESUME":
		if len(f) != 2 {
			return fmt.Errorf("bad line %q", line)
		}
		last, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return fmt.Errorf("bad line %q: %v", line, err)
		}
		h.resumes = append(h.resumes, crashResume{run: run, stream: f[0], last: last})
		h.streams[f[0]] = true
	case "SENT":
		if len(f) != 4 {
			return fmt.Errorf("bad line %q", line)
		}
		first, err1 := strconv.ParseInt(f[1], 10, 64)
		n, err2 := strconv.Atoi(f[2])
		ids, err3 := crashParseIDs(f[3])
		if err := errors.Join(err1, err2, err3); err != nil || n != len(ids) {
			return fmt.Errorf("bad line %q: %v", line, err)
		}
		b := &crashBatch{run: run, stream: f[0], first: first, ids: ids}
		if h.byFirst[ids[0]] != nil {
			return fmt.Errorf("event id %s sent twice", ids[0])
		}
		h.batches = append(h.batches, b)
		h.byFirst[ids[0]] = b
	case "ACK":
		if len(f) != 7 {
			return fmt.Errorf("bad line %q", line)
		}
		ids, err := crashParseIDs(f[6])
		if err != nil {
			return fmt.Errorf("bad line %q: %v", line, err)
		}
		b := h.byFirst[ids[0]]
		if b == nil || b.run != run || b.stream != f[0] || strconv.FormatInt(b.first, 10) != f[1] {
			return fmt.Errorf("ack without a matching SENT line: %q", line)
		}
		commit, err1 := strconv.ParseUint(f[3], 10, 64)
		prepare, err2 := strconv.ParseUint(f[4], 10, 64)
		next, err3 := strconv.ParseUint(f[5], 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return fmt.Errorf("bad line %q: %v", line, err)
		}
		if commit != prepare || commit == 0 {
			t.Errorf("ack of %s: commit %d / prepare %d, want equal and non-zero", b.describe(), commit, prepare)
		}
		if int64(next) != b.last() {
			t.Errorf("ack of %s: next expected version %d, want %d", b.describe(), next, b.last())
		}
		b.acked, b.commit = true, commit
		h.acks[run]++
	case "ERR":
		return fmt.Errorf("child failed: %s", rest)
	default:
		// Anything else on stdout (the testing package's own output) is noise.
	}
	return nil
}

func crashParseIDs(s string) ([]uuid.UUID, error) {
	parts := strings.Split(s, ",")
	ids := make([]uuid.UUID, len(parts))
	for i, p := range parts {
		id, err := uuid.Parse(p)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	return ids, nil
}

func TestCrashConsistency(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("needs SIGKILL and child processes")
	}
	kills := 5
	if testing.Short() {
		kills = 2
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashSeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", crashSeedEnv, s, err)
		}
		seed = v
	}
	t.Logf("seed %d (set %s to replay the same load and kill times)", seed, crashSeedEnv)
	rng := rand.New(rand.NewPCG(seed, 0))

	dir := t.TempDir()
	prefix := uniqueCrashPrefix(rng)
	h := &crashHistory{byFirst: map[uuid.UUID]*crashBatch{}, streams: map[string]bool{}, acks: make([]int, kills)}
	for run := range kills {
		loadFor := time.Duration(150+rng.IntN(451)) * time.Millisecond
		crashRunAndKill(t, run, dir, prefix, rng.Uint64(), loadFor, h)
		if t.Failed() {
			t.FailNow()
		}
	}
	total := 0
	for _, n := range h.acks {
		total += n
	}
	t.Logf("%d kills, %d appends attempted, %d acknowledged (per run %v)", kills, len(h.batches), total, h.acks)
	crashVerify(t, dir, prefix, h)
}

func uniqueCrashPrefix(rng *rand.Rand) string {
	return fmt.Sprintf("crash-t%08x-", rng.Uint32())
}

// crashRunAndKill starts a child on dir, lets its writers run for loadFor
// after their first acknowledged append, kills it with SIGKILL and collects
// everything it reported.
func crashRunAndKill(t *testing.T, run int, dir, prefix string, seed uint64, loadFor time.Duration, h *crashHistory) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(),
		crashChildEnv+"=1",
		crashDirEnv+"="+dir,
		crashPrefixEnv+"="+prefix,
		crashSeedEnv+"="+strconv.FormatUint(seed, 10),
	)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	waited := false
	t.Cleanup(func() {
		if !waited {
			_ = cmd.Process.Kill()
			_ = stdin.Close()
			_ = cmd.Wait()
		}
	})

	lines := make(chan string, 4096)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	handle := func(line string) bool {
		if err := h.handle(t, run, line); err != nil {
			t.Errorf("run %d: %v\nchild stderr:\n%s", run, err, stderr.String())
			return false
		}
		return true
	}
	// Wait for the first acknowledged append: from then on the writers are
	// loaded, and the kill comes after a random stretch of load.
	startup := time.NewTimer(30 * time.Second)
	defer startup.Stop()
	var kill <-chan time.Time
	killed := false
	for !killed {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Errorf("run %d: child exited before it was killed\nchild stderr:\n%s", run, stderr.String())
				killed = true
				break
			}
			if !handle(line) {
				killed = true
				break
			}
			if kill == nil && strings.HasPrefix(line, "ACK ") {
				kill = time.After(loadFor)
			}
		case <-kill:
			killed = true
		case <-startup.C:
			if kill == nil {
				t.Errorf("run %d: no acknowledged append within 30s\nchild stderr:\n%s", run, stderr.String())
				killed = true
			}
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Errorf("run %d: kill child: %v", run, err)
	}
	// Everything the child wrote before it died is still in the pipe.
	for line := range lines {
		if !t.Failed() {
			handle(line)
		}
	}
	_ = stdin.Close()
	err = cmd.Wait()
	waited = true
	if ws, ok := cmd.ProcessState.Sys().(interface{ Signaled() bool }); ok && !ws.Signaled() {
		t.Errorf("run %d: child ended on its own (%v), not by the kill\nchild stderr:\n%s", run, err, stderr.String())
	}
	if s := stderr.String(); strings.Contains(s, "DATA RACE") || strings.Contains(s, "panic:") {
		t.Errorf("run %d: child reported a problem:\n%s", run, s)
	}
	if h.acks[run] == 0 {
		t.Errorf("run %d: no acknowledged append", run)
	}
}

// crashSeen is one event as $all returned it.
type crashSeen struct {
	index    int
	stream   string
	revision uint64
	position uint64
}

// crashVerify opens the data directory in-process and checks it against the
// history.
func crashVerify(t *testing.T, dir, prefix string, h *crashHistory) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := esdbserver.Start(ctx, esdbserver.Config{
		DataDir:    dir,
		ListenAddr: "127.0.0.1:0",
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("reopen data directory after the last kill: %v", err)
	}
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	client := dialClient(t, srv.ConnectionString())
	defer client.Close()

	// $all, forwards from the start: positions strictly increase, ids are
	// unique, and every user event is one the children sent.
	rs, err := client.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Forwards, From: esdb.Start{}}, 1<<40)
	if err != nil {
		t.Fatalf("read $all: %v", err)
	}
	all, err := drain(rs)
	if err != nil {
		t.Fatalf("read $all: %v", err)
	}
	sent := map[uuid.UUID]bool{}
	for _, b := range h.batches {
		for _, id := range b.ids {
			sent[id] = true
		}
	}
	seen := map[uuid.UUID]crashSeen{}
	perStream := map[string]int{}
	var prev uint64
	for i, ev := range all {
		e := ev.Event
		if e.Position.Commit <= prev || e.Position.Commit != e.Position.Prepare {
			t.Fatalf("$all[%d] (%s@%d) at position %d/%d after position %d: positions must strictly increase, commit == prepare",
				i, e.StreamID, e.EventNumber, e.Position.Commit, e.Position.Prepare, prev)
		}
		prev = e.Position.Commit
		if strings.HasPrefix(e.StreamID, "$") {
			continue
		}
		if !strings.HasPrefix(e.StreamID, prefix) || !sent[e.EventID] {
			t.Errorf("$all[%d] is %s@%d (id %s), which no writer sent", i, e.StreamID, e.EventNumber, e.EventID)
			continue
		}
		if _, dup := seen[e.EventID]; dup {
			t.Errorf("event id %s appears twice in $all", e.EventID)
		}
		seen[e.EventID] = crashSeen{index: i, stream: e.StreamID, revision: e.EventNumber, position: e.Position.Commit}
		perStream[e.StreamID]++
	}
	if head := srv.Store().Head(); len(all) > 0 && head != prev {
		t.Errorf("store head is %d, but the last record in $all is at %d", head, prev)
	}

	// Each batch is all there, contiguous in its stream and in $all, or (only
	// when unacknowledged) not there at all.
	present := 0
	lastBefore := map[string]map[int]int64{} // stream → run → last revision of present batches sent in that run
	for _, b := range h.batches {
		n := 0
		for _, id := range b.ids {
			if _, ok := seen[id]; ok {
				n++
			}
		}
		switch {
		case n == 0 && !b.acked:
			continue
		case n == 0:
			t.Errorf("lost acknowledged append: %s", b.describe())
			continue
		case n < len(b.ids):
			t.Errorf("torn batch: %d of %d events of %s are stored", n, len(b.ids), b.describe())
			continue
		}
		present++
		first := seen[b.ids[0]]
		for k, id := range b.ids {
			s := seen[id]
			if s.stream != b.stream || int64(s.revision) != b.first+int64(k) || s.index != first.index+k {
				t.Errorf("%s: event %d (%s) is %s@%d at $all index %d, want %s@%d at $all index %d",
					b.describe(), k, id, s.stream, s.revision, s.index, b.stream, b.first+int64(k), first.index+k)
			}
		}
		if last := seen[b.ids[len(b.ids)-1]]; b.acked && last.position != b.commit {
			t.Errorf("%s: last event is at position %d, but the ack said %d", b.describe(), last.position, b.commit)
		}
		if lastBefore[b.stream] == nil {
			lastBefore[b.stream] = map[int]int64{}
		}
		if l, ok := lastBefore[b.stream][b.run]; !ok || b.last() > l {
			lastBefore[b.stream][b.run] = b.last()
		}
	}

	// A writer that restarts resumes exactly where the stored stream ends:
	// after every append that survived the previous runs.
	for _, r := range h.resumes {
		want := int64(-1)
		for run, l := range lastBefore[r.stream] {
			if run < r.run && l > want {
				want = l
			}
		}
		if r.last != want {
			t.Errorf("run %d resumed %s after revision %d, but the stored appends of earlier runs end at %d", r.run, r.stream, r.last, want)
		}
	}

	// Each stream: revisions contiguous from 0, the same events as in $all,
	// and still writable with an exact expected revision.
	for stream := range h.streams {
		rs, err := client.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Forwards, From: esdb.Start{}}, 1<<40)
		if err != nil {
			t.Fatalf("read %s: %v", stream, err)
		}
		events, err := drain(rs)
		var esErr *esdb.Error
		if errors.As(err, &esErr) && esErr.Code() == esdb.ErrorCodeResourceNotFound {
			events, err = nil, nil
		}
		if err != nil {
			t.Fatalf("read %s: %v", stream, err)
		}
		if len(events) != perStream[stream] {
			t.Errorf("%s has %d events, $all has %d of them", stream, len(events), perStream[stream])
		}
		for i, ev := range events {
			s, ok := seen[ev.Event.EventID]
			if ev.Event.EventNumber != uint64(i) || !ok || s.stream != stream || s.revision != uint64(i) || s.position != ev.Event.Position.Commit {
				t.Errorf("%s[%d]: got revision %d, id %s at position %d; $all has it as %+v (found %v)",
					stream, i, ev.Event.EventNumber, ev.Event.EventID, ev.Event.Position.Commit, s, ok)
				break
			}
		}
		var expected esdb.ExpectedRevision = esdb.NoStream{}
		if len(events) > 0 {
			expected = esdb.Revision(uint64(len(events) - 1))
		}
		res, err := client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expected},
			esdb.EventData{EventID: uuid.New(), EventType: crashEventType, ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)})
		if err != nil {
			t.Errorf("append to %s after recovery: %v", stream, err)
		} else if res.NextExpectedVersion != uint64(len(events)) || res.CommitPosition <= prev {
			t.Errorf("append to %s after recovery: revision %d at %d, want revision %d after position %d",
				stream, res.NextExpectedVersion, res.CommitPosition, len(events), prev)
		}
	}
	if len(h.streams) != crashWriters*crashStreamsPerWriter {
		t.Errorf("writers resumed %d streams, want %d", len(h.streams), crashWriters*crashStreamsPerWriter)
	}
	t.Logf("store holds %d events in %d of %d attempted appends", len(seen), present, len(h.batches))
}
