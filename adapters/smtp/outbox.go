package smtp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/orgportal/onboarding/projections/mail"
)

// Outbox is the Mailer of a portal without a mail server: each mail becomes
// an RFC 5322 .eml file in a folder, named after the mail's stable key, so
// a redelivered mail finds its file and writes no second one. The log names
// the file, never the link (it carries a token).
type Outbox struct {
	dir    string
	from   Sender
	clock  func() time.Time
	logger *slog.Logger
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
	tmp, err := os.CreateTemp(o.dir, ".tmp-*.eml")
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := msg.WriteTo(tmp); err != nil {
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
	syncDir(o.dir)
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
