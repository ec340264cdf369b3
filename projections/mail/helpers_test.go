package mail_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orgportal/onboarding/adapters/esdbserver"
	"github.com/orgportal/onboarding/adapters/eventstoredb"
	"github.com/orgportal/onboarding/adapters/smtp"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/commands/commandstest"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/mail"
)

const publicURL = "https://portal.example.test"

// hostileName is the inviter's name: the HTML part must show it, not run it.
const hostileName = `<script>alert("x")</script> Mallory`

// countingMailer counts the sends that reached the real mailer, and fails
// the first failTransient ones (transient) or every one (permanent).
type countingMailer struct {
	next          mail.Mailer
	mu            sync.Mutex
	attempts      int
	delivered     int
	failTransient int
	permanent     error
}

func (m *countingMailer) Send(ctx context.Context, msg mail.Message) error {
	m.mu.Lock()
	m.attempts++
	if m.permanent != nil {
		m.mu.Unlock()
		return mail.Permanent(m.permanent)
	}
	if m.failTransient > 0 {
		m.failTransient--
		m.mu.Unlock()
		return errors.New("421 4.3.2 try again later")
	}
	m.mu.Unlock()
	if err := m.next.Send(ctx, msg); err != nil {
		return err
	}
	m.mu.Lock()
	m.delivered++
	m.mu.Unlock()
	return nil
}

func (m *countingMailer) counts() (attempts, delivered int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.attempts, m.delivered
}

// fixture is one test's own event store, token keys, outbox and reactor.
type fixture struct {
	t       *testing.T
	ctx     context.Context
	conn    *eventstoredb.Conn
	codec   *eventstoredb.Codec
	store   *eventstoredb.Store
	clock   *commandstest.Clock
	signers commands.TokenService
	outbox  *smtp.Outbox
	mailer  *countingMailer
	reactor *mail.Reactor
	org     domain.OrgID
	inviter domain.UserID
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	t.Parallel()
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	srv, err := esdbserver.Start(ctx, esdbserver.Config{DataDir: filepath.Join(dir, "es"), ListenAddr: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	conn, err := eventstoredb.Dial(ctx, srv.ConnectionString(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	codec, store, err := eventstoredb.ForDomain(conn)
	if err != nil {
		t.Fatal(err)
	}
	clock := commandstest.NewClock()
	signers := commandstest.TokenService(t, clock.Now())
	outbox, err := smtp.NewOutbox(filepath.Join(dir, "outbox"), smtp.Sender{Address: "portal@example.test", Name: "Portal"}, clock.Now, quiet)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{
		t: t, ctx: ctx, conn: conn, codec: codec, store: store, clock: clock, signers: signers,
		outbox: outbox, mailer: &countingMailer{next: outbox},
		org: domain.OrgID("org-" + uuid.NewString()), inviter: domain.UserID(uuid.NewString()),
	}
	f.reactor = f.newReactor(f.mailer)
	f.append(domain.OrganizationStream(f.org), domain.OrganizationCreated{OrgID: f.org, Name: "Acme & Co", LinkGeneration: 1})
	f.append(domain.UserStream(f.inviter), domain.AccountCreated{
		UserID: f.inviter, OrgID: f.org, Email: "owner@acme.test", NormalizedEmail: "owner@acme.test",
		Name: hostileName, Via: domain.JoinedViaBootstrap,
	})
	return f
}

func (f *fixture) newReactor(m mail.Mailer) *mail.Reactor {
	f.t.Helper()
	r, err := mail.New(mail.Deps{
		Store: f.store, Tokens: f.signers, Mailer: m, Clock: f.clock.Now, PublicURL: publicURL + "/",
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *fixture) append(stream domain.StreamName, events ...domain.Event) {
	f.t.Helper()
	loaded, err := f.store.Load(f.ctx, stream)
	if err != nil {
		f.t.Fatal(err)
	}
	meta := commands.Metadata{Actor: string(f.inviter), CorrelationID: uuid.NewString(), RequestTime: f.clock.Now()}
	if _, err := f.store.Append(f.ctx, stream, loaded.Revision, meta, events...); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) events(stream domain.StreamName) []domain.Event {
	f.t.Helper()
	loaded, err := f.store.Load(f.ctx, stream)
	if err != nil {
		f.t.Fatal(err)
	}
	return loaded.Events
}

// invite appends a UserInvited valid for ttl and returns it.
func (f *fixture) invite(email string, ttl time.Duration) domain.UserInvited {
	f.t.Helper()
	e := domain.UserInvited{
		InvitationID: domain.InvitationID(uuid.NewString()), OrgID: f.org, Email: email,
		NormalizedEmail: strings.ToLower(email), Role: domain.Role("member"), InvitedBy: f.inviter,
		Generation: 1, ExpiresAt: f.clock.Now().Add(ttl),
	}
	f.append(domain.InvitationStream(e.InvitationID), e)
	return e
}

func (f *fixture) handle(r *mail.Reactor, e domain.Event) error {
	return r.Handle(f.ctx, e, mail.Cause{EventID: uuid.NewString()})
}

func (f *fixture) mustHandle(e domain.Event) {
	f.t.Helper()
	if err := f.handle(f.reactor, e); err != nil {
		f.t.Fatal(err)
	}
}

// files lists the outbox's .eml files (temporary files start with a dot).
func (f *fixture) files() []string {
	f.t.Helper()
	entries, err := os.ReadDir(f.outbox.Dir())
	if err != nil {
		f.t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".eml") && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	return names
}

// sentEvents returns the delivery events of an invitation.
func sentEvents(events []domain.Event) (sent []domain.InvitationEmailSent, failed []domain.InvitationEmailFailed) {
	for _, e := range events {
		switch e := e.(type) {
		case domain.InvitationEmailSent:
			sent = append(sent, e)
		case domain.InvitationEmailFailed:
			failed = append(failed, e)
		}
	}
	return sent, failed
}
