package main

import (
	"maps"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestE2EAPIReplica runs the portal split in two processes over shared
// stores: replica "all" embeds the event store and runs the projections
// and the mail, replica "api" (PORTAL_ROLE=api) serves the API only. A
// command sent to the api replica is projected and mailed by the other
// one, and a read with its consistency token through the api replica
// sees it; the api replica takes no lease, shows the projections as a
// standby replica does, and sends resume and rebuild away.
func TestE2EAPIReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes; runs without -short")
	}
	dir := t.TempDir()
	mongo := startPortal(t, nil, "mongo", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "readmodels"))
	m := mongoURLAttr.FindStringSubmatch(mongo.waitLine(startTimeout, func(l string) bool { return strings.Contains(l, "read-model database listening") }))
	if m == nil {
		t.Fatalf("portal mongo logged no url:\n%s", mongo.output())
	}
	const ownerPassword = "correct horse battery staple"
	shared := map[string]string{
		"PORTAL_HTTP_ADDR": "127.0.0.1:0", "PORTAL_LOG_FORMAT": "json", "PORTAL_MONGO_URL": m[1],
		"PORTAL_TOKEN_KEYS": strings.Repeat("5a", 32), "PORTAL_ADMIN_TOKEN": e2eAdminToken,
	}
	with := func(extra map[string]string) map[string]string {
		env := maps.Clone(shared)
		maps.Copy(env, extra)
		return env
	}

	all := startPortal(t, with(map[string]string{
		"PORTAL_DATA_DIR": filepath.Join(dir, "all"), "PORTAL_BOOTSTRAP_ORG": "Acme Inc",
		"PORTAL_BOOTSTRAP_EMAIL": "owner@acme.example", "PORTAL_BOOTSTRAP_PASSWORD": ownerPassword,
	}))
	allBase := "http://" + httpAddrFromJSONLog(t, all)
	api := startPortal(t, with(map[string]string{
		"PORTAL_DATA_DIR": filepath.Join(dir, "api"), "PORTAL_ROLE": "api", "PORTAL_EVENTSTORE_URL": eventStoreFromJSONLog(t, all),
		// It sees the projections' progress from checkpoints saved every
		// 250 ms on FerretDB: room for a slow machine before "stale".
		"PORTAL_CONSISTENCY_WAIT": "10s",
	}))
	base := "http://" + httpAddrFromJSONLog(t, api)
	v1 := base + "/api/v1"

	status, body, _ := call(t, "POST", v1+"/session", "", map[string]string{"email": "owner@acme.example", "password": ownerPassword})
	if status != http.StatusOK {
		t.Fatalf("sign-in through the api replica: %d %v", status, body)
	}
	session, _ := body["token"].(string)
	org, _ := body["orgId"].(string)
	status, body, header := call(t, "POST", v1+"/orgs/"+org+"/invitations", session, map[string]any{"emails": []string{"ann@example.org"}})
	if status != http.StatusOK {
		t.Fatalf("invite through the api replica: %d %v", status, body)
	}
	token := header.Get("X-Consistency-Token")
	status, body, header = call(t, "GET", v1+"/orgs/"+org+"/users?status=invited&consistency="+token, session, nil)
	items, _ := body["items"].([]any)
	if status != http.StatusOK || header.Get("X-Consistency") != "fresh" || len(items) != 1 {
		t.Fatalf("users through the api replica after the invitation (token %s): %d %s %v", token, status, header.Get("X-Consistency"), body)
	}
	if row, _ := items[0].(map[string]any); row["email"] != "ann@example.org" {
		t.Errorf("users row: %v", row)
	}
	// The replica of role all mails the invitation the api replica wrote.
	waitForMail(t, filepath.Join(dir, "all", "outbox"), "invitation-")

	pollReadyz(t, base, http.StatusOK)
	// The api replica shows the projections as a standby replica does,
	// from what the replica of role all saved, and never as its own.
	metrics := fetchText(t, base+"/metrics", "")
	for _, name := range []string{"users", "invitations", "audit"} {
		if !strings.Contains(metrics, `portal_projection_active{projection="`+name+`"} 0`) {
			t.Errorf("/metrics of the api replica: %s not reported as inactive", name)
		}
	}
	if !strings.Contains(metrics, "\nportal_users_cache_rows ") {
		t.Error("/metrics of the api replica has no Users page cache")
	}
	if !regexp.MustCompile(`portal_projection_active\{projection="users"\} 1`).MatchString(fetchText(t, allBase+"/metrics", "")) {
		t.Error("the replica of role all does not report running the users projection")
	}
	waitProjections(t, base, "shown on the api replica", func(st map[string]any) bool {
		return st["state"] == "standby" && num(st["version"]) >= 1 && num(st["position"]) > 0
	})
	for _, action := range []string{"users/rebuild", "all/rebuild", "users/resume"} {
		status, body, _ = call(t, "POST", v1+"/admin/projections/"+action, e2eAdminToken, nil)
		if detail, _ := body["detail"].(string); status != http.StatusConflict || body["code"] != "replica_role_api" || !strings.Contains(detail, "role all") {
			t.Errorf("POST %s on the api replica: %d %v", action, status, body)
		}
	}
	status, _, _ = call(t, "POST", v1+"/admin/projections/users/rebuild", "", nil)
	if status != http.StatusUnauthorized {
		t.Errorf("admin API on the api replica without the token: %d, want 401 before anything else", status)
	}

	if err := api.stop(); err != nil {
		t.Fatalf("api replica exit after SIGTERM: %v", err)
	}
	out := api.output()
	if !strings.Contains(out, "role api: serving the API and the pages only") {
		t.Errorf("the api replica does not log its role:\n%s", out)
	}
	for _, never := range []string{"lease", "mail reactor", "projection running"} {
		if strings.Contains(out, never) {
			t.Errorf("the api replica's log mentions %q: it should run no projection and no mail:\n%s", never, out)
		}
	}
	if err := all.stop(); err != nil {
		t.Fatalf("replica all exit after SIGTERM: %v", err)
	}
}

// A replica of role api needs stores it can share: the error says which.
func TestE2EAPIReplicaNeedsSharedStores(t *testing.T) {
	p := startPortal(t, map[string]string{"PORTAL_ROLE": "api", "PORTAL_DATA_DIR": t.TempDir()})
	if err := p.wait(startTimeout); err == nil {
		t.Fatal("PORTAL_ROLE=api on the embedded stores exited 0")
	}
	for _, want := range []string{"PORTAL_ROLE=api needs PORTAL_MONGO_URL", "PORTAL_EVENTSTORE_LISTEN"} {
		if !strings.Contains(p.output(), want) {
			t.Errorf("error does not mention %q:\n%s", want, p.output())
		}
	}
}
