package main

// End-to-end tests: they build the portal binary and run it as a child
// process, the way an operator does. Skipped with -short.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/orgportal/onboarding/adapters/smtp/smtptest"
)

const (
	startTimeout = 30 * time.Second
	stopTimeout  = 20 * time.Second
)

var buildOnce struct {
	sync.Once
	dir  string
	path string
	err  error
}

// portalBinary builds ./cmd/portal once per test run.
func portalBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: builds and runs the binary; skipped with -short")
	}
	buildOnce.Do(func() {
		buildOnce.dir, buildOnce.err = os.MkdirTemp("", "portal-e2e-")
		if buildOnce.err != nil {
			return
		}
		buildOnce.path = filepath.Join(buildOnce.dir, "portal")
		out, err := exec.Command("go", "build", "-o", buildOnce.path, ".").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildOnce.dir != "" {
		_ = os.RemoveAll(buildOnce.dir)
	}
	os.Exit(code)
}

// child is a running portal process whose log lines the test reads.
type child struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines chan string
	mu    sync.Mutex
	log   []string // every line so far, for failure messages
	done  chan struct{}
	err   error // from Wait, once done is closed

	stdout smtptest.LockedBuffer // what the portal printed on stdout
}

// startPortal runs the binary with args and an environment holding only the
// given PORTAL_* variables (the test's own are dropped).
func startPortal(t *testing.T, env map[string]string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(portalBinary(t), args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PORTAL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, cmd: cmd, lines: make(chan string, 1000), done: make(chan struct{})}
	cmd.Stdout = &c.stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			c.mu.Lock()
			c.log = append(c.log, sc.Text())
			c.mu.Unlock()
			select {
			case c.lines <- sc.Text():
			default: // nobody reads any more; the line is still in c.log
			}
		}
		close(c.lines)
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = cmd.Process.Kill()
			<-c.done
		}
		if t.Failed() {
			t.Logf("portal %s log:\n%s", strings.Join(args, " "), c.output())
		}
	})
	return c
}

func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.log, "\n")
}

// nextLine returns the next log line, failing the test if none comes in time
// or the process exits first.
func (c *child) nextLine(timeout time.Duration) string {
	c.t.Helper()
	select {
	case line, ok := <-c.lines:
		if !ok {
			<-c.done
			c.t.Fatalf("portal exited (%v) before logging the expected line", c.err)
		}
		return line
	case <-time.After(timeout):
		c.t.Fatalf("no log line within %v", timeout)
	}
	return ""
}

// waitLine returns the first line for which match is true.
func (c *child) waitLine(timeout time.Duration, match func(string) bool) string {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		line := c.nextLine(time.Until(deadline))
		if match(line) {
			return line
		}
	}
}

// stop sends SIGTERM and returns the exit error (nil for exit code 0).
func (c *child) stop() error {
	c.t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		c.t.Fatalf("SIGTERM: %v", err)
	}
	return c.wait(stopTimeout)
}

func (c *child) wait(timeout time.Duration) error {
	c.t.Helper()
	select {
	case <-c.done:
		return c.err
	case <-time.After(timeout):
		c.t.Fatalf("portal still running %v after SIGTERM", timeout)
	}
	return nil
}

var connectionStringAttr = regexp.MustCompile(`connection_string="?([^"\s]+)"?`)

func TestE2EEventStoreCommand(t *testing.T) {
	data := filepath.Join(t.TempDir(), "es")
	p := startPortal(t, nil, "eventstore", "--listen", "127.0.0.1:0", "--data", data)

	first := p.nextLine(startTimeout)
	if !strings.Contains(first, "event store listening") {
		t.Fatalf("first log line does not announce the listener: %q", first)
	}
	m := connectionStringAttr.FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("first log line has no connection_string: %q", first)
	}
	connStr := m[1]
	if !strings.HasPrefix(connStr, "esdb://127.0.0.1:") || strings.HasSuffix(connStr, ":0?tls=false") {
		t.Errorf("connection string %q should name the bound loopback port", connStr)
	}
	if !strings.Contains(first, "data="+data) {
		t.Errorf("first log line does not name the data directory %s: %q", data, first)
	}

	appendAndRead(t, connStr)

	if err := p.stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want code 0", err)
	}
}

func TestE2EEventStoreRefusesNonLoopback(t *testing.T) {
	p := startPortal(t, nil, "eventstore", "--listen", "0.0.0.0:0", "--data", t.TempDir())
	err := p.wait(startTimeout)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("exit = %v, want a non-zero exit code", err)
	}
	if out := p.output(); !strings.Contains(out, "loopback") {
		t.Errorf("the error does not explain the loopback rule:\n%s", out)
	}
}

func TestE2EEventStoreNonLoopbackAllowedWarns(t *testing.T) {
	p := startPortal(t, nil, "eventstore", "--listen", "0.0.0.0:0", "--data", t.TempDir(), "--allow-non-loopback")
	if first := p.nextLine(startTimeout); !strings.Contains(first, "event store listening") {
		t.Fatalf("first line: %q", first)
	}
	p.waitLine(startTimeout, func(l string) bool { return strings.Contains(l, "no authentication") })
	if err := p.stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// appendAndRead appends one event with the official client and reads it back.
func appendAndRead(t *testing.T, connStr string) {
	t.Helper()
	conf, err := esdb.ParseConnectionString(connStr)
	if err != nil {
		t.Fatalf("ParseConnectionString(%q): %v", connStr, err)
	}
	client, err := esdb.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	stream := "e2e-" + uuid.NewString()
	id := uuid.New()
	payload := []byte(`{"email":"ada@example.org"}`)
	_, err = client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}},
		esdb.EventData{EventID: id, EventType: "E2EChecked", ContentType: esdb.ContentTypeJson, Data: payload})
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	rs, err := client.ReadStream(ctx, stream, esdb.ReadStreamOptions{From: esdb.Start{}}, 10)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	defer rs.Close()
	var got []*esdb.RecordedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		got = append(got, ev.Event)
	}
	if len(got) != 1 {
		t.Fatalf("read %d events, want 1", len(got))
	}
	if got[0].EventID != id || got[0].EventType != "E2EChecked" || string(got[0].Data) != string(payload) {
		t.Errorf("read back %s %s %s", got[0].EventID, got[0].EventType, got[0].Data)
	}
}

// httpAddrFromJSONLog waits for the "http server listening" line.
func httpAddrFromJSONLog(t *testing.T, p *child) string {
	t.Helper()
	var addr string
	p.waitLine(startTimeout, func(line string) bool {
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil {
			return false // e.g. a library writing to stderr on its own
		}
		addr = rec.Addr
		return rec.Msg == "http server listening"
	})
	return addr
}

// pollReadyz polls /readyz until it answers want (or the deadline passes).
func pollReadyz(t *testing.T, base string, want int) map[string]any {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			var body map[string]any
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			_ = json.Unmarshal(raw, &body)
			if resp.StatusCode == want {
				return body
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, raw)
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("/readyz did not answer %d within %v; last: %s", want, startTimeout, last)
	return nil
}

func TestE2EServeEmbedded(t *testing.T) {
	data := t.TempDir()
	p := startPortal(t, map[string]string{
		"PORTAL_HTTP_ADDR":  "127.0.0.1:0",
		"PORTAL_DATA_DIR":   data,
		"PORTAL_LOG_FORMAT": "json",
	})
	base := "http://" + httpAddrFromJSONLog(t, p)

	pollReadyz(t, base, http.StatusOK)
	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	if _, err := os.Stat(filepath.Join(data, "eventstore")); err != nil {
		t.Errorf("embedded event store data not under PORTAL_DATA_DIR/eventstore: %v", err)
	}

	out, err := exec.Command(portalBinary(t), "healthcheck", "--url", base+"/readyz").CombinedOutput()
	if err != nil {
		t.Errorf("portal healthcheck: %v\n%s", err, out)
	}

	if err := p.stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want code 0", err)
	}
}

func TestE2EServeEventStoreDown(t *testing.T) {
	// Nothing listens on port 1: the portal must serve and report not ready.
	p := startPortal(t, map[string]string{
		"PORTAL_HTTP_ADDR":      "127.0.0.1:0",
		"PORTAL_DATA_DIR":       t.TempDir(),
		"PORTAL_LOG_FORMAT":     "json",
		"PORTAL_EVENTSTORE_URL": "esdb://127.0.0.1:1?tls=false&maxDiscoverAttempts=1",
	})
	base := "http://" + httpAddrFromJSONLog(t, p)

	body := pollReadyz(t, base, http.StatusServiceUnavailable)
	if failing, _ := body["failing"].([]any); len(failing) != 1 || failing[0] != "eventstore" {
		t.Errorf("503 body does not name the event store: %v", body)
	}
	cmd := exec.Command(portalBinary(t), "healthcheck", "--url", base+"/readyz")
	if err := cmd.Run(); err == nil {
		t.Error("portal healthcheck exited 0 for an unready portal")
	}

	if err := p.stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want code 0", err)
	}
}
