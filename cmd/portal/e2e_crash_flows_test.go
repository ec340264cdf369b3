package main

// The clients of the crash test: people going through invitation and
// self-service registration flows over HTTP, repeating a request whose
// answer was lost, and the mailbox they read their links from.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/smtp/smtptest"
	"github.com/orgportal/onboarding/domain"
)

// retryPause is how long a client waits before repeating a request that
// got no answer (the portal was killed, or is starting again).
const retryPause = 100 * time.Millisecond

// answer is the portal's reply to one request, after any repeats.
type answer struct {
	Status int
	Body   map[string]any
	Header http.Header
	// Interrupted: an earlier attempt got no answer, so the command may
	// have taken effect before this answer (which then says so, e.g.
	// invitation_already_accepted).
	Interrupted bool
	// Unavailable counts 503 answers that were waited out; Conflicts the
	// 409 concurrent_change answers that were repeated.
	Unavailable, Conflicts int
}

func (a answer) code() string { s, _ := a.Body["code"].(string); return s }

// repeated reports whether an earlier attempt may have taken effect: it got
// no answer, or it answered 503 because the event store went away during an
// append, whose outcome is then unknown (nothing or all of it written).
func (a answer) repeated() bool { return a.Interrupted || a.Unavailable > 0 }

func (a answer) position() uint64 {
	p, _ := strconv.ParseUint(a.Header.Get("X-Consistency-Token"), 10, 64)
	return p
}

func (a answer) String() string { return fmt.Sprintf("%d %v", a.Status, a.Body) }

// portalClient sends JSON requests to a portal that may die at any moment.
type portalClient struct {
	base        string
	http        *http.Client
	slots       chan struct{} // bounds the requests in flight
	errors      atomic.Int64  // attempts that got no answer
	conflicts   atomic.Int64  // 409 concurrent_change answers repeated
	unavailable atomic.Int64  // 503 answers waited out and repeated
}

func newPortalClient(base string, concurrency int) *portalClient {
	return &portalClient{
		base: base,
		// A request to a killed process fails at once (reset or refused);
		// the timeout is a liveness bound only.
		http:  &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}},
		slots: make(chan struct{}, concurrency),
	}
}

// send repeats the same request until the portal answers (or ctx ends): a
// request that got no answer, or a 503 (the event store could not be
// reached), is sent again, and so is a 409 concurrent_change (the command
// lost a race more often than it retries by itself). Every command the tests send this way
// is safe to repeat: invite answers already_invited, accept and verify
// resume or answer that the token was used, join starts one more
// registration (a person submitting the form again); each command checks
// what it finds before it writes.
func (c *portalClient) send(ctx context.Context, method, path, token string, body any) (answer, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return answer{}, err
		}
	}
	var a answer
	for {
		status, header, respBody, err := c.once(ctx, method, path, token, raw)
		switch {
		case err != nil:
			c.errors.Add(1)
			a.Interrupted = true
			if ctx.Err() != nil {
				return a, fmt.Errorf("%s %s: no answer before the deadline: %w", method, path, err)
			}
			if !sleepCtx(ctx, retryPause) {
				return a, ctx.Err()
			}
			continue
		case status == http.StatusServiceUnavailable:
			a.Unavailable++
			c.unavailable.Add(1)
			wait, _ := strconv.Atoi(header.Get("Retry-After"))
			if !sleepCtx(ctx, min(time.Duration(wait)*time.Second, time.Second)+retryPause) {
				return a, ctx.Err()
			}
			continue
		}
		a.Status, a.Header = status, header
		a.Body = map[string]any{}
		if err := json.Unmarshal(respBody, &a.Body); err != nil {
			return a, fmt.Errorf("%s %s: %d, not JSON: %q", method, path, status, respBody)
		}
		if status == http.StatusConflict && a.code() == "concurrent_change" {
			// Lost an optimistic-concurrency race more often than the
			// command retries by itself; the answer says to try again.
			a.Conflicts++
			c.conflicts.Add(1)
			if !sleepCtx(ctx, retryPause) {
				return a, ctx.Err()
			}
			continue
		}
		return a, nil
	}
}

// once sends one attempt; err is set when no complete answer came.
func (c *portalClient) once(ctx context.Context, method, path, token string, raw []byte) (int, http.Header, []byte, error) {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, nil, nil, ctx.Err()
	}
	defer func() { <-c.slots }()
	var r io.Reader
	if raw != nil {
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return 0, nil, nil, err
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, resp.Header, body, nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// ack is a command the portal acknowledged with a 2xx: the test checks
// that its events are in the store.
type ack struct {
	command  string // invite, accept, join, verify
	email    string
	id       string // the invitation, registration or user id the answer named
	position uint64 // X-Consistency-Token: the commit position of its last event (0: nothing written)
	// resumed: an earlier attempt of this request may have taken effect
	// (answer.repeated).
	resumed bool
}

// person is one flow: an invitation to accept, or a registration through
// the self-service link to verify.
type person struct {
	email   string
	name    string
	invited bool // by invitation; else through the self-service link

	acks []ack
	// tokenUsedBefore: the last step answered that the token was already
	// used, after an attempt that may have taken effect (that attempt did it).
	tokenUsedBefore bool
	err             error
}

// crashDriver runs the flows against one portal address.
type crashDriver struct {
	client   *portalClient
	mail     *mailbox
	org      string
	session  string
	linkPath string // /api/v1/join/{token}
	password string
	acked    atomic.Int64 // 2xx answers so far
	// done counts the flows that have finished (their person joined); the
	// faults are scheduled by it.
	done atomic.Int64
}

func (d *crashDriver) run(ctx context.Context, p *person) {
	if p.invited {
		p.err = d.invitation(ctx, p)
	} else {
		p.err = d.registration(ctx, p)
	}
	if p.err == nil {
		d.done.Add(1)
	}
}

func (d *crashDriver) record(p *person, a ack) {
	p.acks = append(p.acks, a)
	d.acked.Add(1)
}

func (d *crashDriver) invitation(ctx context.Context, p *person) error {
	a, err := d.client.send(ctx, "POST", "/api/v1/orgs/"+d.org+"/invitations", d.session, map[string]any{"emails": []string{p.email}})
	if err != nil {
		return err
	}
	results, _ := a.Body["results"].([]any)
	if a.Status != http.StatusOK || len(results) != 1 {
		return fmt.Errorf("invite %s: %v", p.email, a)
	}
	result, _ := results[0].(map[string]any)
	id, _ := result["invitationId"].(string)
	switch status := result["status"]; {
	case status == "invited":
		d.record(p, ack{command: "invite", email: p.email, id: id, position: a.position(), resumed: a.repeated()})
	case status == "already_invited" && a.repeated() && id != "":
		// The lost attempt wrote it; the answer names it.
		d.record(p, ack{command: "invite", email: p.email, id: id, resumed: true})
	default:
		return fmt.Errorf("invite %s: %v", p.email, a)
	}
	token, err := d.mail.await(ctx, "invitation-"+id+"-g1")
	if err != nil {
		return fmt.Errorf("invitation mail of %s: %w", p.email, err)
	}
	a, err = d.client.send(ctx, "POST", "/api/v1/invitations/"+url.PathEscape(token)+"/accept", "",
		map[string]string{"name": p.name, "password": d.password})
	if err != nil {
		return err
	}
	switch {
	case a.Status == http.StatusCreated:
		user, _ := a.Body["userId"].(string)
		d.record(p, ack{command: "accept", email: p.email, id: user, position: a.position(), resumed: a.repeated()})
	case a.Status == http.StatusGone && a.code() == domain.CodeInvitationUsed && a.repeated():
		p.tokenUsedBefore = true
	default:
		return fmt.Errorf("accept %s: %v", p.email, a)
	}
	return nil
}

func (d *crashDriver) registration(ctx context.Context, p *person) error {
	a, err := d.client.send(ctx, "POST", d.linkPath, "", map[string]string{"email": p.email, "name": p.name, "password": d.password})
	if err != nil {
		return err
	}
	id, _ := a.Body["registrationId"].(string)
	if a.Status != http.StatusAccepted || id == "" {
		return fmt.Errorf("join %s: %v", p.email, a)
	}
	d.record(p, ack{command: "join", email: p.email, id: id, position: a.position(), resumed: a.repeated()})
	token, err := d.mail.await(ctx, "verification-"+id+"-g1")
	if err != nil {
		return fmt.Errorf("verification mail of %s: %w", p.email, err)
	}
	a, err = d.client.send(ctx, "POST", "/api/v1/verify/"+url.PathEscape(token), "", nil)
	if err != nil {
		return err
	}
	switch {
	case a.Status == http.StatusCreated:
		user, _ := a.Body["userId"].(string)
		d.record(p, ack{command: "verify", email: p.email, id: user, position: a.position(), resumed: a.repeated()})
	case a.Status == http.StatusGone && a.code() == domain.CodeVerificationUsed && a.repeated():
		p.tokenUsedBefore = true
	default:
		return fmt.Errorf("verify %s: %v", p.email, a)
	}
	return nil
}

// mailbox hands the link tokens of mails to the flows waiting for them.
// Flows wait on any goroutine; poll, which reads Mailpit, runs on the
// test's goroutine.
type mailbox struct {
	mp   *smtptest.Mailpit
	base string // the portal's public URL: links start with it

	mu      sync.Mutex
	waiting map[string]chan string // mail key → its waiter
	first   map[string]string      // mail key → Mailpit id of its first copy
	seen    map[string]bool        // Mailpit ids listed so far
}

func newMailbox(mp *smtptest.Mailpit, base string) *mailbox {
	return &mailbox{
		mp: mp, base: base, waiting: map[string]chan string{}, first: map[string]string{}, seen: map[string]bool{},
	}
}

// mailKey is the part of a Message-ID before the '@': kind, aggregate id
// and token generation, the same for every copy of one mail.
func mailKey(messageID string) string {
	k, _, _ := strings.Cut(messageID, "@")
	return k
}

// await returns the link token of the mail with key.
func (m *mailbox) await(ctx context.Context, key string) (string, error) {
	ch := make(chan string, 1)
	m.mu.Lock()
	m.waiting[key] = ch
	m.mu.Unlock()
	select {
	case tok := <-ch:
		return tok, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// mailpitList is one page of Mailpit's message list, newest first.
type mailpitList struct {
	Total    int                       `json:"messages_count"`
	Messages []smtptest.MailpitMessage `json:"messages"`
}

// poll lists the mails that arrived since the last poll and hands the
// waiting flows their tokens.
func (m *mailbox) poll(t *testing.T) {
	t.Helper()
	var page mailpitList
	getMailpitJSON(t, m.mp, "/api/v1/messages?limit=1", &page)
	m.mu.Lock()
	known := len(m.seen)
	m.mu.Unlock()
	if page.Total > known {
		// Newest first: the new ones, and a margin for any that arrived
		// while listing.
		getMailpitJSON(t, m.mp, fmt.Sprintf("/api/v1/messages?limit=%d", page.Total-known+50), &page)
	}
	m.mu.Lock()
	for _, msg := range page.Messages {
		if m.seen[msg.ID] {
			continue
		}
		m.seen[msg.ID] = true
		k := mailKey(msg.MessageID)
		if _, ok := m.first[k]; !ok {
			m.first[k] = msg.ID
		}
	}
	ready := map[string]string{}
	for k := range m.waiting {
		if id, ok := m.first[k]; ok {
			ready[k] = id
		}
	}
	m.mu.Unlock()
	for k, id := range ready {
		path := "/invite"
		if strings.HasPrefix(k, "verification-") {
			path = "/verify"
		}
		token := smtptest.LinkToken(t, m.mp.Mail(t, id).Text, m.base+path)
		m.mu.Lock()
		m.waiting[k] <- token
		delete(m.waiting, k)
		m.mu.Unlock()
	}
}

func getMailpitJSON(t *testing.T, mp *smtptest.Mailpit, path string, into any) {
	t.Helper()
	resp, err := http.Get(mp.API() + path)
	if err != nil {
		t.Fatalf("mailpit GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("mailpit GET %s: %d %v", path, resp.StatusCode, err)
	}
}
