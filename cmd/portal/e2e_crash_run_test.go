package main

// One run of concurrent invitation and registration flows against a
// portal child, and the checks that follow it; the crash test kills the
// portal during the run, the fault tests take its dependencies away.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/orgportal/onboarding/adapters/smtp/smtptest"
	"github.com/orgportal/onboarding/domain"
)

// flowEnv is the environment of a portal for a flow run: Mailpit as SMTP
// server, a fixed HTTP address (a restarted portal keeps it, so clients
// and the links in mails keep working), no rate limits (hundreds of people
// share one client address and one self-service link), and the admin API.
func flowEnv(data string, mp *smtptest.Mailpit, base string, extra map[string]string) map[string]string {
	env := mailEnv(data, mp, map[string]string{
		"PORTAL_HTTP_ADDR":           strings.TrimPrefix(base, "http://"),
		"PORTAL_RATE_LIMIT_CLIENT":   "off",
		"PORTAL_RATE_LIMIT_SUBJECT":  "off",
		"PORTAL_INVITATIONS_PER_DAY": "0",
		"PORTAL_ADMIN_TOKEN":         e2eAdminToken,
	})
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// flowRun is one run of concurrent flows against the portal at base.
type flowRun struct {
	t      *testing.T
	ctx    context.Context
	base   string
	mp     *smtptest.Mailpit
	d      *crashDriver
	people []*person
	rng    *rand.Rand
}

// newFlowRun signs the owner in, opens the self-service link for
// example.org and prepares flows people, half of them invited.
func newFlowRun(ctx context.Context, t *testing.T, base string, mp *smtptest.Mailpit, flows int, rng *rand.Rand) *flowRun {
	t.Helper()
	client := newPortalClient(base, crashConcurrency)
	d := &crashDriver{client: client, mail: newMailbox(mp, base), password: memberPassword}
	a := mustSend(ctx, t, client, "POST", "/api/v1/session", "", map[string]string{"email": mailOwnerEmail, "password": mailOwnerPassword}, http.StatusOK)
	d.session, _ = a.Body["token"].(string)
	d.org, _ = a.Body["orgId"].(string)
	mustSend(ctx, t, client, "PUT", "/api/v1/orgs/"+d.org+"/self-service-link", d.session,
		map[string]any{"enabled": true, "allowedDomains": []string{"example.org"}, "defaultRole": "member"}, http.StatusOK)
	link := mustSend(ctx, t, client, "GET", "/api/v1/orgs/"+d.org+"/self-service-link", d.session, nil, http.StatusOK)
	linkURL, _ := link.Body["url"].(string)
	d.linkPath = "/api/v1" + strings.TrimPrefix(linkURL, base)
	if !strings.HasPrefix(d.linkPath, "/api/v1/join/") {
		t.Fatalf("self-service link %q does not start with %s/join/", linkURL, base)
	}
	r := &flowRun{t: t, ctx: ctx, base: base, mp: mp, d: d, rng: rng}
	for i := range flows {
		kind := "reg"
		if i%2 == 0 {
			kind = "inv"
		}
		r.people = append(r.people, &person{email: fmt.Sprintf("%s%05d@example.org", kind, i), name: fmt.Sprintf("Person %05d", i), invited: i%2 == 0})
	}
	return r
}

// randomMoments returns n sorted points of the run, as numbers of
// finished flows, between 1 % and 75 % of them: the faults always fall
// while the flows are under way, however fast or loaded the machine is,
// and while all of their steps run (the first flows finish while most
// invitations and registrations are still being sent; counting
// acknowledgements instead put every fault of a large run into its first
// seconds, when only those were). The last quarter is left out because
// flows finish in bursts: after a restart, every flow whose mail had
// arrived sends its last command at once, and on a fast machine a burst
// once finished all of the last 101 flows before a fault planned at 90 %
// could be injected.
func (r *flowRun) randomMoments(n int) []int64 {
	var at []int64
	for range n {
		at = append(at, int64(float64(len(r.people))*(0.01+0.74*r.rng.Float64())))
	}
	sort.Slice(at, func(i, j int) bool { return at[i] < at[j] })
	return at
}

// drive runs every flow to its end while the test's goroutine reads the
// mails every 200 ms, calling tick with the number of finished flows
// every 10 ms (to inject faults: soon after a planned moment, before a
// burst of flows finishing carries the run past it). It fails the test for
// a flow that ended in an error.
func (r *flowRun) drive(tick func(done int64)) time.Duration {
	t := r.t
	t.Helper()
	began := time.Now()
	var wg sync.WaitGroup
	for _, who := range r.people {
		wg.Go(func() { r.d.run(r.ctx, who) })
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	mail := time.NewTicker(200 * time.Millisecond)
	defer mail.Stop()
	faults := time.NewTicker(10 * time.Millisecond)
	defer faults.Stop()
	for {
		select {
		case <-finished:
			for _, who := range r.people {
				if who.err != nil {
					t.Errorf("%s: %v", who.email, who.err)
				}
			}
			if t.Failed() {
				t.FailNow()
			}
			return time.Since(began)
		case <-r.ctx.Done():
			t.Fatalf("flows unfinished at the deadline: %s", flowProgress(r.people, r.d))
		case <-mail.C:
			r.d.mail.poll(t)
		case <-faults.C:
		}
		tick(r.d.done.Load())
	}
}

// settle waits until the mail reactor has sent everything due and the
// projections have passed the last event: a last invitation is mailed
// after every earlier event was handled (the reactor takes them in order),
// and once its delivery is recorded nothing more is written.
func (r *flowRun) settle(events *esdb.Client) {
	t := r.t
	t.Helper()
	marker := mustSend(r.ctx, t, r.d.client, "POST", "/api/v1/orgs/"+r.d.org+"/invitations", r.d.session,
		map[string]any{"emails": []string{"marker@example.org"}}, http.StatusOK)
	results, _ := marker.Body["results"].([]any)
	first, _ := results[0].(map[string]any)
	markerID, _ := first["invitationId"].(string)
	waitFor(t, crashCatchUpTimeout, "the marker's mail to be recorded", func() bool {
		r.d.mail.poll(t)
		return len(readStream(t, events, domain.InvitationStream(domain.InvitationID(markerID)), domain.TypeInvitationEmailSent)) == 1
	})
	head := headPositionOf(t, events)
	waitFor(t, crashCatchUpTimeout, "the projections to reach the head of $all", func() bool {
		for _, st := range projectionStatuses(t, r.base) {
			if st["state"] != "running" || uint64(num(st["position"])) < head {
				return false
			}
		}
		return true
	})
}

// runResult is what verify found.
type runResult struct {
	history       *eventHistory
	report        consistencyReport
	registrations int // RegistrationStarted events
	mails         int // received by Mailpit
	duplicates    int // copies beyond the first of a Message-ID
	resumed       int // acknowledgements after a repeated request
	usedBefore    int // tokens a lost attempt had used
}

// verify reads the whole history through the official client and checks
// the run: every acknowledged command has its events, the streams are
// consistent, every person is a member once, every due mail arrived (the
// duplicates are counted and logged; the caller judges them).
func (r *flowRun) verify(events *esdb.Client) runResult {
	t := r.t
	t.Helper()
	res := runResult{history: readHistory(t, events)}
	checkAcks(t, res.history, r.people)
	res.report = checkConsistency(res.history)
	reportConsistency(t, res.report)
	res.registrations = checkEveryoneJoinedOnce(t, res.history, r.d.org, r.people)
	mails := r.mp.Messages(t)
	res.mails = len(mails)
	res.duplicates = countDuplicateMails(t, res.history, mails)
	for _, who := range r.people {
		for _, a := range who.acks {
			if a.resumed {
				res.resumed++
			}
		}
		if who.tokenUsedBefore {
			res.usedBefore++
		}
	}
	return res
}

// compareWithRebuild replays the stopped portal's history into new
// read-model versions and compares them with the live ones; it returns the
// number of documents compared. The Users read model must also have one
// active row per member of the roster.
func compareWithRebuild(t *testing.T, env map[string]string, data string, members int) int {
	t.Helper()
	replayAll(t, env)
	diffs, usersByStatus := compareLiveWithRebuild(t, data)
	compared := 0
	for _, diff := range diffs {
		compared += diff.docs
		if len(diff.diffs) > 0 {
			t.Errorf("%s: live version %d differs from the rebuilt version %d in %d of %d documents:\n  %s",
				diff.collection, diff.live, diff.rebuilt, len(diff.diffs), diff.docs, summarizeDiffs(diff.diffs, 10))
		}
	}
	if usersByStatus["active"] != members {
		t.Errorf("the Users read model has %d active rows, the roster %d members (%v)", usersByStatus["active"], members, usersByStatus)
	}
	return compared
}

// mustSend sends a request (repeating it until answered) and fails the
// test unless the answer has status want.
func mustSend(ctx context.Context, t *testing.T, c *portalClient, method, path, token string, body any, want int) answer {
	t.Helper()
	a, err := c.send(ctx, method, path, token, body)
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != want {
		t.Fatalf("%s %s: %v, want %d", method, path, a, want)
	}
	return a
}

// waitFor polls cond until it holds; timeout is a liveness bound.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// flowProgress says how far the flows got, for a failure message.
func flowProgress(people []*person, d *crashDriver) string {
	steps := map[int]int{}
	for _, p := range people {
		steps[len(p.acks)]++
	}
	return fmt.Sprintf("%d acknowledgements; flows by acknowledged steps %v; %d requests without answer", d.acked.Load(), steps, d.client.errors.Load())
}

// checkAcks checks that every acknowledged command has its events: the
// answer's position is an event of the store, and the stream the command
// is about holds what it reported.
func checkAcks(t *testing.T, h *eventHistory, people []*person) {
	t.Helper()
	for _, p := range people {
		for _, a := range p.acks {
			if a.position != 0 {
				if _, ok := h.positions[a.position]; !ok {
					t.Errorf("%s %s answered position %d, which holds no event", a.command, a.email, a.position)
				}
			}
			var ok bool
			switch a.command {
			case "invite":
				ok = h.has(domain.InvitationStream(domain.InvitationID(a.id)), func(e domain.Event) bool {
					ev, is := e.(domain.UserInvited)
					return is && ev.Email == a.email
				})
			case "accept", "verify":
				ok = h.has(domain.UserStream(domain.UserID(a.id)), func(e domain.Event) bool {
					_, is := e.(domain.AccountCreated)
					return is
				})
				member := false
				for _, e := range h.all {
					if j, is := e.Event.(domain.MemberJoined); is && j.UserID == domain.UserID(a.id) && j.Email == a.email {
						member = true
					}
				}
				ok = ok && member
			case "join":
				ok = h.has(domain.RegistrationStream(domain.RegistrationID(a.id)), func(e domain.Event) bool {
					ev, is := e.(domain.RegistrationStarted)
					return is && ev.Email == a.email
				})
			}
			if !ok {
				t.Errorf("%s %s was acknowledged (%s), but its events are not in the store", a.command, a.email, a.id)
			}
		}
	}
}

// checkEveryoneJoinedOnce checks that each person of the flows became a
// member exactly once, the way they came, and returns how many
// registrations were started.
func checkEveryoneJoinedOnce(t *testing.T, h *eventHistory, org string, people []*person) int {
	t.Helper()
	joins := map[string][]domain.MemberJoined{}
	registrations := 0
	for _, e := range h.all {
		switch ev := e.Event.(type) {
		case domain.MemberJoined:
			if string(ev.OrgID) == org {
				joins[ev.NormalizedEmail] = append(joins[ev.NormalizedEmail], ev)
			}
		case domain.RegistrationStarted:
			registrations++
		}
	}
	for _, p := range people {
		want := domain.JoinedViaSelfServiceLink
		if p.invited {
			want = domain.JoinedViaInvitation
		}
		got := joins[domain.MustParseEmail(p.email).Normalized()]
		if len(got) != 1 || got[0].Via != want {
			t.Errorf("%s joined %d times (%v), want once via %s", p.email, len(got), got, want)
		}
	}
	return registrations
}

// countDuplicateMails counts the mails received more than once (the same
// Message-ID) and logs each; it fails the test for a due mail that never
// arrived, and for a delivery recorded twice in the store.
func countDuplicateMails(t *testing.T, h *eventHistory, mails []smtptest.MailpitMessage) int {
	t.Helper()
	copies := map[string]int{}
	to := map[string]string{}
	for _, m := range mails {
		k := mailKey(m.MessageID)
		copies[k]++
		to[k] = m.Recipient()
	}
	duplicates := 0
	for _, k := range sortedKeys(copies) {
		if n := copies[k]; n > 1 {
			duplicates += n - 1
			t.Logf("duplicate mail: %d copies of %s to %s", n, k, to[k])
		}
	}
	recorded := map[string]int{}
	for _, e := range h.all {
		switch ev := e.Event.(type) {
		case domain.UserInvited:
			if copies[fmt.Sprintf("invitation-%s-g%d", ev.InvitationID, ev.Generation)] == 0 {
				t.Errorf("no invitation mail to %s (invitation %s)", ev.Email, ev.InvitationID)
			}
		case domain.RegistrationStarted:
			if copies[fmt.Sprintf("verification-%s-g%d", ev.RegistrationID, ev.Generation)] == 0 {
				t.Errorf("no verification mail to %s (registration %s)", ev.Email, ev.RegistrationID)
			}
		case domain.InvitationEmailSent:
			recorded[fmt.Sprintf("invitation-%s-g%d", ev.InvitationID, ev.Generation)]++
		case domain.VerificationEmailSent:
			recorded[fmt.Sprintf("verification-%s-g%d", ev.RegistrationID, ev.Generation)]++
		}
	}
	for k, n := range recorded {
		if n != 1 {
			t.Errorf("the delivery of %s is recorded %d times", k, n)
		}
	}
	return duplicates
}
