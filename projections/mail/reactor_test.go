package mail_test

import (
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/smtp/smtptest"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/mail"
)

func TestInvitationIsMailedOnceWithAWorkingLink(t *testing.T) {
	f := newFixture(t)
	inv := f.invite("New.Person@example.test", time.Hour)

	f.mustHandle(inv)
	files := f.files()
	if len(files) != 1 {
		t.Fatalf("outbox has %v, want one mail", files)
	}
	m := smtptest.ReadFile(t, filepath.Join(f.outbox.Dir(), files[0]))
	if got := m.Header.Get("To"); !strings.Contains(got, "New.Person@example.test") {
		t.Errorf("To = %q", got)
	}
	wantID := "<invitation-" + string(inv.InvitationID) + "-g1@portal.example.test>"
	if got := m.Header.Get("Message-Id"); got != wantID {
		t.Errorf("Message-ID = %q, want %q", got, wantID)
	}
	for _, part := range []string{m.Text, m.HTML} {
		id, gen, err := f.signers.Invitation.Verify(smtptest.LinkToken(t, part, publicURL+"/invite"))
		if err != nil || id != string(inv.InvitationID) || gen != 1 {
			t.Errorf("link token verifies as (%q, %d, %v), want (%q, 1, nil)", id, gen, err, inv.InvitationID)
		}
	}
	if strings.Contains(m.HTML, "<script>") || !strings.Contains(m.HTML, "&lt;script&gt;") {
		t.Errorf("HTML part does not escape the inviter's name:\n%s", m.HTML)
	}
	if !strings.Contains(m.Text, hostileName) || !strings.Contains(m.Text, "Acme & Co") {
		t.Errorf("text part lacks the inviter or organization name:\n%s", m.Text)
	}
	sent, failed := sentEvents(f.events(domain.InvitationStream(inv.InvitationID)))
	if len(sent) != 1 || len(failed) != 0 || sent[0].Generation != 1 || "<"+sent[0].MessageID+">" != wantID {
		t.Fatalf("delivery events: sent %+v failed %+v", sent, failed)
	}

	// Redelivery of the same event, and a second reactor handling it (a
	// restart, a replay): nothing is sent or recorded again.
	f.mustHandle(inv)
	if err := f.handle(f.newReactor(f.mailer), inv); err != nil {
		t.Fatal(err)
	}
	if attempts, _ := f.mailer.counts(); attempts != 1 {
		t.Errorf("mailer called %d times, want 1", attempts)
	}
	if files := f.files(); len(files) != 1 {
		t.Errorf("outbox has %v after redelivery", files)
	}
	if sent, _ := sentEvents(f.events(domain.InvitationStream(inv.InvitationID))); len(sent) != 1 {
		t.Errorf("%d sent events after redelivery, want 1", len(sent))
	}
}

func TestResendMailsTheNewTokenAndNeverTheOldOne(t *testing.T) {
	f := newFixture(t)
	inv := f.invite("resend@example.test", time.Hour)
	f.mustHandle(inv)
	resent := domain.InvitationResent{InvitationID: inv.InvitationID, OrgID: f.org, Generation: 2, ExpiresAt: f.clock.Now().Add(2 * time.Hour)}
	f.append(domain.InvitationStream(inv.InvitationID), resent)

	// The old event redelivered after the resend mails the current
	// generation (that is what is due), once; the resend event then finds
	// it recorded.
	f.mustHandle(inv)
	f.mustHandle(resent)
	f.mustHandle(resent)
	files := f.files()
	if len(files) != 2 {
		t.Fatalf("outbox has %v, want the original and the resent mail", files)
	}
	newest := filepath.Join(f.outbox.Dir(), "invitation-"+string(inv.InvitationID)+"-g2.eml")
	m := smtptest.ReadFile(t, newest)
	id, gen, err := f.signers.Invitation.Verify(smtptest.LinkToken(t, m.Text, publicURL+"/invite"))
	if err != nil || id != string(inv.InvitationID) || gen != 2 {
		t.Fatalf("resent link verifies as (%q, %d, %v), want generation 2", id, gen, err)
	}
	sent, _ := sentEvents(f.events(domain.InvitationStream(inv.InvitationID)))
	if len(sent) != 2 || sent[0].Generation != 1 || sent[1].Generation != 2 {
		t.Fatalf("sent events %+v, want generations 1 and 2", sent)
	}
	if attempts, _ := f.mailer.counts(); attempts != 2 {
		t.Errorf("mailer called %d times, want 2", attempts)
	}
}

func TestExpiredRevokedAndAcceptedInvitationsGetNoMail(t *testing.T) {
	f := newFixture(t)
	expired := f.invite("late@example.test", time.Minute)
	f.clock.Advance(2 * time.Minute)
	revoked := f.invite("gone@example.test", time.Hour)
	f.append(domain.InvitationStream(revoked.InvitationID), domain.InvitationRevoked{InvitationID: revoked.InvitationID, OrgID: f.org})
	accepted := f.invite("joined@example.test", time.Hour)
	f.append(domain.InvitationStream(accepted.InvitationID), domain.InvitationAccepted{InvitationID: accepted.InvitationID, OrgID: f.org, UserID: "u-1", Generation: 1})

	for _, e := range []domain.UserInvited{expired, revoked, accepted} {
		f.mustHandle(e)
		if sent, failed := sentEvents(f.events(domain.InvitationStream(e.InvitationID))); len(sent)+len(failed) != 0 {
			t.Errorf("%s: delivery recorded: %+v %+v", e.Email, sent, failed)
		}
	}
	if attempts, _ := f.mailer.counts(); attempts != 0 || len(f.files()) != 0 {
		t.Fatalf("mailer called %d times, outbox %v; want nothing", attempts, f.files())
	}
}

func TestPermanentFailureIsRecordedAndNotRetried(t *testing.T) {
	f := newFixture(t)
	f.mailer.permanent = errors.New("550 5.1.1 mailbox unavailable")
	inv := f.invite("nobody@example.test", time.Hour)
	if err := f.handle(f.reactor, inv); err != nil {
		t.Fatalf("a permanent failure must be acked, got %v", err)
	}
	sent, failed := sentEvents(f.events(domain.InvitationStream(inv.InvitationID)))
	if len(sent) != 0 || len(failed) != 1 || failed[0].Generation != 1 || !strings.Contains(failed[0].Reason, "550 5.1.1") {
		t.Fatalf("delivery events: sent %+v failed %+v", sent, failed)
	}
	f.mustHandle(inv)
	if attempts, _ := f.mailer.counts(); attempts != 1 {
		t.Errorf("mailer called %d times, want 1", attempts)
	}
}

func TestTransientFailureRecordsNothing(t *testing.T) {
	f := newFixture(t)
	f.mailer.failTransient = 1
	inv := f.invite("later@example.test", time.Hour)
	if err := f.handle(f.reactor, inv); err == nil || mail.IsPermanent(err) {
		t.Fatalf("transient failure: got %v, want a retryable error", err)
	}
	if sent, failed := sentEvents(f.events(domain.InvitationStream(inv.InvitationID))); len(sent)+len(failed) != 0 {
		t.Fatalf("transient failure recorded: %+v %+v", sent, failed)
	}
	f.mustHandle(inv)
	if sent, _ := sentEvents(f.events(domain.InvitationStream(inv.InvitationID))); len(sent) != 1 {
		t.Fatalf("retry: %d sent events, want 1", len(sent))
	}
}

func TestConcurrentReactorsRecordOneDelivery(t *testing.T) {
	f := newFixture(t)
	inv := f.invite("race@example.test", time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		r := f.newReactor(f.outbox)
		wg.Go(func() { errs <- f.handle(r, inv) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if sent, _ := sentEvents(f.events(domain.InvitationStream(inv.InvitationID))); len(sent) != 1 {
		t.Fatalf("%d sent events, want 1", len(sent))
	}
	if files := f.files(); len(files) != 1 {
		t.Fatalf("outbox has %v, want one file", files)
	}
}

func TestRegistrationAndPasswordMails(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now()

	reg := domain.RegistrationStarted{
		RegistrationID: "reg-1", OrgID: f.org, Email: "self@example.test", NormalizedEmail: "self@example.test",
		Name: "Sam <b>Self</b>", PasswordHash: "$argon2id$x", LinkGeneration: 1, Generation: 1, ExpiresAt: now.Add(time.Hour),
	}
	f.append(domain.RegistrationStream(reg.RegistrationID), reg)
	f.mustHandle(reg)
	m := smtptest.ReadFile(t, filepath.Join(f.outbox.Dir(), "verification-reg-1-g1.eml"))
	if id, gen, err := f.signers.Verification.Verify(smtptest.LinkToken(t, m.Text, publicURL+"/verify")); err != nil || id != "reg-1" || gen != 1 {
		t.Errorf("verification token: (%q, %d, %v)", id, gen, err)
	}
	if strings.Contains(m.HTML, "<b>Self") {
		t.Errorf("HTML part does not escape the name:\n%s", m.HTML)
	}

	member := domain.RegistrationAttemptedByMember{
		RegistrationID: "reg-2", OrgID: f.org, Email: "owner@acme.test", NormalizedEmail: "owner@acme.test", LinkGeneration: 1, Generation: 1,
	}
	f.append(domain.RegistrationStream(member.RegistrationID), member)
	f.mustHandle(member)
	m = smtptest.ReadFile(t, filepath.Join(f.outbox.Dir(), "already_member-reg-2-g1.eml"))
	if !strings.Contains(m.Text, "already has an account") {
		t.Errorf("already-member mail:\n%s", m.Text)
	}

	user := domain.UserID("user-manual")
	f.append(domain.UserStream(user),
		domain.AccountCreated{UserID: user, OrgID: f.org, Email: "manual@example.test", NormalizedEmail: "manual@example.test", Name: "Manu", Via: domain.JoinedViaManual},
		domain.PasswordSetupRequested{UserID: user, OrgID: f.org, Generation: 1, ExpiresAt: now.Add(time.Hour)})
	f.mustHandle(domain.PasswordSetupRequested{UserID: user, OrgID: f.org, Generation: 1})
	m = smtptest.ReadFile(t, filepath.Join(f.outbox.Dir(), "set_password-user-manual-g1.eml"))
	if id, gen, err := f.signers.PasswordSetup.Verify(smtptest.LinkToken(t, m.Text, publicURL+"/set-password")); err != nil || id != string(user) || gen != 1 {
		t.Errorf("set-password token: (%q, %d, %v)", id, gen, err)
	}

	reset := domain.PasswordResetRequested{UserID: user, OrgID: f.org, Generation: 2, ExpiresAt: now.Add(time.Hour)}
	f.append(domain.UserStream(user), reset)
	f.mustHandle(reset)
	f.mustHandle(reset)
	m = smtptest.ReadFile(t, filepath.Join(f.outbox.Dir(), "password_reset-user-manual-g2.eml"))
	if id, gen, err := f.signers.PasswordReset.Verify(smtptest.LinkToken(t, m.Text, publicURL+"/reset-password")); err != nil || id != string(user) || gen != 2 {
		t.Errorf("reset token: (%q, %d, %v)", id, gen, err)
	}
	if files := f.files(); len(files) != 4 {
		t.Errorf("outbox has %v, want 4 mails", files)
	}
	if attempts, _ := f.mailer.counts(); attempts != 4 {
		t.Errorf("mailer called %d times, want 4", attempts)
	}
}
