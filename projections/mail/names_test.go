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

// nameReadCounter counts the reads of organization and user streams
// (what a mail's context costs) and the organization events they return.
type nameReadCounter struct {
	commands.EventStore
	mu           sync.Mutex
	orgLoads     int // whole
	orgLoadsFrom int // after a cached revision
	eventsLoaded int // of the organization, in all
	userLoads    int
}

func (s *nameReadCounter) note(stream domain.StreamName, loaded commands.Loaded, whole bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case strings.HasPrefix(string(stream), string(domain.CategoryUser)+"-"):
		s.userLoads++
	case !strings.HasPrefix(string(stream), string(domain.CategoryOrganization)+"-"):
	case whole:
		s.orgLoads++
		s.eventsLoaded += len(loaded.Events)
	default:
		s.orgLoadsFrom++
		s.eventsLoaded += len(loaded.Events)
	}
}

func (s *nameReadCounter) Load(ctx context.Context, stream domain.StreamName) (commands.Loaded, error) {
	loaded, err := s.EventStore.Load(ctx, stream)
	s.note(stream, loaded, true)
	return loaded, err
}

func (s *nameReadCounter) LoadFrom(ctx context.Context, stream domain.StreamName, after commands.Revision) (commands.Loaded, error) {
	loaded, err := s.EventStore.LoadFrom(ctx, stream, after)
	s.note(stream, loaded, false)
	return loaded, err
}

func (s *nameReadCounter) counts() (orgLoads, orgLoadsFrom, eventsLoaded, userLoads int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.orgLoads, s.orgLoadsFrom, s.eventsLoaded, s.userLoads
}

func countingReactor(t *testing.T, f *fixture) (*mail.Reactor, *nameReadCounter) {
	t.Helper()
	counter := &nameReadCounter{EventStore: f.store}
	r, err := mail.New(mail.Deps{Store: counter, Tokens: f.signers, Mailer: f.outbox, Clock: f.clock.Now, PublicURL: publicURL + "/",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return r, counter
}

func memberJoined(org domain.OrgID, i int) domain.MemberJoined {
	e := "member" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + "@example.test"
	return domain.MemberJoined{OrgID: org, UserID: domain.UserID("u-" + e),
		Email: e, NormalizedEmail: e, Name: "M", Role: domain.RoleMember, Via: domain.JoinedViaInvitation}
}

// assertOrgNameInEveryMail checks that the outbox holds n mails, each with
// the organization's name.
func assertOrgNameInEveryMail(t *testing.T, f *fixture, n int) {
	t.Helper()
	files := f.files()
	if len(files) != n {
		t.Fatalf("outbox has %v, want %d mails", files, n)
	}
	for _, name := range files {
		m := smtptest.ReadFile(t, filepath.Join(f.outbox.Dir(), name))
		if !strings.Contains(m.Text, "Acme & Co") {
			t.Fatalf("mail lacks the organization's name:\n%s", m.Text)
		}
	}
}

// Mails within the names' time to live read neither the organization nor
// the inviter again; after it, each is read once more.
func TestNamesAreCachedForTheirTimeToLive(t *testing.T) {
	f := newFixture(t)
	r, counter := countingReactor(t, f)
	for i := range 5 {
		if err := f.handle(r, f.invite("person"+string(rune('a'+i))+"@example.test", time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if org, from, _, user := counter.counts(); org != 1 || from != 0 || user != 1 {
		t.Fatalf("five mails at once read the organization %d times whole and %d times from a revision, the inviter %d times; want 1, 0 and 1", org, from, user)
	}
	f.clock.Advance(6 * time.Second)
	if err := f.handle(r, f.invite("later@example.test", time.Hour)); err != nil {
		t.Fatal(err)
	}
	if org, from, _, user := counter.counts(); org != 1 || from != 1 || user != 2 {
		t.Fatalf("a mail 6 s later read the organization %d times whole and %d times from a revision, the inviter %d times in all; want 1, 1 and 2", org, from, user)
	}
	assertOrgNameInEveryMail(t, f, 6)
}

// Once its cached name is due for a new read, the organization is read
// only from the cached revision on: at hundreds of members each mail
// reads the few events written since, and the name is still the stream's.
func TestOrganizationNameIsReadIncrementally(t *testing.T) {
	f := newFixture(t)
	for i := range 300 {
		f.append(domain.OrganizationStream(f.org), memberJoined(f.org, i))
	}
	r, counter := countingReactor(t, f)
	for i := range 5 {
		f.append(domain.OrganizationStream(f.org), memberJoined(f.org, 300+i))
		f.clock.Advance(time.Minute)
		inv := f.invite("person"+string(rune('a'+i))+"@example.test", time.Hour)
		if err := f.handle(r, inv); err != nil {
			t.Fatal(err)
		}
	}
	if org, from, events, _ := counter.counts(); org != 1 || from != 4 || events != 306 {
		t.Fatalf("five mails read the organization whole %d times and from a revision %d times, %d events in all; want 1, 4 and 306", org, from, events)
	}
	assertOrgNameInEveryMail(t, f, 5)
}
