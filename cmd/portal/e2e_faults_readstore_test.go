package main

// A read-model database the tests can take away: the embedded FerretDB
// (adapters/mongodb, the same server `portal serve` runs in process) in a
// process of its own, so that it can be killed and started again on the
// same port and data while the portal keeps running. The process is this
// test binary, run for TestFaultsFerretDBProcess only.

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/adapters/smtp/smtptest"
)

// The child's settings: its data directory and listen address.
const (
	envFerretDir    = "PORTAL_FAULTS_FERRETDB_DIR"
	envFerretListen = "PORTAL_FAULTS_FERRETDB_LISTEN"
)

// TestFaultsFerretDBProcess is not a test: it is the read-model database
// process of TestE2EReadStoreOutage, which starts this binary with the
// settings above. It serves until it is killed or gets SIGTERM.
func TestFaultsFerretDBProcess(t *testing.T) {
	dir := os.Getenv(envFerretDir)
	if dir == "" {
		t.Skip("the read-model database process of TestE2EReadStoreOutage; runs only as its child")
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e, err := mongodb.StartEmbedded(mongodb.EmbeddedConfig{Dir: dir, Listen: os.Getenv(envFerretListen), Logger: logger})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start FerretDB:", err)
		os.Exit(1)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	fmt.Println("ferretdb listening", e.URI())
	<-stop
	_ = e.Close()
	os.Exit(0)
}

// ferretProcess is the read-model database child of a test.
type ferretProcess struct {
	t           *testing.T
	dir, listen string
	cmd         *exec.Cmd
	done        chan struct{}
	out         smtptest.LockedBuffer // its stderr
}

// startFerretProcess starts FerretDB on listen with its data in dir, and
// kills it when the test ends.
func startFerretProcess(t *testing.T, dir, listen string) *ferretProcess {
	t.Helper()
	f := &ferretProcess{t: t, dir: dir, listen: listen}
	t.Cleanup(func() {
		f.kill()
		if t.Failed() {
			t.Logf("read-model database process output:\n%s", f.out.String())
		}
	})
	f.start()
	return f
}

// start starts the process (again) and waits until it listens.
func (f *ferretProcess) start() {
	f.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFaultsFerretDBProcess$")
	cmd.Env = append(os.Environ(), envFerretDir+"="+f.dir, envFerretListen+"="+f.listen)
	cmd.Stderr = &f.out
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.cmd, f.done = cmd, make(chan struct{})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		listening := false
		for sc.Scan() {
			if !listening && strings.HasPrefix(sc.Text(), "ferretdb listening") {
				listening = true
				ready <- true
			}
		}
		if !listening {
			ready <- false
		}
		_ = cmd.Wait()
		close(f.done)
	}()
	select {
	case ok := <-ready:
		if !ok {
			f.t.Fatalf("the read-model database process exited at start:\n%s", f.out.String())
		}
	case <-time.After(startTimeout):
		f.t.Fatalf("the read-model database process did not listen within %v:\n%s", startTimeout, f.out.String())
	}
}

// kill ends the process with SIGKILL, as a crash or a lost machine would,
// and waits for it.
func (f *ferretProcess) kill() {
	if f.cmd == nil {
		return
	}
	_ = f.cmd.Process.Kill()
	<-f.done
	f.cmd = nil
}
