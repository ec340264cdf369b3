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

	httpAddr   string // "http server listening" addr
	eventStore string // "embedded event store listening" connection_string
	mongoURI   string // "connected to MongoDB" uri (redacted by the portal)
	pprofAddr  string // "pprof listening" addr

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
}

// startChild runs `binary serve` with env added to the harness's own
// environment minus every PORTAL_* variable (a developer's settings must
// not leak into the measured portal), and waits for the HTTP listener.
func startChild(ctx context.Context, binary string, env map[string]string, logTo io.Writer) (*child, error) {
	cmd := exec.Command(binary, "serve")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PORTAL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start portal %s: %w", binary, err)
	}
	c := &child{cmd: cmd, pid: cmd.Process.Pid, logTo: logTo, done: make(chan struct{})}
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
			"http server listening", childStartTimeout, c.logTail())
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	}
}

// readLog drains the child's log until it exits: a full pipe would stall
// the portal. It notes the addresses the start-up lines announce and
// closes ready at the HTTP listener's line, the last of them.
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
		case rec.Msg == "http server listening":
			c.httpAddr = rec.Addr
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
