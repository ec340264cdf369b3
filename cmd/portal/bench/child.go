package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	childStartTimeout = 90 * time.Second // a loaded 2-core machine: FerretDB, argon2 warm-up, bootstrap
	childStopTimeout  = 20 * time.Second
	childLogTail      = 40
)

// child is the portal running as a child process, and what its log told
// about it. The harness never prints the child's stdout: with a generated
// bootstrap password that is where the password would go.
type child struct {
	cmd *exec.Cmd
	pid int
	// readyMsg is the log message after which the child serves.
	readyMsg string

	httpAddr   string // "http server listening" addr
	eventStore string // "embedded event store listening" connection_string
	mongoURI   string // "connected to MongoDB" uri (redacted by the portal)
	pprofAddr  string // "pprof listening" addr
	mongoURL   string // `portal mongo`'s "read-model database listening" url

	mu   sync.Mutex
	tail []string // last lines of the log, for error messages
	// logTo, when not nil, receives every line of the log (--child-log).
	logTo io.Writer

	done    chan struct{}
	waitErr error
}

// childLine is the part of a JSON log record the harness reads.
type childLine struct {
	Msg              string `json:"msg"`
	Level            string `json:"level"`
	Component        string `json:"component"`
	Addr             string `json:"addr"`
	ConnectionString string `json:"connection_string"`
	URI              string `json:"uri"`
	URL              string `json:"url"`
}

// Log messages after which a child serves.
const (
	readyServe = "http server listening"         // `portal serve`
	readyMongo = "read-model database listening" // `portal mongo`
)

// childSpec says how to run a child.
type childSpec struct {
	binary string
	args   []string          // "serve", or "mongo" and its flags
	ready  string            // readyServe or readyMongo
	env    map[string]string // PORTAL_* variables
	logTo  io.Writer         // nil: only the last lines are kept
	// nice, when above 0, is the child's nice value from its first
	// instruction on (every thread it starts inherits it).
	nice int
	// cpus, when not empty, are the only CPUs the child may run on, from
	// its first instruction on, like nice.
	cpus []int
}

// startProcess runs spec's child with spec.env added to the harness's
// own environment minus every PORTAL_* variable (a developer's settings
// must not leak into the measured portal), and waits for its ready line.
func startProcess(ctx context.Context, spec childSpec) (*child, error) {
	cmd := exec.Command(spec.binary, spec.args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PORTAL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range spec.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := startLimited(cmd, spec.nice, spec.cpus); err != nil {
		return nil, fmt.Errorf("start portal %s %s: %w", spec.binary, spec.args[0], err)
	}
	c := &child{cmd: cmd, pid: cmd.Process.Pid, readyMsg: spec.ready, logTo: spec.logTo, done: make(chan struct{})}
	ready := make(chan struct{})
	go c.readLog(stderr, ready)

	timer := time.NewTimer(childStartTimeout)
	defer timer.Stop()
	select {
	case <-ready:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("the portal exited before serving (%v); its last log lines:\n%s", c.waitErr, c.logTail())
	case <-timer.C:
		c.stop()
		return nil, fmt.Errorf("the portal did not log %q within %v; its last log lines:\n%s",
			spec.ready, childStartTimeout, c.logTail())
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	}
}

// startLimited starts cmd with the nice value given (none when 0) and
// confined to cpus (any when empty). Linux keeps both per thread and a new
// thread or process inherits its creator's, so the child is forked from a
// thread of its own that takes them first; that thread ends with the
// goroutine, since it stays locked to it (were it the main thread, the
// runtime parks it for good instead: it runs no goroutine again).
func startLimited(cmd *exec.Cmd, nice int, cpus []int) error {
	if nice == 0 && len(cpus) == 0 {
		return cmd.Start()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if nice != 0 {
			if err := syscall.Setpriority(syscall.PRIO_PROCESS, 0, nice); err != nil {
				errc <- fmt.Errorf("nice %d: %w", nice, err)
				return
			}
		}
		if len(cpus) > 0 {
			if err := confineThread(cpus); err != nil {
				errc <- fmt.Errorf("CPUs %v: %w", cpus, err)
				return
			}
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

// readLog drains the child's log until it exits: a full pipe would stall
// the portal. It notes the addresses the start-up lines announce and
// closes ready at the child's ready line, the last of them.
func (c *child) readLog(r io.Reader, ready chan struct{}) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	announced := false
	for sc.Scan() {
		line := sc.Text()
		if c.logTo != nil {
			_, _ = io.WriteString(c.logTo, line+"\n") // a full disk must not stall the portal
		}
		c.mu.Lock()
		c.tail = append(c.tail, line)
		if len(c.tail) > childLogTail {
			c.tail = c.tail[len(c.tail)-childLogTail:]
		}
		c.mu.Unlock()
		if announced {
			continue
		}
		var rec childLine
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue // a library writing to stderr on its own
		}
		c.mu.Lock()
		switch {
		case rec.Msg == "embedded event store listening" && c.eventStore == "":
			c.eventStore = rec.ConnectionString
		case rec.Msg == "connected to MongoDB" && c.mongoURI == "":
			c.mongoURI = rec.URI
		case rec.Msg == "pprof listening" && c.pprofAddr == "":
			c.pprofAddr = rec.Addr
		case rec.Msg == readyMongo && c.mongoURL == "":
			c.mongoURL = rec.URL
		}
		if rec.Msg == readyServe && c.httpAddr == "" {
			c.httpAddr = rec.Addr
		}
		if rec.Msg == c.readyMsg {
			announced = true
			close(ready)
		}
		c.mu.Unlock()
	}
	c.waitErr = c.cmd.Wait()
	close(c.done)
}

func (c *child) logTail() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.tail, "\n")
}

// errorLines returns the error-level lines among the last ones of the log.
func (c *child) errorLines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, line := range c.tail {
		var rec childLine
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Level == "ERROR" {
			out = append(out, line)
		}
	}
	return out
}

// exited reports whether the child is gone, and why.
func (c *child) exited() (bool, error) {
	select {
	case <-c.done:
		return true, c.waitErr
	default:
		return false, nil
	}
}

// stop asks the portal to shut down (SIGTERM) and kills it if it has not
// within childStopTimeout. It returns the exit error of a graceful stop.
func (c *child) stop() error {
	if gone, err := c.exited(); gone {
		return err
	}
	c.signal(syscall.SIGCONT) // a paused child would not act on SIGTERM
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		_ = c.cmd.Process.Kill()
	}
	select {
	case <-c.done:
		return c.waitErr
	case <-time.After(childStopTimeout):
		_ = c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("the portal did not stop within %v of SIGTERM and was killed", childStopTimeout)
	}
}

// signal sends sig to the child unless it is gone.
func (c *child) signal(sig syscall.Signal) {
	if gone, _ := c.exited(); !gone {
		_ = c.cmd.Process.Signal(sig) // it may have exited since: nothing to do then
	}
}
