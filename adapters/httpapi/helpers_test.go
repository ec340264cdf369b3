package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/orgportal/onboarding/adapters/eventstoredb"
	"github.com/orgportal/onboarding/adapters/httpapi"
	"github.com/orgportal/onboarding/adapters/ratelimit"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/commands/commandstest"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// One embedded event store serves the package; each test has its own
// organization, email domain and API instance, so tests run in parallel.
var (
	sharedConn  *eventstoredb.Conn
	sharedStore *eventstoredb.Store
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	es, err := commandstest.StartEventStore(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer es.Close()
	sharedConn, sharedStore = es.Conn, es.Store
	return m.Run()
}

func dialStore(ctx context.Context, connStr string) (*eventstoredb.Conn, *eventstoredb.Store, error) {
	conn, err := eventstoredb.Dial(ctx, connStr, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, nil, err
	}
	_, store, err := eventstoredb.ForDomain(conn)
	return conn, store, err
}

const (
	publicURL     = "https://portal.example.test"
	ownerPassword = "correct horse battery staple"
	goodPassword  = "a perfectly fine passphrase"
)

// baseConfig is the tests' configuration. Rate limits are not part of it:
// without Deps.Limits nothing is limited, and the tests about limits give
// their own (withLimits).
var baseConfig = httpapi.Config{SecureCookie: true}

// env is one test's organization, its owner, and an API server over them.
type env struct {
	t       *testing.T
	clock   *commandstest.Clock
	signers commands.TokenService
	h       *commands.Handlers
	srv     *httptest.Server
	logs    *syncBuffer
	org     string
	owner   string
	orgName string
	domain  string
}

type option func(*envOptions)

type envOptions struct {
	cfg        httpapi.Config
	limits     *ratelimit.Limits
	store      commands.EventStore
	orgName    string
	readModels readmodels.Reader
}

func withConfig(cfg httpapi.Config) option { return func(o *envOptions) { o.cfg = cfg } }
func withLimits(l ratelimit.Config) option {
	return func(o *envOptions) { o.limits = ratelimit.New(l) }
}
func withStore(s commands.EventStore) option {
	return func(o *envOptions) { o.store = s }
}
func withOrgName(name string) option { return func(o *envOptions) { o.orgName = name } }
func withReadModels(r readmodels.Reader) option {
	return func(o *envOptions) { o.readModels = r }
}

func newEnv(t *testing.T, opts ...option) *env {
	t.Helper()
	o := envOptions{cfg: baseConfig, store: sharedStore}
	for _, opt := range opts {
		opt(&o)
	}
	clock := commandstest.NewClock()
	signers := commandstest.TokenService(t, clock.Now())
	hasher := commandstest.Hasher(t)
	h, err := commands.New(commands.Deps{Store: o.store, Clock: clock.Now, Tokens: signers, Passwords: hasher,
		Config: commands.Config{PublicURL: publicURL}})
	must(t, err)

	suffix := randomHex(6)
	e := &env{t: t, clock: clock, signers: signers, h: h, logs: &syncBuffer{},
		org: "org-" + suffix, domain: "d" + suffix + ".test", orgName: "Acme " + suffix}
	if o.orgName != "" {
		e.orgName = o.orgName
	}
	res, err := h.Bootstrap(context.Background(), commands.Request{}, commands.BootstrapInput{
		OrgID: domain.OrgID(e.org), OrgName: e.orgName, Email: e.addr("owner"), OwnerName: "Olivia Owner", Password: ownerPassword,
	})
	if err != nil || !res.Created {
		t.Fatalf("bootstrap: %+v %v", res, err)
	}
	e.owner = string(res.OwnerID)

	api, err := httpapi.New(httpapi.Deps{Commands: h, Clock: clock.Now, Config: o.cfg, Limits: o.limits, ReadModels: o.readModels, History: sharedStore,
		Logger: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	must(t, err)
	e.srv = httptest.NewServer(api.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

func must(t *testing.T, err error) {
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

// reply is an answer with its JSON body decoded.
type reply struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

func (r reply) str(key string) string { s, _ := r.Body[key].(string); return s }

// req describes a request; Body is marshalled as JSON unless RawBody is set.
type req struct {
	Method, Path string
	Token        string
	Body         any
	RawBody      string
	Header       map[string]string
}

func (e *env) do(r req) reply {
	e.t.Helper()
	var body io.Reader
	if r.RawBody != "" {
		body = strings.NewReader(r.RawBody)
	} else if r.Body != nil {
		b, err := json.Marshal(r.Body)
		must(e.t, err)
		body = bytes.NewReader(b)
	}
	hr, err := http.NewRequest(r.Method, e.srv.URL+httpapi.BasePath+r.Path, body)
	must(e.t, err)
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for k, v := range r.Header {
		hr.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(hr)
	must(e.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	must(e.t, err)
	out := reply{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			e.t.Fatalf("%s %s: answer is not a JSON object: %v\n%s", r.Method, r.Path, err, raw)
		}
	}
	return out
}

// want checks an answer's status and, for problems, its code and media type.
func (e *env) want(r reply, status int, code string) reply {
	e.t.Helper()
	if r.Status != status {
		e.t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	if status >= 400 {
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			e.t.Errorf("problem Content-Type = %q", ct)
		}
		if r.str("code") != code {
			e.t.Fatalf("code %q, want %q: %s", r.str("code"), code, r.Raw)
		}
		if r.str("type") != "urn:orgportal:problem:"+code || r.Body["status"] != float64(status) || r.str("title") == "" || r.str("detail") == "" {
			e.t.Errorf("incomplete problem document: %s", r.Raw)
		}
	}
	if r.Header.Get(httpapi.RequestIDHeader) == "" {
		e.t.Errorf("no %s header", httpapi.RequestIDHeader)
	}
	return r
}

// wantWrite checks a successful write's status and its consistency token.
func (e *env) wantWrite(r reply, status int) reply {
	e.t.Helper()
	e.want(r, status, "")
	pos, ok := r.Body["position"].(float64)
	if !ok {
		e.t.Fatalf("write without position: %s", r.Raw)
	}
	if got := r.Header.Get(httpapi.ConsistencyHeader); got != strconv.FormatUint(uint64(pos), 10) {
		e.t.Errorf("%s = %q, body position %v", httpapi.ConsistencyHeader, got, pos)
	}
	if pos <= 0 {
		e.t.Errorf("a write that changed something answered position %v", pos)
	}
	return r
}

func (e *env) signIn(email, password string) string {
	e.t.Helper()
	r := e.wantWrite(e.do(req{Method: "POST", Path: "/session", Body: map[string]string{"email": email, "password": password}}), 200)
	return r.str("token")
}

func (e *env) ownerToken() string { return e.signIn(e.addr("owner"), ownerPassword) }

func (e *env) events(stream domain.StreamName) []domain.Event {
	e.t.Helper()
	loaded, err := sharedStore.Load(context.Background(), stream)
	must(e.t, err)
	return loaded.Events
}

func (e *env) invitationToken(id string) string {
	return commandstest.InvitationToken(e.t, sharedStore, e.signers, domain.InvitationID(id))
}

func (e *env) verificationToken(id string) string {
	return commandstest.VerificationToken(e.t, sharedStore, e.signers, domain.RegistrationID(id))
}

func (e *env) passwordSetupToken(user string) string {
	return commandstest.PasswordToken(e.t, sharedStore, e.signers.PasswordSetup, domain.UserID(user))
}

func (e *env) passwordResetToken(user string) string {
	return commandstest.PasswordToken(e.t, sharedStore, e.signers.PasswordReset, domain.UserID(user))
}

// invite invites addresses as the owner and returns the results.
func (e *env) invite(token string, emails any, role string) []map[string]any {
	e.t.Helper()
	body := map[string]any{"emails": emails}
	if role != "" {
		body["role"] = role
	}
	r := e.do(req{Method: "POST", Path: "/orgs/" + e.org + "/invitations", Token: token, Body: body})
	if r.Status != 200 {
		e.t.Fatalf("invite: %d %s", r.Status, r.Raw)
	}
	var out []map[string]any
	for _, x := range r.Body["results"].([]any) {
		out = append(out, x.(map[string]any))
	}
	return out
}

// member invites and accepts one address, returning the new user's id.
func (e *env) member(ownerToken, local, role string) string {
	e.t.Helper()
	res := e.invite(ownerToken, e.addr(local), role)
	id, _ := res[0]["invitationId"].(string)
	r := e.wantWrite(e.do(req{Method: "POST", Path: "/invitations/" + e.invitationToken(id) + "/accept",
		Body: map[string]string{"name": local, "password": goodPassword}}), 201)
	return r.str("userId")
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
