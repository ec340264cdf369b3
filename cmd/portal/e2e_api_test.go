package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

var generatedPassword = regexp.MustCompile(`generated password (\S+) `)

// sendJSON sends one JSON request, once, and returns the raw answer.
func sendJSON(t *testing.T, method, url, token string, body any) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, raw
}

// call sends one JSON request the way the README's curl commands do; the
// answer must be JSON.
func call(t *testing.T, method, url, token string, body any) (int, map[string]any, http.Header) {
	t.Helper()
	status, header, raw := sendJSON(t, method, url, token, body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: %d, not JSON: %s", method, url, status, raw)
	}
	return status, out, header
}

// The README's "Try it": start with a bootstrap organization, sign in as
// its owner with the generated password, invite, rotate the link. A
// restart finds the organization and prints no password.
func TestE2EServeBootstrapAndAPI(t *testing.T) {
	data := t.TempDir()
	env := map[string]string{
		"PORTAL_HTTP_ADDR":       "127.0.0.1:0",
		"PORTAL_DATA_DIR":        data,
		"PORTAL_LOG_FORMAT":      "json",
		"PORTAL_BOOTSTRAP_ORG":   "Acme Inc",
		"PORTAL_BOOTSTRAP_EMAIL": "owner@acme.example",
	}
	p := startPortal(t, env)
	base := "http://" + httpAddrFromJSONLog(t, p)
	api := base + "/api/v1"

	m := generatedPassword.FindStringSubmatch(p.stdout.String())
	if m == nil {
		t.Fatalf("no generated password on stdout: %q", p.stdout.String())
	}
	password := m[1]
	if n := strings.Count(p.stdout.String(), "\n"); n != 1 {
		t.Errorf("stdout has %d lines, want the one password line", n)
	}

	status, body, header := call(t, "POST", api+"/session", "", map[string]string{"email": "owner@acme.example", "password": password})
	if status != 200 || body["token"] == "" || header.Get("X-Consistency-Token") == "" {
		t.Fatalf("sign-in: %d %v", status, body)
	}
	token, _ := body["token"].(string)
	org, _ := body["orgId"].(string)

	status, body, header = call(t, "POST", api+"/orgs/"+org+"/invitations", token,
		map[string]any{"emails": "ann@example.org, bob@example.org; not-an-address"})
	results, _ := body["results"].([]any)
	if status != 200 || len(results) != 3 || results[0].(map[string]any)["status"] != "invited" || results[2].(map[string]any)["status"] != "invalid" {
		t.Fatalf("invite: %d %v", status, body)
	}

	// Read your write: the Users read model, waited for through the
	// invitation's consistency token, shows both invitees and who invited
	// them; the audit trail has the invitations.
	written := header.Get("X-Consistency-Token")
	status, body, header = call(t, "GET", api+"/orgs/"+org+"/users?status=invited&sort=email&consistency="+written, token, nil)
	items, _ := body["items"].([]any)
	if status != 200 || header.Get("X-Consistency") != "fresh" || len(items) != 2 {
		t.Fatalf("users after invite (token %s): %d %s %v", written, status, header.Get("X-Consistency"), body)
	}
	ann := items[0].(map[string]any)
	if inviter, _ := ann["invitedBy"].(map[string]any); ann["email"] != "ann@example.org" || inviter["email"] != "owner@acme.example" {
		t.Errorf("first invited row: %v", ann)
	}
	status, body, _ = call(t, "GET", api+"/orgs/"+org+"/audit?action=UserInvited&consistency="+written, token, nil)
	if items, _ := body["items"].([]any); status != 200 || len(items) != 2 {
		t.Errorf("audit of the invitations: %d %v", status, body)
	}

	status, body, _ = call(t, "GET", api+"/orgs/"+org+"/self-service-link", token, nil)
	if url, _ := body["url"].(string); status != 200 || !strings.HasPrefix(url, base+"/join/") {
		t.Fatalf("link: %d %v", status, body)
	}
	first := body["url"].(string)
	status, body, _ = call(t, "POST", api+"/orgs/"+org+"/self-service-link/rotate", token, nil)
	if status != 200 || body["url"] == first {
		t.Fatalf("rotate: %d %v", status, body)
	}
	status, body, _ = call(t, "GET", strings.Replace(body["url"].(string), base, api, 1), "", nil)
	if status != 200 || body["organizationName"] != "Acme Inc" {
		t.Fatalf("join link: %d %v", status, body)
	}
	if status, _, _ = call(t, "GET", api+"/openapi.json", "", nil); status != 200 {
		t.Errorf("openapi.json: %d", status)
	}

	if err := p.stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	logs := p.output()
	for _, secret := range []string{password, token} {
		if strings.Contains(logs, secret) {
			t.Errorf("a secret reached the log")
		}
	}
	if !strings.Contains(logs, `"route":"/api/v1/orgs/:orgId/invitations"`) {
		t.Errorf("no access log line for the invitation route")
	}

	// Restart on the same data: the organization exists, no new password.
	p = startPortal(t, env)
	api = "http://" + httpAddrFromJSONLog(t, p) + "/api/v1"
	if out := p.stdout.String(); out != "" {
		t.Errorf("a restart printed %q", out)
	}
	if status, body, _ = call(t, "POST", api+"/session", "", map[string]string{"email": "owner@acme.example", "password": password}); status != 200 {
		t.Errorf("sign-in after restart: %d %v", status, body)
	}
	if err := p.stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}
