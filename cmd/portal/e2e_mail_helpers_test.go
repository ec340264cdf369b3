package main

// Helpers of the end-to-end mail tests that run the portal against a real
// SMTP server (Mailpit, through adapters/smtp/smtptest).

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/orgportal/onboarding/adapters/smtp/smtptest"
	"github.com/orgportal/onboarding/domain"
)

const (
	mailOwnerEmail    = "owner@acme.example"
	mailOwnerPassword = "correct horse battery staple"
	// memberPassword is the password of everybody who accepts.
	memberPassword = "a long passphrase here"
	// smtpRecoveryTimeout bounds the wait for mail after the SMTP server
	// came back: the reactor's backoff between attempts grows to 15 s
	// (with jitter), and the machine may be busy.
	smtpRecoveryTimeout = 60 * time.Second
)

// mailEnv is the environment of a portal on data that sends its mail
// through mp; extra adds or replaces variables.
func mailEnv(data string, mp *smtptest.Mailpit, extra map[string]string) map[string]string {
	env := map[string]string{
		"PORTAL_HTTP_ADDR":          "127.0.0.1:0",
		"PORTAL_DATA_DIR":           data,
		"PORTAL_LOG_FORMAT":         "json",
		"PORTAL_BOOTSTRAP_ORG":      "Acme Inc",
		"PORTAL_BOOTSTRAP_EMAIL":    mailOwnerEmail,
		"PORTAL_BOOTSTRAP_PASSWORD": mailOwnerPassword,
		"PORTAL_SMTP_URL":           mp.SMTPURL(),
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// mailPortal is a running portal, signed in as the bootstrap owner, with an
// event store client on its embedded event store.
type mailPortal struct {
	*child
	base, api    string
	session, org string
	events       *esdb.Client
}

func startMailPortal(t *testing.T, env map[string]string) *mailPortal {
	t.Helper()
	c := startPortal(t, env)
	p := &mailPortal{child: c, base: "http://" + httpAddrFromJSONLog(t, c)}
	p.api = p.base + "/api/v1"
	status, body, _ := call(t, "POST", p.api+"/session", "", map[string]string{"email": mailOwnerEmail, "password": mailOwnerPassword})
	if status != 200 {
		t.Fatalf("owner sign-in: %d %v", status, body)
	}
	p.session, _ = body["token"].(string)
	p.org, _ = body["orgId"].(string)

	conf, err := esdb.ParseConnectionString(eventStoreFromJSONLog(t, c))
	if err != nil {
		t.Fatal(err)
	}
	conf.Logger = esdb.NoopLogging()
	if p.events, err = esdb.NewClient(conf); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.events.Close() })
	return p
}

// eventStoreFromJSONLog returns the connection string the embedded event
// store logged; it is logged before the HTTP server listens.
func eventStoreFromJSONLog(t *testing.T, c *child) string {
	t.Helper()
	for _, line := range strings.Split(c.output(), "\n") {
		var rec struct {
			Msg              string `json:"msg"`
			ConnectionString string `json:"connection_string"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "embedded event store listening" {
			return rec.ConnectionString
		}
	}
	t.Fatal("the portal did not log its embedded event store")
	return ""
}

// invite invites each address (one request) and returns the invitation
// ids in the same order.
func (p *mailPortal) invite(t *testing.T, emails ...string) []string {
	t.Helper()
	status, body, _ := call(t, "POST", p.api+"/orgs/"+p.org+"/invitations", p.session, map[string]any{"emails": emails})
	results, _ := body["results"].([]any)
	if status != 200 || len(results) != len(emails) {
		t.Fatalf("invite %d addresses: %d %v", len(emails), status, body)
	}
	ids := make([]string, len(emails))
	for i, r := range results {
		r := r.(map[string]any)
		if r["status"] != "invited" {
			t.Fatalf("invite %s: %v", emails[i], r)
		}
		ids[i], _ = r["invitationId"].(string)
	}
	return ids
}

func (p *mailPortal) resend(t *testing.T, invitationID string) {
	t.Helper()
	if status, body, _ := call(t, "POST", p.api+"/orgs/"+p.org+"/invitations/"+invitationID+"/resend", p.session, nil); status != 200 {
		t.Fatalf("resend: %d %v", status, body)
	}
}

func (p *mailPortal) revoke(t *testing.T, invitationID string) {
	t.Helper()
	if status, body, _ := call(t, "DELETE", p.api+"/orgs/"+p.org+"/invitations/"+invitationID, p.session, nil); status != 200 {
		t.Fatalf("revoke: %d %v", status, body)
	}
}

// accept accepts an invitation by the token of its link and returns the
// status and problem code (empty on success).
func (p *mailPortal) accept(t *testing.T, token, name string) (int, string) {
	t.Helper()
	status, body, _ := call(t, "POST", p.api+"/invitations/"+url.PathEscape(token)+"/accept", "",
		map[string]string{"name": name, "password": memberPassword})
	code, _ := body["code"].(string)
	return status, code
}

// recordedEvent is one event as the event store holds it.
type recordedEvent struct {
	Type string
	Data []byte
}

// stream reads a stream with the official client; a missing stream is
// empty.
func (p *mailPortal) stream(t *testing.T, name domain.StreamName) []recordedEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rs, err := p.events.ReadStream(ctx, string(name), esdb.ReadStreamOptions{From: esdb.Start{}}, 10_000)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	defer rs.Close()
	return collect(t, rs.Recv, string(name))
}

// all reads $all: every event the store holds.
func (p *mailPortal) all(t *testing.T) []recordedEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rs, err := p.events.ReadAll(ctx, esdb.ReadAllOptions{From: esdb.Start{}}, 1_000_000)
	if err != nil {
		t.Fatalf("read $all: %v", err)
	}
	defer rs.Close()
	return collect(t, rs.Recv, "$all")
}

func collect(t *testing.T, recv func() (*esdb.ResolvedEvent, error), name string) []recordedEvent {
	t.Helper()
	var out []recordedEvent
	for {
		ev, err := recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		var esErr *esdb.Error
		if errors.As(err, &esErr) && esErr.Code() == esdb.ErrorCodeResourceNotFound {
			return nil
		}
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		out = append(out, recordedEvent{Type: ev.Event.EventType, Data: ev.Event.Data})
	}
}

// deliveries returns the token generations of the delivery events of
// type typ in events.
func deliveries(t *testing.T, events []recordedEvent, typ string) []int {
	t.Helper()
	var gens []int
	for _, e := range events {
		if e.Type != typ {
			continue
		}
		var d struct {
			Generation int `json:"generation"`
		}
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		gens = append(gens, d.Generation)
	}
	return gens
}

// waitRecipients waits until every address has received at least one mail
// and returns all mails received by then.
func waitRecipients(t *testing.T, mp *smtptest.Mailpit, timeout time.Duration, emails ...string) []smtptest.MailpitMessage {
	t.Helper()
	return mp.WaitMessages(t, timeout, "mail for "+strings.Join(emails, ", "), func(msgs []smtptest.MailpitMessage) bool {
		got := smtptest.ByRecipient(msgs)
		for _, e := range emails {
			if got[strings.ToLower(e)] == 0 {
				return false
			}
		}
		return true
	})
}

// mailTo returns the one mail to email with a Message-ID containing part,
// failing the test unless there is exactly one.
func mailTo(t *testing.T, msgs []smtptest.MailpitMessage, email, part string) smtptest.MailpitMessage {
	t.Helper()
	var found []smtptest.MailpitMessage
	for _, m := range msgs {
		if m.Recipient() == strings.ToLower(email) && strings.Contains(m.MessageID, part) {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d mails to %s with %q in the Message-ID, want 1:%s", len(found), email, part, smtptest.Summarize(msgs))
	}
	return found[0]
}

// assertOncePerRecipient fails unless msgs hold exactly one mail for each
// address in want and none for anybody else.
func assertOncePerRecipient(t *testing.T, msgs []smtptest.MailpitMessage, want ...string) {
	t.Helper()
	counts := make(map[string]int, len(want))
	for _, e := range want {
		counts[e] = 1
	}
	assertMailCounts(t, msgs, counts)
}

// assertMailCounts fails unless msgs hold exactly want[address] mails for
// each address and none for anybody else.
func assertMailCounts(t *testing.T, msgs []smtptest.MailpitMessage, want map[string]int) {
	t.Helper()
	got := smtptest.ByRecipient(msgs)
	bad := false
	for e, n := range want {
		if got[strings.ToLower(e)] != n {
			t.Errorf("%s received %d mails, want %d", e, got[strings.ToLower(e)], n)
			bad = true
		}
		delete(got, strings.ToLower(e))
	}
	for e, n := range got {
		t.Errorf("%s received %d unexpected mails", e, n)
		bad = true
	}
	if bad {
		t.Fatalf("mails received:%s", smtptest.Summarize(msgs))
	}
}
