package main

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/smtp/smtptest"
)

// mailTimeout bounds the wait for the reactor to write a mail.
const mailTimeout = 45 * time.Second

// The invitation's way through the running binary: invite over the API,
// the mail reactor (behind its lease) writes the .eml into the outbox with
// the subject from the override templates, the link in it works: look-up
// 200 pending, accept 201, the new member signs in. No token reaches the
// log.
func TestE2EInvitationMailLinkWorks(t *testing.T) {
	data := t.TempDir()
	templates := t.TempDir()
	if err := os.MkdirAll(filepath.Join(templates, "en"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(templates, "en", "invitation.subject.txt"),
		[]byte("E2E override: join {{.OrgName}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const ownerPassword = "correct horse battery staple"
	p := startPortal(t, map[string]string{
		"PORTAL_HTTP_ADDR":          "127.0.0.1:0",
		"PORTAL_DATA_DIR":           data,
		"PORTAL_LOG_FORMAT":         "json",
		"PORTAL_BOOTSTRAP_ORG":      "Acme Inc",
		"PORTAL_BOOTSTRAP_EMAIL":    "owner@acme.example",
		"PORTAL_BOOTSTRAP_PASSWORD": ownerPassword,
		"PORTAL_MAIL_TEMPLATES":     templates,
	})
	base := "http://" + httpAddrFromJSONLog(t, p)
	api := base + "/api/v1"

	status, body, _ := call(t, "POST", api+"/session", "", map[string]string{"email": "owner@acme.example", "password": ownerPassword})
	if status != 200 {
		t.Fatalf("owner sign-in: %d %v", status, body)
	}
	session, _ := body["token"].(string)
	org, _ := body["orgId"].(string)
	status, body, _ = call(t, "POST", api+"/orgs/"+org+"/invitations", session, map[string]any{"emails": "ann@example.org"})
	if results, _ := body["results"].([]any); status != 200 || len(results) != 1 || results[0].(map[string]any)["status"] != "invited" {
		t.Fatalf("invite: %d %v", status, body)
	}

	file := waitForMail(t, filepath.Join(data, "outbox"), "invitation-")
	m := smtptest.ReadFile(t, file)
	subject, text, html := m.Subject, m.Text, m.HTML
	if subject != "E2E override: join Acme Inc" {
		t.Errorf("subject %q, want the override template's", subject)
	}
	token := smtptest.LinkToken(t, text, base+"/invite")
	if htmlToken := smtptest.LinkToken(t, html, base+"/invite"); htmlToken != token {
		t.Errorf("the HTML part links another token")
	}

	status, body, _ = call(t, "GET", api+"/invitations/"+url.PathEscape(token), "", nil)
	if status != 200 || body["state"] != "pending" || body["email"] != "ann@example.org" || body["organizationName"] != "Acme Inc" {
		t.Fatalf("look-up: %d %v", status, body)
	}
	const annPassword = "ann's own long passphrase"
	status, body, _ = call(t, "POST", api+"/invitations/"+url.PathEscape(token)+"/accept", "",
		map[string]string{"name": "Ann Example", "password": annPassword})
	if status != 201 || body["userId"] == "" || body["orgId"] != org {
		t.Fatalf("accept: %d %v", status, body)
	}
	status, body, _ = call(t, "POST", api+"/session", "", map[string]string{"email": "ann@example.org", "password": annPassword})
	if status != 200 || body["orgId"] != org {
		t.Fatalf("Ann's sign-in: %d %v", status, body)
	}
	annSession, _ := body["token"].(string)

	if err := p.stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	logs := p.output()
	for name, secret := range map[string]string{
		"the invitation token": token, "the escaped token": url.PathEscape(token),
		"a session token": session, "Ann's session token": annSession,
		"a password": annPassword,
	} {
		if secret != "" && strings.Contains(logs, secret) {
			t.Errorf("%s reached the log", name)
		}
	}
	if strings.Contains(logs, "/invite/") {
		t.Error("an invitation link reached the log")
	}
	if !strings.Contains(logs, filepath.Base(file)) {
		t.Errorf("the log does not name the outbox file %s", filepath.Base(file))
	}
	leased := false
	for _, line := range strings.Split(logs, "\n") {
		leased = leased || strings.Contains(line, `"msg":"lease acquired; running"`) && strings.Contains(line, `"lease":"mail-reactor"`)
	}
	if !leased {
		t.Error("the mail reactor did not log taking its lease")
	}
	if strings.Contains(logs, "lease not released") {
		t.Error("the lease was not released at shutdown")
	}
}

// A broken override template stops the start with a message naming it.
func TestE2EInvalidMailTemplateStopsTheStart(t *testing.T) {
	templates := t.TempDir()
	if err := os.MkdirAll(filepath.Join(templates, "en"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(templates, "en", "invitation.html"), []byte("<p>{{.Link</p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startPortal(t, map[string]string{
		"PORTAL_HTTP_ADDR":      "127.0.0.1:0",
		"PORTAL_DATA_DIR":       t.TempDir(),
		"PORTAL_MAIL_TEMPLATES": templates,
	})
	if err := p.wait(startTimeout); err == nil {
		t.Fatal("the portal started with a broken template")
	}
	out := p.output()
	for _, want := range []string{"PORTAL_MAIL_TEMPLATES", "en/invitation.html", templates} {
		if !strings.Contains(out, want) {
			t.Errorf("the error does not mention %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "http server listening") {
		t.Error("the HTTP server started before the templates were checked")
	}
}

// waitForMail waits (bounded) for one .eml whose name starts with prefix.
// The outbox renames a complete file into place, so a listed file is whole.
func waitForMail(t *testing.T, dir, prefix string) string {
	t.Helper()
	deadline := time.Now().Add(mailTimeout)
	for {
		matches, _ := filepath.Glob(filepath.Join(dir, prefix+"*.eml"))
		if len(matches) == 1 {
			return matches[0]
		}
		if len(matches) > 1 {
			t.Fatalf("more than one mail: %v", matches)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s*.eml in %s within %v", prefix, dir, mailTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
