package main

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/smtp/smtptest"
	"github.com/orgportal/onboarding/domain"
)

const (
	// crashInvitations is the size of the crash test's run.
	crashInvitations = 1000
	// crashMailConcurrency is the portal's PORTAL_MAIL_CONCURRENCY in the
	// crash test (its default): a SIGKILL can duplicate at most the mails
	// in flight, so at most this many.
	crashMailConcurrency = 8
	// crashRecoveryTimeout bounds the wait for all mails after the
	// restart: the new process first waits out the lease of the killed
	// one (15 s), then sends the rest.
	crashRecoveryTimeout = 3 * time.Minute
)

// The exactly-once window, measured: the portal is killed (SIGKILL) while
// it sends a thousand invitations to a real SMTP server, then restarted
// on the same data. Every invitation arrives; a mail is duplicated only if
// the kill fell between the server's acceptance and the append of its
// InvitationEmailSent, which can hit at most the mails in flight
// (PORTAL_MAIL_CONCURRENCY of them). The test reports the duplicates and
// their rate and fails above that many, or when the event store records a
// delivery twice.
func TestE2EMailCrashWhileSendingDuplicatesAtMostTheMailInFlight(t *testing.T) {
	mp := smtptest.StartMailpit(t, smtptest.MailpitConfig{})
	env := mailEnv(t.TempDir(), mp, map[string]string{"PORTAL_INVITATIONS_PER_DAY": "0", "PORTAL_MAIL_CONCURRENCY": strconv.Itoa(crashMailConcurrency)})
	p := startMailPortal(t, env)

	emails := make([]string, crashInvitations)
	for i := range emails {
		emails[i] = fmt.Sprintf("crash%04d@example.org", i)
	}
	for start := 0; start < len(emails); start += domain.MaxAddressesPerRequest {
		p.invite(t, emails[start:min(start+domain.MaxAddressesPerRequest, len(emails))]...)
	}

	// Kill once a quarter has arrived, while the reactor is busy sending.
	deadline := time.Now().Add(mailTimeout)
	for mp.Count(t) < crashInvitations/4 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d mails within %v", mp.Count(t), mailTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.wait(stopTimeout)
	atKill := mp.Count(t)
	if atKill >= crashInvitations {
		t.Fatalf("all %d mails were sent before the kill; nothing was measured", atKill)
	}

	killed := time.Now()
	p = startMailPortal(t, env)
	// Count first: listing a thousand mails every poll would load the
	// machine the reactor runs on.
	deadline = time.Now().Add(crashRecoveryTimeout)
	for mp.Count(t) < crashInvitations {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d mails within %v after the restart", mp.Count(t), crashInvitations, crashRecoveryTimeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitRecipients(t, mp, crashRecoveryTimeout, emails...)
	recovered := time.Since(killed)
	// The marker is sent after everything before it was handled: no late
	// duplicate can arrive after it.
	p.invite(t, "marker@example.org")
	msgs := waitRecipients(t, mp, mailTimeout, "marker@example.org")

	perRecipient := smtptest.ByRecipient(msgs)
	ids := make(map[string]map[string]bool)
	for _, m := range msgs {
		if ids[m.Recipient()] == nil {
			ids[m.Recipient()] = make(map[string]bool)
		}
		ids[m.Recipient()][m.MessageID] = true
	}
	duplicates := 0
	for _, e := range append(emails, "marker@example.org") {
		switch n := perRecipient[e]; {
		case n == 0:
			t.Errorf("%s received no mail", e)
		case n > 1:
			duplicates += n - 1
			t.Logf("%s received %d mails (Message-IDs %v)", e, n, ids[e])
			if len(ids[e]) != 1 {
				t.Errorf("%s: the duplicates carry different Message-IDs %v; a resend must reuse the id", e, ids[e])
			}
		}
		delete(perRecipient, e)
	}
	for e, n := range perRecipient {
		t.Errorf("%d mails to %s, who was never invited", n, e)
	}
	rate := float64(duplicates) / crashInvitations
	t.Logf("SIGKILL with %d of %d mails in Mailpit; all arrived %v after the kill; %d duplicate(s), rate %.3f %% (at most %d allowed: the mails in flight)",
		atKill, crashInvitations, recovered.Round(100*time.Millisecond), duplicates, 100*rate, crashMailConcurrency)
	if duplicates > crashMailConcurrency {
		t.Errorf("%d duplicates, more than the %d mails in flight at once", duplicates, crashMailConcurrency)
	}

	// The event store: one InvitationEmailSent per invitation, even for a
	// mail the server received twice.
	sent := 0
	for _, e := range p.all(t) {
		if e.Type == domain.TypeInvitationEmailSent {
			sent++
		}
	}
	if sent != crashInvitations+1 {
		t.Errorf("%d InvitationEmailSent events, want %d", sent, crashInvitations+1)
	}
	if err := p.stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}
