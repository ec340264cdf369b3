package smtp_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/smtp"
	"github.com/orgportal/onboarding/adapters/smtp/smtptest"
	"github.com/orgportal/onboarding/projections/mail"
)

var sender = smtp.Sender{Address: "portal@example.test", Name: "Org Portal"}

func sample(to, key string) mail.Message {
	return mail.Message{
		Key: key, MessageID: key + "@portal.example.test", To: to, ToName: "Ann <Example>",
		Subject: "You are invited to join Acme",
		Text:    "Accept: https://portal.example.test/invite/SECRET-TOKEN\n",
		HTML:    `<p><a href="https://portal.example.test/invite/SECRET-TOKEN">Accept</a></p>`,
	}
}

func TestOutboxWritesOneFileAndLogsOnlyItsName(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	dir := filepath.Join(t.TempDir(), "outbox")
	ob, err := smtp.NewOutbox(dir, sender, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	msg := sample("ann@example.test", "invitation-abc-g1")
	for range 2 {
		if err := ob.Send(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "invitation-abc-g1.eml" {
		t.Fatalf("outbox holds %v, want invitation-abc-g1.eml only", entries)
	}
	raw, err := os.ReadFile(filepath.Join(dir, entries[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Message-ID: <invitation-abc-g1@portal.example.test>", "multipart/alternative", "text/plain", "text/html"} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf(".eml lacks %q", want)
		}
	}
	if strings.Contains(logs.String(), "SECRET-TOKEN") || !strings.Contains(logs.String(), "invitation-abc-g1.eml") {
		t.Errorf("log must name the file and never the link:\n%s", logs.String())
	}
}

func TestURLValidation(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"http://mail.test", "smtp://", "smtp://mail.test?starttls=maybe", "smtp://mail.test:99999", "smtp://mail.test?timeout=-1s"} {
		if _, err := smtp.New(smtp.Config{URL: bad, From: sender}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, good := range []string{"smtp://mail.test", "smtp://u:p@mail.test:587?starttls=required", "smtps://mail.test", "smtp://mail.test:1025?starttls=none&timeout=3s"} {
		if _, err := smtp.New(smtp.Config{URL: good, From: sender}); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
	if _, err := smtp.New(smtp.Config{URL: "smtp://u:hunter2@[bad", From: sender}); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("bad URL error %v must exist and not show the password", err)
	}
}

func TestUnreachableServerIsTransient(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	m, err := smtp.New(smtp.Config{URL: fmt.Sprintf("smtp://127.0.0.1:%d?timeout=2s", port), From: sender})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(context.Background(), sample("ann@example.test", "k"))
	if err == nil || mail.IsPermanent(err) {
		t.Fatalf("unreachable server: %v, want a transient error", err)
	}
}

// TestMailpit sends through a real SMTP server and reads the mail back
// through Mailpit's HTTP API.
func TestMailpit(t *testing.T) {
	t.Parallel()
	mp := smtptest.StartMailpit(t, smtptest.MailpitConfig{AllowedRecipients: `@example\.test$`})
	m, err := smtp.New(smtp.Config{URL: mp.SMTPURL(), From: sender, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := m.Send(ctx, sample("ann@example.test", "invitation-xyz-g1")); err != nil {
		t.Fatal(err)
	}
	list := mp.Messages(t)
	if len(list) != 1 || list[0].MessageID != "invitation-xyz-g1@portal.example.test" {
		t.Fatalf("mailpit holds %s", smtptest.Summarize(list))
	}
	got := list[0]
	if got.From.Address != sender.Address || got.From.Name != sender.Name || got.Subject != "You are invited to join Acme" {
		t.Errorf("headers: %+v", got)
	}
	full := mp.Mail(t, got.ID)
	if !strings.Contains(full.Text, "/invite/SECRET-TOKEN") || !strings.Contains(full.HTML, `href="https://portal.example.test/invite/SECRET-TOKEN"`) {
		t.Errorf("parts: text %q html %q", full.Text, full.HTML)
	}

	// A recipient the server refuses with 5xx: permanent.
	err = m.Send(ctx, sample("ann@elsewhere.invalid", "invitation-rej-g1"))
	if err == nil || !mail.IsPermanent(err) {
		t.Fatalf("rejected recipient: %v, want a permanent error", err)
	}
	if n := mp.Count(t); n != 1 {
		t.Errorf("mailpit holds %d mails after the rejection, want 1", n)
	}
}

// TestMailpitOutageIsTransient: while the server is down a send fails
// transiently; the same mail goes through once it is back.
func TestMailpitOutageIsTransient(t *testing.T) {
	t.Parallel()
	mp := smtptest.StartMailpit(t, smtptest.MailpitConfig{})
	m, err := smtp.New(smtp.Config{URL: mp.SMTPURL(), From: sender, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	mp.Stop()
	msg := sample("ann@example.test", "invitation-down-g1")
	if err := m.Send(context.Background(), msg); err == nil || mail.IsPermanent(err) {
		t.Fatalf("server down: %v, want a transient error", err)
	}
	mp.Start()
	if err := m.Send(context.Background(), msg); err != nil {
		t.Fatalf("server back: %v", err)
	}
	if list := mp.Messages(t); len(list) != 1 || list[0].MessageID != msg.MessageID {
		t.Fatalf("mailpit holds %s, want the one mail", smtptest.Summarize(list))
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
