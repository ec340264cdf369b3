package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/orgportal/onboarding/projections/mail"
)

// Outbox is the Mailer of a portal without a mail server: each mail becomes
// an RFC 5322 .eml file in a folder, named after the mail's stable key, so
// a redelivered mail finds its file and writes no second one. The log names
// the file, never the link (it carries a token).
type Outbox struct {
	dir     string
	from    Sender
	clock   func() time.Time
	logger  *slog.Logger
	dirSync groupSync // the folder's fsync, shared by concurrent Sends
}

// NewOutbox creates dir if needed (owner-only: the files hold live links).
func NewOutbox(dir string, from Sender, clock func() time.Time, logger *slog.Logger) (*Outbox, error) {
	if from.Address == "" {
		return nil, errors.New("smtp: outbox needs a sender address")
	}
	if clock == nil {
		clock = time.Now
	}
	if logger == nil {
		logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("smtp: outbox folder: %w", err)
	}
	return &Outbox{dir: dir, from: from, clock: clock, logger: logger}, nil
}

// Dir is the outbox folder.
func (o *Outbox) Dir() string { return o.dir }

// FileName is the file a mail with this key is written to.
func FileName(key string) string {
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, key)
	return strings.TrimLeft(clean, ".") + ".eml"
}

// Send writes the mail atomically: into a temporary file in the same
// folder, synced, then renamed to its final name.
func (o *Outbox) Send(ctx context.Context, m mail.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.Key == "" {
		return mail.Permanent(errors.New("outbox: mail without a key"))
	}
	name := FileName(m.Key)
	final := filepath.Join(o.dir, name)
	if _, err := os.Stat(final); err == nil {
		o.logger.Info("mail already in outbox", "file", name)
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("outbox: %w", err)
	}
	msg, err := buildMsg(o.from, m, o.clock())
	if err != nil {
		return err
	}
	// One write of the whole message: the message writer makes many
	// small ones.
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return fmt.Errorf("outbox: render: %w", err)
	}
	tmp, err := os.CreateTemp(o.dir, ".tmp-*.eml")
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	renamed := false
	defer func() {
		if !renamed {
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("outbox: write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("outbox: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("outbox: close: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	renamed = true
	o.dirSync.do(func() { syncDir(o.dir) })
	o.logger.Info("mail written to outbox", "file", name)
	return nil
}

// syncDir makes the rename durable where the platform allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// groupSync shares one run of a sync among the callers that ask for it
// at about the same time (group commit): a caller is done once a run that
// began after it asked has ended, so what it wrote before asking is
// covered, and while one run is going the callers that come meanwhile
// wait and share the next one. Concurrent Sends then cost one fsync of
// the folder between them instead of one each.
type groupSync struct {
	mu      sync.Mutex
	cond    *sync.Cond
	running bool
	started uint64 // runs begun
	ended   uint64 // the last run that has ended
}

func (g *groupSync) do(run func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cond == nil {
		g.cond = sync.NewCond(&g.mu)
	}
	want := g.started + 1 // the next run to begin; one going now began too early
	for g.ended < want {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		this := g.started
		g.mu.Unlock()
		run()
		g.mu.Lock()
		g.running = false
		g.ended = this
		g.cond.Broadcast()
	}
}
