package main

// Dependency faults seen through the whole portal: the event store and the
// read-model database go away and come back while the portal keeps
// running. (SMTP going away: e2e_mail_outage_test.go.)

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/adapters/porttest"
	"github.com/orgportal/onboarding/adapters/smtp/smtptest"
	"github.com/orgportal/onboarding/projections"
)

const (
	// faultFlows is the size of the event store outage test's run.
	faultFlows = 60
	// outageLength is how long a dependency stays away once the portal
	// has noticed.
	outageLength = 3 * time.Second
)

// rawCall sends one request, without repeating it: what a fault test
// asserts is this one answer, which need not be JSON.
func rawCall(t *testing.T, method, url, token string, body any) (int, http.Header, map[string]any) {
	t.Helper()
	status, header, raw := sendJSON(t, method, url, token, body)
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	return status, header, out
}

// assertUnavailable checks a 503 problem with a Retry-After in seconds.
func assertUnavailable(t *testing.T, what string, status int, header http.Header, body map[string]any, code string) {
	t.Helper()
	retry, err := strconv.Atoi(header.Get("Retry-After"))
	if status != http.StatusServiceUnavailable || err != nil || retry < 1 || body["code"] != code {
		t.Errorf("%s: %d, Retry-After %q, %v; want 503 %s with Retry-After", what, status, header.Get("Retry-After"), body, code)
	}
}

// failingDependencies returns the names /readyz lists as failing.
func failingDependencies(body map[string]any) []string {
	var out []string
	list, _ := body["failing"].([]any)
	for _, f := range list {
		s, _ := f.(string)
		out = append(out, s)
	}
	return out
}

// alive fails the test if the portal process has exited: recovery must
// come without a restart.
func alive(t *testing.T, p *child) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("the portal exited (%v)", p.err)
	default:
	}
}

// The event store goes away twice while people go through their flows
// (SIGKILL, then SIGTERM) and comes back on the same address, with the
// portal running all along (`portal eventstore` as a child of its own,
// the portal pointed at it with PORTAL_EVENTSTORE_URL). While it is away,
// a command answers 503 with Retry-After and writes nothing, and /readyz
// names the event store; once it is back, commands work again without a
// restart. A command whose append the kill cut off may still have written
// it (the store made it durable, the answer was lost), so its 503 is no
// proof that nothing changed: the repeat resumes, or answers that the
// token was used. The clients repeat what got a 503 or no answer; afterwards the
// same checks as after the crash test hold: every acknowledged command
// has its events, the streams are consistent (nothing half-written beyond
// the abandoned holds the domain tolerates), everyone is a member once,
// every mail arrived and none twice, and the read models equal a rebuild.
func TestE2EEventStoreOutage(t *testing.T) {
	portalBinary(t)
	began := time.Now()
	seed := uint64(time.Now().UnixNano())
	t.Logf("%d flows, seed %d", faultFlows, seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))

	storeDir := t.TempDir()
	storeAddr := fmt.Sprintf("127.0.0.1:%d", porttest.FreeLoopbackPort(t))
	startStore := func() *child {
		c := startPortal(t, nil, "eventstore", "--listen", storeAddr, "--data", storeDir)
		c.waitLine(startTimeout, func(l string) bool { return strings.Contains(l, "event store listening") })
		return c
	}
	store := startStore()

	mp := smtptest.StartMailpit(t, smtptest.MailpitConfig{})
	data := t.TempDir()
	base := fmt.Sprintf("http://127.0.0.1:%d", porttest.FreeLoopbackPort(t))
	storeURL := "esdb://" + storeAddr + "?tls=false"
	env := flowEnv(data, mp, base, map[string]string{"PORTAL_EVENTSTORE_URL": storeURL})
	p := startPortal(t, env)
	httpAddrFromJSONLog(t, p)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r := newFlowRun(ctx, t, base, mp, faultFlows, rng)
	api := base + "/api/v1"
	invitations := api + "/orgs/" + r.d.org + "/invitations"
	outageAt := r.randomMoments(2)
	var outages []string
	var probes []string
	drove := r.drive(func(done int64) {
		n := len(outages)
		if n == len(outageAt) || done < outageAt[n] {
			return
		}
		how := "SIGKILL"
		if n == 0 {
			_ = store.cmd.Process.Kill()
			_ = store.wait(stopTimeout)
		} else {
			how = "SIGTERM"
			if err := store.stop(); err != nil {
				t.Errorf("event store exit after SIGTERM: %v", err)
			}
		}
		down := time.Now()

		// A command now fails at its first append: 503, nothing written.
		probe := fmt.Sprintf("down%d@example.org", n)
		probes = append(probes, probe)
		status, header, body := rawCall(t, "POST", invitations, r.d.session, map[string]any{"emails": []string{probe}})
		answered := time.Since(down)
		assertUnavailable(t, "invite while the event store is down", status, header, body, "service_unavailable")
		ready := pollReadyz(t, base, http.StatusServiceUnavailable)
		if !slices.Contains(failingDependencies(ready), "eventstore") {
			t.Errorf("/readyz while the event store is down: %v", ready)
		}
		time.Sleep(outageLength)
		alive(t, p)
		store = startStore()
		back := time.Now()

		// Back without restarting the portal: a new command goes through
		// (the client repeats it while it still answers 503).
		up := fmt.Sprintf("up%d@example.org", n)
		a := mustSend(ctx, t, r.d.client, "POST", "/api/v1/orgs/"+r.d.org+"/invitations", r.d.session, map[string]any{"emails": []string{up}}, http.StatusOK)
		results, _ := a.Body["results"].([]any)
		if len(results) != 1 || results[0].(map[string]any)["status"] != "invited" {
			t.Errorf("invite after the event store came back: %v", a)
		}
		commandsBack := time.Since(back)
		pollReadyz(t, base, http.StatusOK)
		alive(t, p)
		outages = append(outages, fmt.Sprintf("%s at %d/%d flows done: 503 after %v, down %v, commands again %v and ready %v after the restart",
			how, done, faultFlows, answered.Round(time.Millisecond), back.Sub(down).Round(100*time.Millisecond),
			commandsBack.Round(100*time.Millisecond), time.Since(back).Round(100*time.Millisecond)))
	})
	if len(outages) != 2 {
		t.Fatalf("%d outages, want 2", len(outages))
	}

	events := dialEventStore(t, storeURL)
	r.settle(events)
	res := r.verify(events)
	if res.duplicates != 0 {
		t.Errorf("%d duplicated mails: an event store outage must not send a mail twice", res.duplicates)
	}
	for _, probe := range probes {
		for _, e := range res.history.all {
			if raw, _ := json.Marshal(e.Event); bytes.Contains(raw, []byte(probe)) {
				t.Errorf("inviting %s answered 503, but wrote %s in %s", probe, e.Type, e.Stream)
			}
		}
	}
	if err := p.stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	compared := compareWithRebuild(t, env, data, res.report.members)
	for _, o := range outages {
		t.Logf("outage: %s", o)
	}
	t.Logf("%d flows done in %v; repeated: %d requests that got no answer, %d answered 503, %d answered 409 concurrent_change; %d abandoned invitation holds; "+
		"%d tokens an earlier attempt had used; %d mails, %d duplicated; %d read-model documents equal to the rebuild; total %v",
		faultFlows, drove.Round(100*time.Millisecond), r.d.client.errors.Load(), r.d.client.unavailable.Load(), r.d.client.conflicts.Load(),
		len(res.report.abandonedHolds), res.usedBefore, res.mails, res.duplicates, compared, time.Since(began).Round(100*time.Millisecond))
}

// The read-model database goes away (SIGKILL of a standalone FerretDB the
// portal reaches through PORTAL_MONGO_URL) and comes back on the same
// address and data. While it is away, commands keep working (invite,
// accept, join, a role change), the reads of the Users page answer 503
// read_models_unavailable with Retry-After, and /readyz names the read
// models. Once it is back, without a restart of the portal, the
// projections resume from their checkpoints (the same version, no
// rebuild), the reads show every change made during the outage, and the
// mails written meanwhile go out once.
func TestE2EReadStoreOutage(t *testing.T) {
	portalBinary(t)
	began := time.Now()
	mongoAddr := fmt.Sprintf("127.0.0.1:%d", porttest.FreeLoopbackPort(t))
	db := startFerretProcess(t, filepath.Join(t.TempDir(), "readmodels"), mongoAddr)
	mp := smtptest.StartMailpit(t, smtptest.MailpitConfig{})
	base := fmt.Sprintf("http://127.0.0.1:%d", porttest.FreeLoopbackPort(t))
	env := flowEnv(t.TempDir(), mp, base, map[string]string{"PORTAL_MONGO_URL": "mongodb://" + mongoAddr + "/"})
	p := startPortal(t, env)
	httpAddrFromJSONLog(t, p)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r := newFlowRun(ctx, t, base, mp, 0, nil)
	c, org, session, api := r.d.client, r.d.org, r.d.session, base+"/api/v1"
	users := api + "/orgs/" + org + "/users?limit=200"

	// Before: two invitations, mailed; their links are used during the
	// outage.
	before := []string{"before0@example.org", "before1@example.org"}
	tokens := map[string]string{}
	a := mustSend(ctx, t, c, "POST", "/api/v1/orgs/"+org+"/invitations", session, map[string]any{"emails": before}, http.StatusOK)
	results, _ := a.Body["results"].([]any)
	for i, res := range results {
		id, _ := res.(map[string]any)["invitationId"].(string)
		tok, err := awaitToken(ctx, t, r.d.mail, "invitation-"+id+"-g1")
		if err != nil {
			t.Fatal(err)
		}
		tokens[before[i]] = tok
	}
	checkpoints := waitProjections(t, base, "caught up before the outage", func(st map[string]any) bool {
		return st["state"] == "running" && num(st["position"]) >= float64(a.position())
	})
	// The status shows what each projection processed; its checkpoint is
	// stored up to 250 ms later (taken every 25 ms, written at most every
	// 250 ms). Wait until the stored checkpoints are that far, read from
	// the database, so that the outage cannot cut a save short.
	waitCheckpointsStored(ctx, t, "mongodb://"+mongoAddr+"/", checkpoints)
	logLines := len(strings.Split(p.output(), "\n"))

	db.kill()
	down := time.Now()
	ready := pollReadyz(t, base, http.StatusServiceUnavailable)
	if f := failingDependencies(ready); !slices.Contains(f, "readmodels") || slices.Contains(f, "eventstore") {
		t.Errorf("/readyz while the read models are down names %v: %v", f, ready)
	}
	status, header, body := rawCall(t, "GET", users, session, nil)
	assertUnavailable(t, "the Users page while the read models are down", status, header, body, "read_models_unavailable")

	// Commands keep working: nothing is repeated, nothing answers 503.
	var written uint64
	command := func(what, method, path string, body any, want int) answer {
		t.Helper()
		a := mustSend(ctx, t, c, method, path, session, body, want)
		if a.Unavailable+a.Conflicts > 0 || a.Interrupted {
			t.Errorf("%s during the read-model outage needed repeats: %d × 503, %d × 409, interrupted %v", what, a.Unavailable, a.Conflicts, a.Interrupted)
		}
		written = max(written, a.position())
		return a
	}
	during := []string{"during0@example.org", "during1@example.org", "during2@example.org"}
	command("invite", "POST", "/api/v1/orgs/"+org+"/invitations", map[string]any{"emails": during}, http.StatusOK)
	joined := map[string]string{}
	for _, e := range before {
		a := command("accept", "POST", "/api/v1/invitations/"+url.PathEscape(tokens[e])+"/accept", map[string]string{"name": "Early " + e[:7], "password": memberPassword}, http.StatusCreated)
		joined[e], _ = a.Body["userId"].(string)
	}
	command("join", "POST", r.d.linkPath, map[string]string{"email": "registered@example.org", "name": "Reg Istered", "password": memberPassword}, http.StatusAccepted)
	command("role change", "PUT", "/api/v1/orgs/"+org+"/users/"+joined[before[0]]+"/role", map[string]string{"role": "admin"}, http.StatusOK)
	status, header, body = rawCall(t, "GET", users, session, nil)
	assertUnavailable(t, "the Users page after the commands", status, header, body, "read_models_unavailable")
	alive(t, p)
	time.Sleep(time.Until(down.Add(outageLength)))
	db.start()
	back := time.Now()

	// Back: the reads show every change, once the projections have
	// passed the last write (the read waits for its consistency token).
	var page map[string]any
	waitFor(t, crashCatchUpTimeout, "the Users page to show the writes of the outage", func() bool {
		status, header, body := rawCall(t, "GET", users+"&consistency="+strconv.FormatUint(written, 10), session, nil)
		page = body
		return status == http.StatusOK && header.Get("X-Consistency") == "fresh"
	})
	caughtUp := time.Since(back)
	rows := map[string]map[string]any{}
	items, _ := page["items"].([]any)
	for _, it := range items {
		row, _ := it.(map[string]any)
		email, _ := row["email"].(string)
		rows[email] = row
	}
	want := map[string][2]string{ // email → status, role
		before[0]: {"active", "admin"}, before[1]: {"active", "member"},
		during[0]: {"invited", "member"}, during[1]: {"invited", "member"}, during[2]: {"invited", "member"},
		// The link's role is given at verification: the link may change
		// before.
		"registered@example.org": {"pending_verification", ""},
	}
	for email, w := range want {
		row := rows[email]
		if role, _ := row["role"].(string); row == nil || row["status"] != w[0] || role != w[1] {
			t.Errorf("Users row of %s after the outage: %v, want %s %s", email, row, w[0], w[1])
		}
	}
	pollReadyz(t, base, http.StatusOK)
	alive(t, p)

	// Resumed, not rebuilt: the same versions, started again after the
	// checkpoint they had before the outage.
	after := projectionStatuses(t, base)
	resumedAt := projectionRuns(t, strings.Split(p.output(), "\n")[logLines:])
	for name, st := range checkpoints {
		if num(after[name]["version"]) != num(st["version"]) {
			t.Errorf("%s: version %v after the outage, %v before: rebuilt instead of resumed", name, after[name]["version"], st["version"])
		}
		at, ok := resumedAt[name]
		if !ok || at < uint64(num(st["position"])) {
			t.Errorf("%s did not resume from its checkpoint %v (log: resumed after %v, %v)", name, st["position"], at, ok)
		}
	}

	// The mails of the outage go out after it, once each.
	msgs := waitRecipients(t, mp, smtpRecoveryTimeout, append(during, "registered@example.org")...)
	counts := map[string]int{}
	for _, e := range append(append(during, before...), "registered@example.org") {
		counts[e] = 1
	}
	assertMailCounts(t, msgs, counts)
	if err := p.stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	t.Logf("read models down %v; caught up %v after they came back; projections resumed after %v; total %v",
		back.Sub(down).Round(100*time.Millisecond), caughtUp.Round(100*time.Millisecond), resumedAt, time.Since(began).Round(100*time.Millisecond))
}

// awaitToken reads mails until the one with key has come and returns its
// link token (for a test that drives no flows of its own).
func awaitToken(ctx context.Context, t *testing.T, m *mailbox, key string) (string, error) {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		tok, err := m.await(ctx, key)
		if err == nil {
			got <- tok
		}
	}()
	deadline := time.Now().Add(mailTimeout)
	for {
		m.poll(t)
		select {
		case tok := <-got:
			return tok, nil
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no mail %s within %v", key, mailTimeout)
		}
	}
}

// projectionRuns reads the "projection running" log lines: the checkpoint
// each projection started after, the last one per projection.
func projectionRuns(t *testing.T, lines []string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, line := range lines {
		var rec struct {
			Msg        string `json:"msg"`
			Projection string `json:"projection"`
			After      uint64 `json:"after"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "projection running" {
			out[rec.Projection] = rec.After
		}
	}
	return out
}

// waitCheckpointsStored waits until the checkpoint stored in the read-model
// database at uri of each projection in statuses (the admin API's, by
// name) is at least at the position its status shows.
func waitCheckpointsStored(ctx context.Context, t *testing.T, uri string, statuses map[string]map[string]any) {
	t.Helper()
	client, err := mongodb.Connect(ctx, uri, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Disconnect(context.WithoutCancel(ctx)) }()
	store := mongodb.NewCheckpointStore(client.Database(readModelsDatabase))
	for name, st := range statuses {
		checkpoint := projections.CheckpointName(name, name, int(num(st["version"])))
		want := uint64(num(st["position"]))
		waitFor(t, crashCatchUpTimeout, "the checkpoint "+checkpoint+" to be stored at "+strconv.FormatUint(want, 10), func() bool {
			pos, ok, err := store.Load(ctx, checkpoint)
			return err == nil && ok && pos >= want
		})
	}
}
