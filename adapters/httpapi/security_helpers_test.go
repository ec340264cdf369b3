package httpapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"

	"github.com/orgportal/onboarding/adapters/httpapi"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/commands/commandstest"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/mail"
)

// tenant is a second organization on an env's own command handlers and
// token keys, as every organization of one portal shares them: its owner's
// session is valid on the env's API, only not for the env's organization.
type tenant struct {
	org, name, domain, owner, ownerToken string
}

func (e *env) otherTenant() tenant {
	e.t.Helper()
	suffix := randomHex(6)
	t := tenant{org: "org-" + suffix, name: "Other " + suffix, domain: "o" + suffix + ".test"}
	res, err := e.h.Bootstrap(context.Background(), commands.Request{}, commands.BootstrapInput{
		OrgID: domain.OrgID(t.org), OrgName: t.name, Email: "owner@" + t.domain, OwnerName: "Otto Other", Password: ownerPassword,
	})
	if err != nil || !res.Created {
		e.t.Fatalf("bootstrap another organization: %+v %v", res, err)
	}
	t.owner = string(res.OwnerID)
	t.ownerToken = e.signIn("owner@"+t.domain, ownerPassword)
	return t
}

// inviteInto invites local@ the tenant's domain as the tenant's owner and
// returns the invitation id.
func (e *env) inviteInto(t tenant, local string) string {
	e.t.Helper()
	r := e.do(req{Method: "POST", Path: "/orgs/" + t.org + "/invitations", Token: t.ownerToken,
		Body: map[string]any{"emails": []string{local + "@" + t.domain}}})
	id, _ := r.Body["results"].([]any)[0].(map[string]any)["invitationId"].(string)
	if r.Status != 200 || id == "" {
		e.t.Fatalf("invite into %s: %d %s", t.org, r.Status, r.Raw)
	}
	return id
}

// withCommands returns a copy of the env whose API runs over command
// handlers with another configuration (the same store, keys, clock and
// hasher, so the organization and its sessions carry over).
func (e *env) withCommands(cfg commands.Config) *env {
	e.t.Helper()
	if cfg.PublicURL == "" {
		cfg.PublicURL = publicURL
	}
	h, err := commands.New(commands.Deps{Store: sharedStore, Clock: e.clock.Now, Tokens: e.signers, Passwords: commandstest.Hasher(e.t), Config: cfg})
	must(e.t, err)
	api, err := httpapi.New(httpapi.Deps{Commands: h, Clock: e.clock.Now, Config: baseConfig, Logger: e.logger()})
	must(e.t, err)
	c := *e
	c.h = h
	c.srv = httptest.NewServer(api.Handler())
	e.t.Cleanup(c.srv.Close)
	return &c
}

// sendHostHeader makes the env's client send a Host header given in
// req.Header as the request's Host (net/http otherwise ignores it), so
// tests can forge it like any client on the network can.
func (e *env) sendHostHeader() {
	c := e.srv.Client()
	c.Transport = hostFromHeader{c.Transport}
}

type hostFromHeader struct{ next http.RoundTripper }

func (h hostFromHeader) RoundTrip(r *http.Request) (*http.Response, error) {
	if host := r.Header.Get("Host"); host != "" {
		r = r.Clone(r.Context())
		r.Host = host
		r.Header.Del("Host")
	}
	return h.next.RoundTrip(r)
}

// capturedMail keeps every message the mail reactor renders, in memory.
type capturedMail struct {
	mu   sync.Mutex
	msgs []mail.Message
}

func (m *capturedMail) Send(_ context.Context, msg mail.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, msg)
	return nil
}

func (m *capturedMail) all() []mail.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]mail.Message(nil), m.msgs...)
}

// mailer is the real mail reactor over the env's event store and token
// keys, sending into memory; its log goes to the env's log buffer, which
// the tests search for secrets.
func (e *env) mailer() (*mail.Reactor, *capturedMail) {
	e.t.Helper()
	out := &capturedMail{}
	r, err := mail.New(mail.Deps{Store: sharedStore, Tokens: e.signers, Mailer: out, Clock: e.clock.Now,
		PublicURL: publicURL, Logger: e.logger()})
	must(e.t, err)
	return r, out
}

// deliver hands the reactor every event of the streams, as the router
// would, and returns the mails it sent.
func (e *env) deliver(r *mail.Reactor, out *capturedMail, streams ...domain.StreamName) []mail.Message {
	e.t.Helper()
	before := len(out.all())
	for _, s := range streams {
		for i, ev := range e.events(s) {
			if err := r.Handle(context.Background(), ev, mail.Cause{EventID: fmt.Sprintf("%s#%d", s, i)}); err != nil {
				e.t.Fatalf("mail reactor on %s: %v", s, err)
			}
		}
	}
	return out.all()[before:]
}

func (e *env) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
