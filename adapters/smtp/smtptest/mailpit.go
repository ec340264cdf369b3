package smtptest

import (
	"encoding/json"
	"fmt"
	"go/build"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/porttest"
)

// MailpitVersion is the Mailpit that .ci/run installs and the skip message
// names.
const MailpitVersion = "v1.33.1"

// RequireMailpitEnv, set to 1, turns a missing Mailpit from a skip into a
// failure (CI sets it).
const RequireMailpitEnv = "PORTAL_REQUIRE_MAILPIT"

// MailpitConfig configures StartMailpit.
type MailpitConfig struct {
	// AllowedRecipients is a regular expression: Mailpit answers RCPT TO
	// of any other address with 550, the permanent rejection a test of
	// failed delivery needs. Empty: every recipient is accepted.
	AllowedRecipients string
}

// Mailpit is a real SMTP server (github.com/axllent/mailpit) run as a child
// process for one test and read back through its HTTP API. Stop and Start
// simulate an outage: the server comes back on the same ports with the
// same database, so the mails received before are still counted. Its
// methods are for the test's goroutine.
type Mailpit struct {
	t        testing.TB
	bin      string
	args     []string
	smtpPort int
	api      string
	client   *http.Client
	log      LockedBuffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// mailpitStartTimeout bounds the wait for Mailpit to accept connections.
const mailpitStartTimeout = 20 * time.Second

// StartMailpit starts Mailpit on free loopback ports with a database of
// its own, and stops it when the test ends. Without a Mailpit binary (on
// PATH or in $GOPATH/bin) the test is skipped, or fails when
// PORTAL_REQUIRE_MAILPIT=1.
func StartMailpit(t testing.TB, cfg MailpitConfig) *Mailpit {
	t.Helper()
	httpPort, smtpPort := porttest.FreeLoopbackPort(t), porttest.FreeLoopbackPort(t)
	m := &Mailpit{
		t: t, bin: mailpitBinary(t), smtpPort: smtpPort,
		api:    fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		client: &http.Client{Timeout: 10 * time.Second},
	}
	m.args = []string{"--quiet",
		"--listen", fmt.Sprintf("127.0.0.1:%d", httpPort),
		"--smtp", fmt.Sprintf("127.0.0.1:%d", smtpPort),
		"--database", filepath.Join(t.TempDir(), "mailpit.db"),
		"--max", "0", // keep every message: the tests count them all
		"--smtp-disable-rdns", "--disable-version-check",
	}
	if cfg.AllowedRecipients != "" {
		m.args = append(m.args, "--smtp-allowed-recipients", cfg.AllowedRecipients)
	}
	t.Cleanup(func() {
		m.stop(syscall.SIGKILL)
		if t.Failed() {
			if out := m.log.String(); out != "" {
				t.Logf("mailpit output:\n%s", out)
			}
		}
	})
	m.Start()
	return m
}

func mailpitBinary(t testing.TB) string {
	t.Helper()
	if bin, err := exec.LookPath("mailpit"); err == nil {
		return bin
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		gopath = build.Default.GOPATH
	}
	bin := filepath.Join(filepath.SplitList(gopath)[0], "bin", "mailpit")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv(RequireMailpitEnv) == "1" {
			t.Fatalf("mailpit not found on PATH or in %s (%s=1): %v", filepath.Dir(bin), RequireMailpitEnv, err)
		}
		t.Skipf("mailpit not installed (go install github.com/axllent/mailpit@%s); set %s=1 to fail instead", MailpitVersion, RequireMailpitEnv)
	}
	return bin
}

// SMTPURL is the PORTAL_SMTP_URL of this server.
func (m *Mailpit) SMTPURL() string { return fmt.Sprintf("smtp://127.0.0.1:%d", m.smtpPort) }

// SMTPPort is the port Mailpit receives mail on, the same after a restart.
func (m *Mailpit) SMTPPort() int { return m.smtpPort }

// API is the base URL of Mailpit's HTTP API.
func (m *Mailpit) API() string { return m.api }

// Start starts the server (again) and waits until both its HTTP API and
// its SMTP port answer.
func (m *Mailpit) Start() {
	m.t.Helper()
	m.mu.Lock()
	if m.cmd != nil {
		m.mu.Unlock()
		m.t.Fatal("mailpit is running already")
	}
	cmd := exec.Command(m.bin, m.args...)
	cmd.Stdout, cmd.Stderr = &m.log, &m.log
	if err := cmd.Start(); err != nil {
		m.mu.Unlock()
		m.t.Fatalf("start mailpit: %v", err)
	}
	done := make(chan struct{})
	m.cmd, m.done = cmd, done
	m.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		close(done)
	}()

	deadline := time.Now().Add(mailpitStartTimeout)
	for {
		select {
		case <-done:
			m.t.Fatalf("mailpit exited at start:\n%s", m.log.String())
		default:
		}
		if m.ready() {
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mailpit not ready within %v:\n%s", mailpitStartTimeout, m.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (m *Mailpit) ready() bool {
	resp, err := m.client.Get(m.api + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", m.smtpPort), time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// Stop ends the server (SIGTERM, as an operator would) and waits until it
// has exited: from then on, mail to SMTPPort is refused.
func (m *Mailpit) Stop() {
	m.t.Helper()
	if !m.stop(syscall.SIGTERM) {
		m.t.Fatal("mailpit is not running")
	}
}

func (m *Mailpit) stop(sig syscall.Signal) (wasRunning bool) {
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.cmd, m.done = nil, nil
	m.mu.Unlock()
	if cmd == nil {
		return false
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	return true
}

// MailpitAddress is a sender or recipient in Mailpit's API.
type MailpitAddress struct {
	Name    string
	Address string
}

// MailpitMessage is the summary Mailpit lists for each received mail.
type MailpitMessage struct {
	ID        string // Mailpit's own id, for Mail
	MessageID string // the Message-ID header, without angle brackets
	From      MailpitAddress
	To        []MailpitAddress
	Subject   string
	Created   time.Time
}

// Recipient is the message's only recipient (the portal sends each mail to
// one address), in lower case; empty when there is not exactly one.
func (mm MailpitMessage) Recipient() string {
	if len(mm.To) != 1 {
		return ""
	}
	return strings.ToLower(mm.To[0].Address)
}

// Messages returns every mail received so far, newest first.
func (m *Mailpit) Messages(t testing.TB) []MailpitMessage {
	t.Helper()
	var list struct {
		Messages []MailpitMessage `json:"messages"`
	}
	m.getJSON(t, "/api/v1/messages?limit=0", &list) // 0: no limit
	return list.Messages
}

// Count returns how many mails were received so far (cheaper than
// Messages).
func (m *Mailpit) Count(t testing.TB) int {
	t.Helper()
	var list struct {
		Total int `json:"messages_count"`
	}
	m.getJSON(t, "/api/v1/messages?limit=1", &list)
	return list.Total
}

// Mail fetches one received mail as sent and parses it like ReadFile: both
// parts must be there.
func (m *Mailpit) Mail(t testing.TB, id string) Mail {
	t.Helper()
	raw := m.get(t, "/api/v1/message/"+id+"/raw")
	return Parse(t, "mailpit message "+id, raw)
}

// WaitMessages polls the received mails until done accepts them, and fails
// the test when that takes longer than timeout; what says in the failure
// message what was awaited.
func (m *Mailpit) WaitMessages(t testing.TB, timeout time.Duration, what string, done func([]MailpitMessage) bool) []MailpitMessage {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs := m.Messages(t)
		if done(msgs) {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit: %s: not within %v; received %d mails: %s", what, timeout, len(msgs), Summarize(msgs))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ByRecipient counts the received mails per recipient (lower case).
func ByRecipient(msgs []MailpitMessage) map[string]int {
	n := make(map[string]int, len(msgs))
	for _, mm := range msgs {
		n[mm.Recipient()]++
	}
	return n
}

// Summarize lists recipients and Message-IDs, for failure messages (at
// most 20 of them).
func Summarize(msgs []MailpitMessage) string {
	var b strings.Builder
	for i, mm := range msgs {
		if i == 20 {
			fmt.Fprintf(&b, " … and %d more", len(msgs)-i)
			break
		}
		fmt.Fprintf(&b, "\n  %s <%s>", mm.Recipient(), mm.MessageID)
	}
	return b.String()
}

func (m *Mailpit) getJSON(t testing.TB, path string, into any) {
	t.Helper()
	if err := json.Unmarshal(m.get(t, path), into); err != nil {
		t.Fatalf("mailpit GET %s: %v", path, err)
	}
}

func (m *Mailpit) get(t testing.TB, path string) []byte {
	t.Helper()
	resp, err := m.client.Get(m.api + path)
	if err != nil {
		t.Fatalf("mailpit GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("mailpit GET %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mailpit GET %s: %s %s", path, resp.Status, body)
	}
	return body
}

// LockedBuffer collects a child process's output from its copying
// goroutines; the end-to-end tests of cmd/portal use it too.
type LockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
