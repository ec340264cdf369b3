package mail_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/smtp/smtptest"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/mail"
)

// orgReadCounter counts the events of the organization's stream that
// reads return: what mail costs as the roster grows.
type orgReadCounter struct {
	commands.EventStore
	mu           sync.Mutex
	loads        int
	eventsLoaded int
}

func (s *orgReadCounter) note(stream domain.StreamName, loaded commands.Loaded, whole bool) {
	if !strings.HasPrefix(string(stream), string(domain.CategoryOrganization)+"-") {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if whole {
		s.loads++
	}
	s.eventsLoaded += len(loaded.Events)
}

func (s *orgReadCounter) Load(ctx context.Context, stream domain.StreamName) (commands.Loaded, error) {
	loaded, err := s.EventStore.Load(ctx, stream)
	s.note(stream, loaded, true)
	return loaded, err
}

func (s *orgReadCounter) LoadFrom(ctx context.Context, stream domain.StreamName, after commands.Revision) (commands.Loaded, error) {
	loaded, err := s.EventStore.LoadFrom(ctx, stream, after)
	s.note(stream, loaded, false)
	return loaded, err
}

// The organization's name comes from a cache brought up to date with what
// was written since: at hundreds of members, each mail after the first
// reads only the new events, and the name is still the stream's.
func TestOrganizationNameIsReadIncrementally(t *testing.T) {
	f := newFixture(t)
	for i := range 300 {
		e := "member" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + "@example.test"
		f.append(domain.OrganizationStream(f.org), domain.MemberJoined{OrgID: f.org, UserID: domain.UserID("u-" + e),
			Email: e, NormalizedEmail: e, Name: "M", Role: domain.RoleMember, Via: domain.JoinedViaInvitation})
	}
	counter := &orgReadCounter{EventStore: f.store}
	r, err := mail.New(mail.Deps{Store: counter, Tokens: f.signers, Mailer: f.outbox, Clock: f.clock.Now, PublicURL: publicURL + "/",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		inv := f.invite("person"+string(rune('a'+i))+"@example.test", time.Hour)
		if err := f.handle(r, inv); err != nil {
			t.Fatal(err)
		}
	}
	if counter.loads != 1 || counter.eventsLoaded > 301 {
		t.Fatalf("five mails read the organization whole %d times, %d events in all; want once, 301 events", counter.loads, counter.eventsLoaded)
	}
	files := f.files()
	if len(files) != 5 {
		t.Fatalf("outbox has %v, want five mails", files)
	}
	for _, name := range files {
		m := smtptest.ReadFile(t, filepath.Join(f.outbox.Dir(), name))
		if !strings.Contains(m.Text, "Acme & Co") {
			t.Fatalf("mail lacks the organization's name:\n%s", m.Text)
		}
	}
}
