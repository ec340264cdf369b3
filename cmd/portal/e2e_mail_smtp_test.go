package main

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orgportal/onboarding/adapters/smtp/smtptest"
	"github.com/orgportal/onboarding/domain"
)

// Resend through a real SMTP server: both mails arrive with both parts,
// accepting by the first link answers 410 invitation_superseded from then
// on, the second link accepts the invitation.
func TestE2EMailResendKillsTheOldLink(t *testing.T) {
	mp := smtptest.StartMailpit(t, smtptest.MailpitConfig{})
	p := startMailPortal(t, mailEnv(t.TempDir(), mp, nil))
	const ann = "ann@example.org"
	id := p.invite(t, ann)[0]

	msgs := waitRecipients(t, mp, mailTimeout, ann)
	first := mp.Mail(t, mailTo(t, msgs, ann, "invitation-"+id+"-g1@").ID)
	oldToken := smtptest.LinkToken(t, first.Text, p.base+"/invite")
	if smtptest.LinkToken(t, first.HTML, p.base+"/invite") != oldToken {
		t.Fatal("the HTML part links another token than the text part")
	}

	p.resend(t, id)
	msgs = mp.WaitMessages(t, mailTimeout, "the resent invitation", func(msgs []smtptest.MailpitMessage) bool {
		return smtptest.ByRecipient(msgs)[ann] == 2
	})
	second := mp.Mail(t, mailTo(t, msgs, ann, "invitation-"+id+"-g2@").ID)
	newToken := smtptest.LinkToken(t, second.Text, p.base+"/invite")
	if newToken == oldToken {
		t.Fatal("the resent mail carries the old token")
	}

	// The look-up describes the dead link for the acceptance page; the
	// accept itself is refused.
	status, body, _ := call(t, "GET", p.api+"/invitations/"+url.PathEscape(oldToken), "", nil)
	if status != 200 || body["state"] != "superseded" || body["code"] != "invitation_superseded" {
		t.Errorf("old link look-up: %d %v, want 200 superseded invitation_superseded", status, body)
	}
	if status, code := p.accept(t, oldToken, "Ann"); status != 410 || code != "invitation_superseded" {
		t.Errorf("accept by the old link: %d %s, want 410 invitation_superseded", status, code)
	}
	if status, code := p.accept(t, newToken, "Ann"); status != 201 {
		t.Fatalf("accept by the new link: %d %s, want 201", status, code)
	}
	if status, code := p.accept(t, newToken, "Ann"); status != 410 || code != "invitation_already_accepted" {
		t.Errorf("second accept: %d %s, want 410 invitation_already_accepted", status, code)
	}
	if status, body, _ := call(t, "POST", p.api+"/session", "", map[string]string{"email": ann, "password": memberPassword}); status != 200 {
		t.Errorf("Ann's sign-in: %d %v", status, body)
	}
	if got := deliveries(t, p.stream(t, domain.InvitationStream(domain.InvitationID(id))), domain.TypeInvitationEmailSent); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Errorf("InvitationEmailSent generations %v, want [1 2]", got)
	}
	if n := mp.Count(t); n != 2 {
		t.Errorf("mailpit holds %d mails, want 2", n)
	}
}

// A restart sends nothing new: neither a restart that resumes from the
// reactor's checkpoint nor one whose read-model database (and so the
// checkpoint) is gone, which makes the reactor read the whole history
// again, like a replay. The second one still sends the one mail that was
// never sent: it was due while the SMTP server was down.
func TestE2EMailRestartSendsNothingNew(t *testing.T) {
	mp := smtptest.StartMailpit(t, smtptest.MailpitConfig{})
	data := t.TempDir()
	env := mailEnv(data, mp, nil)
	p := startMailPortal(t, env)

	// Every kind of stream that gets mail: invitations, a member added by
	// hand (set-password mail), a password reset of the owner.
	p.invite(t, "ann@example.org", "bob@example.org")
	if status, body, _ := call(t, "POST", p.api+"/orgs/"+p.org+"/users", p.session,
		map[string]string{"email": "dave@example.org", "name": "Dave", "role": "member"}); status != 201 {
		t.Fatalf("add member: %d %v", status, body)
	}
	if status, body, _ := call(t, "POST", p.api+"/password-reset", "", map[string]string{"email": mailOwnerEmail}); status != 202 {
		t.Fatalf("password reset: %d %v", status, body)
	}
	sent := []string{"ann@example.org", "bob@example.org", "dave@example.org", mailOwnerEmail}
	waitRecipients(t, mp, mailTimeout, sent...)
	if err := p.stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}

	// 1. Restart from the checkpoint: only the marker's mail is new.
	p = startMailPortal(t, env)
	p.invite(t, "marker1@example.org")
	sent = append(sent, "marker1@example.org")
	assertOncePerRecipient(t, waitRecipients(t, mp, mailTimeout, "marker1@example.org"), sent...)

	// 2. A mail falls due while the SMTP server is down; the portal stops
	// before it could be sent, and loses its read-model database.
	mp.Stop()
	p.invite(t, "pending@example.org")
	p.waitLine(mailTimeout, func(line string) bool { return strings.Contains(line, "mail delivery failed; will retry") })
	if err := p.stop(); err != nil {
		t.Fatalf("exit after SIGTERM while the SMTP server is down: %v", err)
	}
	if err := os.RemoveAll(filepath.Join(data, "readmodels")); err != nil {
		t.Fatal(err)
	}
	mp.Start()
	p = startMailPortal(t, env)
	p.invite(t, "marker2@example.org")
	sent = append(sent, "pending@example.org", "marker2@example.org")
	assertOncePerRecipient(t, waitRecipients(t, mp, smtpRecoveryTimeout, "pending@example.org", "marker2@example.org"), sent...)
	if err := p.stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// A 5xx answer is permanent: the invitation records InvitationEmailFailed
// with the server's reason, nothing is retried, and the reactor goes on
// with the next mail.
func TestE2EMailRejectedRecipientIsRecordedAsFailed(t *testing.T) {
	mp := smtptest.StartMailpit(t, smtptest.MailpitConfig{AllowedRecipients: `@example\.org$`})
	p := startMailPortal(t, mailEnv(t.TempDir(), mp, nil))
	rejected := p.invite(t, "nobody@rejected.example.net")[0]
	accepted := p.invite(t, "ann@example.org")[0]

	// The reactor sends mails of different invitations at once: Ann's
	// may arrive before the rejection is recorded, so that is waited for.
	assertOncePerRecipient(t, waitRecipients(t, mp, mailTimeout, "ann@example.org"), "ann@example.org")
	var history []recordedEvent
	waitFor(t, mailTimeout, "the rejected mail to be recorded", func() bool {
		history = p.stream(t, domain.InvitationStream(domain.InvitationID(rejected)))
		return len(deliveries(t, history, domain.TypeInvitationEmailFailed))+len(deliveries(t, history, domain.TypeInvitationEmailSent)) > 0
	})
	if got := deliveries(t, history, domain.TypeInvitationEmailFailed); len(got) != 1 || got[0] != 1 {
		t.Fatalf("InvitationEmailFailed generations %v, want [1]; history %v", got, history)
	}
	if got := deliveries(t, history, domain.TypeInvitationEmailSent); len(got) != 0 {
		t.Errorf("a rejected mail recorded as sent: %v", got)
	}
	for _, e := range history {
		if e.Type == domain.TypeInvitationEmailFailed && !strings.Contains(string(e.Data), "550") {
			t.Errorf("the failure does not record the server's answer: %s", e.Data)
		}
	}
	if got := deliveries(t, p.stream(t, domain.InvitationStream(domain.InvitationID(accepted))), domain.TypeInvitationEmailSent); len(got) != 1 {
		t.Errorf("Ann's InvitationEmailSent generations %v, want [1]", got)
	}
	if err := p.stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	logs := p.output()
	if strings.Count(logs, "mail delivery failed permanently") != 1 {
		t.Errorf("want one permanent failure in the log:\n%s", logs)
	}
	if strings.Contains(logs, "will retry") {
		t.Error("a permanent failure was retried")
	}
	if strings.Contains(logs, "/invite/") {
		t.Error("an invitation link reached the log")
	}
}
