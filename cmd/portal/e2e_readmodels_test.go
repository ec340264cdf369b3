package main

import (
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const e2eAdminToken = "e2e-admin-token-0123456789abcdef0123456789"

// projectionStatuses asks the admin API for every projection's status.
func projectionStatuses(t *testing.T, base string) map[string]map[string]any {
	t.Helper()
	status, body, _ := call(t, "GET", base+"/api/v1/admin/projections", e2eAdminToken, nil)
	if status != http.StatusOK {
		t.Fatalf("admin status: %d %v", status, body)
	}
	out := map[string]map[string]any{}
	list, _ := body["projections"].([]any)
	for _, item := range list {
		st, _ := item.(map[string]any)
		name, _ := st["name"].(string)
		out[name] = st
	}
	return out
}

// waitProjections polls the admin API until every projection satisfies ok.
func waitProjections(t *testing.T, base, what string, ok func(map[string]any) bool) map[string]map[string]any {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		sts := projectionStatuses(t, base)
		good := len(sts) == 3
		for _, st := range sts {
			good = good && ok(st)
		}
		if good {
			return sts
		}
		if time.Now().After(deadline) {
			t.Fatalf("projections not %s within %v: %v", what, startTimeout, sts)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func num(v any) float64 { f, _ := v.(float64); return f }

// The binary projects what the API writes, reports the projections on
// /readyz, /metrics and the admin API, rebuilds on request, and `portal
// replay` rebuilds a stopped portal's data directory (and refuses, with
// directions, while a portal runs on it).
func TestE2EReadModels(t *testing.T) {
	data := t.TempDir()
	const ownerPassword = "correct horse battery staple"
	env := map[string]string{
		"PORTAL_HTTP_ADDR": "127.0.0.1:0", "PORTAL_DATA_DIR": data, "PORTAL_LOG_FORMAT": "json",
		"PORTAL_BOOTSTRAP_ORG": "Acme Inc", "PORTAL_BOOTSTRAP_EMAIL": "owner@acme.example", "PORTAL_BOOTSTRAP_PASSWORD": ownerPassword,
		"PORTAL_ADMIN_TOKEN": e2eAdminToken,
	}
	p := startPortal(t, env)
	base := "http://" + httpAddrFromJSONLog(t, p)
	api := base + "/api/v1"

	status, body, _ := call(t, "POST", api+"/session", "", map[string]string{"email": "owner@acme.example", "password": ownerPassword})
	if status != 200 {
		t.Fatalf("sign-in: %d %v", status, body)
	}
	session, _ := body["token"].(string)
	org, _ := body["orgId"].(string)
	status, body, _ = call(t, "POST", api+"/orgs/"+org+"/invitations", session, map[string]any{"emails": "ann@example.org, bob@example.org"})
	if status != 200 {
		t.Fatalf("invite: %d %v", status, body)
	}
	written := num(body["position"])
	if written == 0 {
		t.Fatalf("invite answered no position: %v", body)
	}
	waitProjections(t, base, "caught up", func(st map[string]any) bool {
		return st["state"] == "running" && num(st["position"]) >= written
	})

	ready := pollReadyz(t, base, http.StatusOK)
	checks, _ := ready["checks"].(map[string]any)
	if checks["projections"] != "ok" || checks["readmodels"] != "ok" {
		t.Errorf("/readyz checks: %v", ready)
	}

	metrics := fetchText(t, base+"/metrics", "")
	for _, name := range []string{"users", "invitations", "audit"} {
		m := regexp.MustCompile(`portal_projection_position\{projection="` + name + `"\} (\S+)`).FindStringSubmatch(metrics)
		if m == nil {
			t.Fatalf("/metrics has no position of %s:\n%s", name, metrics)
		}
		if v, _ := strconv.ParseFloat(m[1], 64); v < written {
			t.Errorf("%s position %v in /metrics, want at least %v", name, v, written)
		}
		if !strings.Contains(metrics, `portal_projection_stalled{projection="`+name+`"} 0`) {
			t.Errorf("/metrics: %s not reported as not stalled", name)
		}
	}
	for _, series := range []string{"portal_users_cache_rows ", "portal_users_cache_bytes ", "go_gc_heap_live_bytes ", `portal_users_cache_refreshes_total{kind="pushed"} `,
		`portal_users_cache_refreshes_total{kind="patched"} `, `portal_users_cache_refreshes_total{kind="reloaded"} `,
		"portal_users_cache_stamp_reads_total "} {
		if !strings.Contains(metrics, "\n"+series) {
			t.Errorf("/metrics has no %s", series)
		}
	}
	// The invitation request, and the event store calls behind it: the
	// bootstrap and the two invitations made at least six appends.
	if !regexp.MustCompile(`\nportal_http_request_duration_seconds_count\{code="200",method="POST",route="/api/v1/orgs/:orgId/invitations"\} 1\n`).MatchString(metrics) {
		t.Errorf("/metrics does not count the one invitation request:\n%s", metrics)
	}
	for series, least := range map[string]float64{`call="append",outcome="ok"`: 6, `call="read",outcome="ok"`: 1} {
		m := regexp.MustCompile(`\nportal_eventstore_call_duration_seconds_count\{` + series + `\} (\S+)`).FindStringSubmatch(metrics)
		if m == nil {
			t.Errorf("/metrics has no event store calls %s", series)
		} else if v, _ := strconv.ParseFloat(m[1], 64); v < least {
			t.Errorf("/metrics counts %v event store calls %s, want at least %v", v, series, least)
		}
	}

	// The admin API wants its token.
	for _, token := range []string{"", "wrong-token-wrong-token-wrong-token-x"} {
		status, body, _ := call(t, "GET", api+"/admin/projections", token, nil)
		if status != http.StatusUnauthorized || body["code"] != "admin_token_invalid" {
			t.Errorf("admin with token %q: %d %v", token, status, body)
		}
	}
	status, body, _ = call(t, "POST", api+"/admin/projections/all/rebuild", e2eAdminToken, nil)
	if status != http.StatusAccepted {
		t.Fatalf("rebuild: %d %v", status, body)
	}
	waitProjections(t, base, "rebuilt into version 2", func(st map[string]any) bool {
		rb, _ := st["rebuild"].(map[string]any)
		return st["state"] == "running" && num(st["version"]) == 2 && rb["state"] == "done"
	})
	if err := p.stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if strings.Contains(p.output(), e2eAdminToken) {
		t.Error("the admin token reached the log")
	}

	// Replay on the stopped portal's data directory.
	replay := exec.Command(portalBinary(t), "replay", "--projection", "all")
	replay.Env = append(envList(env), "PORTAL_LOG_FORMAT=text")
	out, err := replay.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("replay: %v\n%s\n%s", err, out, exit.Stderr)
		}
		t.Fatal(err)
	}
	for _, name := range []string{"users", "invitations", "audit"} {
		if !strings.Contains(string(out), name+": version 3 is active") {
			t.Errorf("replay output does not report %s at version 3:\n%s", name, out)
		}
	}

	// Started again, without an admin token: the replayed versions serve,
	// the admin API is off, and replay refuses the locked data directory.
	delete(env, "PORTAL_ADMIN_TOKEN")
	p = startPortal(t, env)
	base = "http://" + httpAddrFromJSONLog(t, p)
	pollReadyz(t, base, http.StatusOK)
	status, body, _ = call(t, "GET", base+"/api/v1/admin/projections", "", nil)
	if status != http.StatusNotFound || body["code"] != "admin_api_disabled" || !strings.Contains(body["detail"].(string), "PORTAL_ADMIN_TOKEN") {
		t.Errorf("admin API without a token configured: %d %v", status, body)
	}
	// Ready does not wait for each projection's lease (a standby replica
	// is ready too), so the version shows up a moment later.
	servesV3 := regexp.MustCompile(`portal_projection_version\{projection="users"\} 3`)
	for deadline := time.Now().Add(startTimeout); !servesV3.MatchString(fetchText(t, base+"/metrics", "")); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("after the replay the portal does not serve version 3 of users")
		}
	}
	locked := exec.Command(portalBinary(t), "replay", "--projection", "users")
	locked.Env = envList(env)
	msg, err := locked.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "admin API") {
		t.Errorf("replay on a running portal's data: %v\n%s", err, msg)
	}
	if err := p.stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// envList is the environment of a child: the test's own minus PORTAL_*,
// plus env.
func envList(env map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PORTAL_") {
			out = append(out, kv)
		}
	}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// fetchText fetches url and returns the body; a status other than 200 fails.
func fetchText(t *testing.T, url, token string) string {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, raw)
	}
	return string(raw)
}
