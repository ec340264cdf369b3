package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/eventstoredb"
	"github.com/orgportal/onboarding/adapters/httpapi"
	"github.com/orgportal/onboarding/adapters/httpkit"
	"github.com/orgportal/onboarding/adapters/ratelimit"
	"github.com/orgportal/onboarding/adapters/web"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/commands/commandstest"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// One embedded event store serves the package; each test has its own
// organization, email domain and pages server, so tests run in parallel.
var sharedStore *eventstoredb.Store

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	es, err := commandstest.StartEventStore(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer es.Close()
	sharedStore = es.Store
	return m.Run()
}

const (
	publicURL     = "https://portal.example.test"
	ownerPassword = "correct horse battery staple"
	goodPassword  = "a perfectly fine passphrase"
)

// env is one test's organization, its owner, and a pages server over them.
type env struct {
	t       *testing.T
	clock   *commandstest.Clock
	signers commands.TokenService
	h       *commands.Handlers
	srv     *httptest.Server
	logs    *syncBuffer
	reader  *stubReader
	idsMu   sync.Mutex
	ids     []string // every id the commands generated, oldest first
	org     domain.OrgID
	owner   domain.UserID
	orgName string
	domain  string
}

type envOptions struct {
	cfg      web.Config
	limits   *ratelimit.Limits
	noReader bool
	withAPI  bool
}

type option func(*envOptions)

func withConfig(cfg web.Config) option { return func(o *envOptions) { o.cfg = cfg } }
func withoutReader() option            { return func(o *envOptions) { o.noReader = true } }
func withLimits(l ratelimit.Config) option {
	return func(o *envOptions) { o.limits = ratelimit.New(l) }
}

// withAPI serves the JSON API next to the pages on one engine, wired as
// portal serve wires them: the same limits, the API answering what no
// page takes.
func withAPI() option { return func(o *envOptions) { o.withAPI = true } }

// baseConfig is the tests' configuration. Rate limits are not part of it:
// without Deps.Limits nothing is limited, and the tests about limits give
// their own (withLimits).
var baseConfig = web.Config{SecureCookie: true}

func newEnv(t *testing.T, opts ...option) *env {
	t.Helper()
	t.Parallel()
	return setupEnv(t, opts...)
}

// setupEnv builds an organization without marking the test parallel (for
// a second one in the same test).
func setupEnv(t *testing.T, opts ...option) *env {
	t.Helper()
	o := envOptions{cfg: baseConfig}
	for _, opt := range opts {
		opt(&o)
	}
	clock := commandstest.NewClock()
	signers := commandstest.TokenService(t, clock.Now())
	e := &env{t: t, clock: clock, signers: signers, logs: &syncBuffer{}}
	h, err := commands.New(commands.Deps{Store: sharedStore, Clock: clock.Now, Tokens: signers, Passwords: commandstest.Hasher(t),
		IDs: e.newID, Config: commands.Config{PublicURL: publicURL}})
	must(t, err)
	suffix := randomHex(6)
	e.h, e.org, e.domain, e.orgName = h, domain.OrgID("org-"+suffix), "d"+suffix+".test", "Acme "+suffix
	res, err := h.Bootstrap(context.Background(), commands.Request{}, commands.BootstrapInput{
		OrgID: e.org, OrgName: e.orgName, Email: e.addr("owner"), OwnerName: "Olivia Owner", Password: ownerPassword,
	})
	if err != nil || !res.Created {
		t.Fatalf("bootstrap: %+v %v", res, err)
	}
	e.owner = res.OwnerID
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	deps := web.Deps{Commands: h, Clock: clock.Now, Config: o.cfg, Limits: o.limits, Logger: logger}
	if !o.noReader {
		e.reader = newStubReader()
		deps.Reader = e.reader
	}
	var engine *gin.Engine
	if o.withAPI {
		engine = httpkit.NewEngine()
		api, err := httpapi.New(httpapi.Deps{Commands: h, Clock: clock.Now, Config: httpapi.Config{SecureCookie: o.cfg.SecureCookie},
			Limits: o.limits, Logger: logger})
		must(t, err)
		api.Mount(engine)
		deps.Fallback = api.Unmatched
	}
	pages, err := web.New(deps)
	must(t, err)
	if engine != nil {
		pages.Mount(engine)
	} else {
		engine = pages.Handler()
	}
	e.srv = httptest.NewServer(engine)
	t.Cleanup(e.srv.Close)
	return e
}

// newID makes the commands' ids and remembers them, so that a test finds
// the registration a form started.
func (e *env) newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	e.idsMu.Lock()
	defer e.idsMu.Unlock()
	e.ids = append(e.ids, id)
	return id
}

// registrationOf finds the registration started for an address.
func (e *env) registrationOf(email string) domain.RegistrationID {
	e.t.Helper()
	e.idsMu.Lock()
	ids := append([]string(nil), e.ids...)
	e.idsMu.Unlock()
	for _, id := range ids {
		reg := domain.Fold(domain.RegistrationState{}, domain.EvolveRegistration, e.events(domain.RegistrationStream(domain.RegistrationID(id)))...)
		if reg.Exists() && reg.Email == email {
			return reg.ID
		}
	}
	e.t.Fatalf("no registration for %s", email)
	return ""
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (e *env) addr(local string) string { return local + "@" + e.domain }

// browser is a cookie-keeping client that does not follow redirects, so
// that tests see each answer; like a browser with script switched off.
type browser struct {
	e      *env
	client *http.Client
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	must(e.t, err)
	return &browser{e: e, client: &http.Client{
		Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// page is an answer with its body.
type page struct {
	Status int
	Header http.Header
	Body   string
	URL    string
}

func (b *browser) do(method, path string, form url.Values, header map[string]string) page {
	b.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.e.srv.URL+path, body)
	must(b.e.t, err)
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.client.Do(req)
	must(b.e.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	must(b.e.t, err)
	return page{Status: resp.StatusCode, Header: resp.Header, Body: string(raw), URL: path}
}

func (b *browser) get(path string) page { return b.do("GET", path, nil, nil) }

func (b *browser) post(path string, form url.Values) page { return b.do("POST", path, form, nil) }

// submit loads the page at path, takes the CSRF token of the form that
// posts to action, and posts values with it, as a person filling in the
// form does.
func (b *browser) submit(path, action string, values url.Values) page {
	b.e.t.Helper()
	pg := b.get(path)
	if pg.Status != http.StatusOK {
		b.e.t.Fatalf("GET %s: %d\n%s", path, pg.Status, pg.Body)
	}
	out := url.Values{"csrf_token": {pg.formToken(b.e.t, action)}}
	for k, v := range values {
		out[k] = v
	}
	return b.post(action, out)
}

var formRE = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)"[^>]*>(.*?)</form>`)
var tokenRE = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)

// formToken is the CSRF token of the form that posts to action.
func (p page) formToken(t testing.TB, action string) string {
	t.Helper()
	for _, m := range formRE.FindAllStringSubmatch(p.Body, -1) {
		if html.UnescapeString(m[1]) == action {
			if tok := tokenRE.FindStringSubmatch(m[2]); tok != nil {
				return tok[1]
			}
		}
	}
	t.Fatalf("%s has no form posting to %s with a token:\n%s", p.URL, action, p.Body)
	return ""
}

// text is the page's body with tags removed and space collapsed, for
// checks of what a person reads.
func (p page) text() string {
	s := regexp.MustCompile(`(?s)<script.*?</script>|<[^>]+>`).ReplaceAllString(p.Body, " ")
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

func (p page) want(t testing.TB, status int, texts ...string) page {
	t.Helper()
	if p.Status != status {
		t.Fatalf("%s: status %d, want %d\n%s", p.URL, p.Status, status, p.text())
	}
	for _, s := range texts {
		if !strings.Contains(p.text(), s) {
			t.Fatalf("%s: the page does not say %q:\n%s", p.URL, s, p.text())
		}
	}
	return p
}

func (p page) location(t testing.TB) string {
	t.Helper()
	if p.Status != http.StatusSeeOther {
		t.Fatalf("%s: status %d, want a 303 redirect\n%s", p.URL, p.Status, p.text())
	}
	return p.Header.Get("Location")
}

// cookie returns the Set-Cookie of the answer with the given name.
func (p page) cookie(name string) *http.Cookie {
	for _, c := range (&http.Response{Header: p.Header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// signIn signs the owner (or anyone) in through the sign-in form.
func (b *browser) signIn(email, password string) {
	b.e.t.Helper()
	pg := b.submit("/sign-in", "/sign-in", url.Values{"email": {email}, "password": {password}})
	if loc := pg.location(b.e.t); loc != "/" {
		b.e.t.Fatalf("sign-in redirected to %q", loc)
	}
}

func (e *env) ownerBrowser() *browser {
	b := e.browser()
	b.signIn(e.addr("owner"), ownerPassword)
	return b
}

func (e *env) events(stream domain.StreamName) []domain.Event {
	e.t.Helper()
	loaded, err := sharedStore.Load(context.Background(), stream)
	must(e.t, err)
	return loaded.Events
}

func (e *env) orgState() domain.OrganizationState {
	return domain.Fold(domain.OrganizationState{}, domain.EvolveOrganization, e.events(domain.OrganizationStream(e.org))...)
}

func (e *env) invitationToken(id domain.InvitationID) string {
	return commandstest.InvitationToken(e.t, sharedStore, e.signers, id)
}

func (e *env) verificationToken(id domain.RegistrationID) string {
	return commandstest.VerificationToken(e.t, sharedStore, e.signers, id)
}

func (e *env) passwordToken(signer commands.TokenSigner, user domain.UserID) string {
	return commandstest.PasswordToken(e.t, sharedStore, signer, user)
}

func (e *env) asOwner() commands.Request {
	return commands.Request{Actor: domain.UserActor(e.owner)}
}

func (e *env) linkToken() string {
	e.t.Helper()
	v, err := e.h.GetSelfServiceLink(context.Background(), e.asOwner(), e.org)
	must(e.t, err)
	tok, ok := strings.CutPrefix(v.URL, publicURL+"/join/")
	if !ok {
		e.t.Fatalf("link URL %q", v.URL)
	}
	return tok
}

// invite invites one address through the commands.
func (e *env) invite(email, role string) domain.InvitationID {
	e.t.Helper()
	res, err := e.h.InviteUsers(context.Background(), e.asOwner(), commands.InviteUsersInput{OrgID: e.org, Emails: []string{email}, Role: role})
	must(e.t, err)
	if len(res.Results) != 1 || res.Results[0].Status != commands.InviteInvited {
		e.t.Fatalf("invite %s: %+v", email, res.Results)
	}
	return res.Results[0].InvitationID
}

// member invites and accepts through the commands.
func (e *env) member(local, role string) domain.UserID {
	e.t.Helper()
	id := e.invite(e.addr(local), role)
	res, err := e.h.AcceptInvitation(context.Background(), commands.Request{},
		commands.AcceptInput{Token: e.invitationToken(id), Name: local, Password: goodPassword})
	must(e.t, err)
	return res.UserID
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// stubReader stands in for the Mongo read models (another package builds
// them over the event stream): rows set by the test, a position it moves,
// and the queries it was asked, to check what the pages ask for.
type stubReader struct {
	mu          sync.Mutex
	position    uint64
	unavailable bool
	users       []readmodels.User
	invitations []readmodels.Invitation
	audit       []readmodels.AuditEntry
	usersQ      []readmodels.UsersQuery
	auditQ      []readmodels.AuditQuery
	// queriedAt is the position when Users was last asked: a page that
	// waits for a change reads only after the read models passed it.
	queriedAt uint64
}

func newStubReader() *stubReader { return &stubReader{} }

func (s *stubReader) set(f func(*stubReader)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *stubReader) lastUsersQuery() readmodels.UsersQuery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usersQ[len(s.usersQ)-1]
}

func (s *stubReader) lastAuditQuery() readmodels.AuditQuery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.auditQ[len(s.auditQ)-1]
}

func (s *stubReader) Users(_ context.Context, q readmodels.UsersQuery) (readmodels.UsersPage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unavailable {
		return readmodels.UsersPage{}, readmodels.ErrUnavailable
	}
	s.usersQ = append(s.usersQ, q)
	s.queriedAt = s.position
	if q.Cursor == "bad" {
		return readmodels.UsersPage{}, readmodels.ErrBadCursor
	}
	page := readmodels.UsersPage{Counts: map[readmodels.UserStatus]int{}}
	for _, u := range s.users {
		if u.OrgID != q.OrgID {
			continue
		}
		page.Counts[u.Status]++
		if q.Status == "" || u.Status == q.Status {
			page.Items = append(page.Items, u)
		}
	}
	if len(page.Items) > 0 {
		page.NextCursor = "next-page"
	}
	return page, nil
}

func (s *stubReader) User(_ context.Context, org domain.OrgID, user domain.UserID) (readmodels.User, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if u.OrgID == org && u.UserID == user {
			return u, true, nil
		}
	}
	return readmodels.User{}, false, nil
}

func (s *stubReader) InvitedBy(_ context.Context, org domain.OrgID, user domain.UserID) ([]readmodels.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []readmodels.User
	for _, u := range s.users {
		if u.OrgID == org && u.InvitedBy != nil && u.InvitedBy.UserID == user {
			out = append(out, u)
		}
	}
	return out, nil
}

func (s *stubReader) Invitations(_ context.Context, q readmodels.InvitationsQuery) (readmodels.InvitationsPage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var page readmodels.InvitationsPage
	for _, inv := range s.invitations {
		if inv.OrgID == q.OrgID {
			inv.Status = inv.StatusAt(q.Now)
			page.Items = append(page.Items, inv)
		}
	}
	return page, nil
}

func (s *stubReader) Audit(_ context.Context, q readmodels.AuditQuery) (readmodels.AuditPage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auditQ = append(s.auditQ, q)
	var page readmodels.AuditPage
	for _, a := range s.audit {
		if a.OrgID == q.OrgID && (q.Action == "" || a.Action == q.Action) && (q.Actor == "" || a.Actor == q.Actor) &&
			(q.Subject == "" || a.Subject == q.Subject) {
			page.Items = append(page.Items, a)
		}
	}
	return page, nil
}

func (s *stubReader) AwaitUsers(ctx context.Context, _ domain.OrgID, token uint64) (uint64, error) {
	return s.AwaitPosition(ctx, token, readmodels.UsersBase)
}

func (s *stubReader) AwaitPosition(ctx context.Context, token uint64, models ...string) (uint64, error) {
	position := func(ctx context.Context) (uint64, error) { return s.Position(ctx, models...) }
	return readmodels.PollPosition(ctx, position, token, 5*time.Millisecond)
}

func (s *stubReader) Position(context.Context, ...string) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unavailable {
		return 0, readmodels.ErrUnavailable
	}
	return s.position, nil
}

// regexpFind returns the first match of pattern in s, or "".
func regexpFind(s, pattern string) string { return regexp.MustCompile(pattern).FindString(s) }
