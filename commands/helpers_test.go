package commands_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/orgportal/onboarding/adapters/eventstoredb"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/commands/commandstest"
	"github.com/orgportal/onboarding/domain"
)

// One embedded event store serves the whole package; every test works in an
// organization (and email domain) of its own, so tests run in parallel.
var (
	sharedConn  *eventstoredb.Conn
	sharedCodec *eventstoredb.Codec
	sharedStore *eventstoredb.Store
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	es, err := commandstest.StartEventStore(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer es.Close()
	sharedConn, sharedCodec, sharedStore = es.Conn, es.Codec, es.Store
	return m.Run()
}

const (
	publicURL     = "https://portal.example.test"
	ownerPassword = "correct horse battery staple"
	goodPassword  = "a perfectly fine passphrase"
)

// env is one test's organization with its bootstrap owner signed in.
type env struct {
	t       *testing.T
	ctx     context.Context
	h       *commands.Handlers
	clock   *commandstest.Clock
	signers commands.TokenService
	org     domain.OrgID
	owner   domain.UserID
	domain  string // this test's email domain
	asOwner commands.Request
}

func newEnv(t *testing.T) *env {
	t.Helper()
	t.Parallel()
	return setupEnv(t)
}

// setupEnv builds an organization without marking the test parallel (for a
// second organization in one test).
func setupEnv(t *testing.T) *env {
	t.Helper()
	clock := commandstest.NewClock()
	signers := commandstest.TokenService(t, clock.Now())
	hasher := commandstest.Hasher(t)
	h, err := commands.New(commands.Deps{
		Store: sharedStore, Clock: clock.Now, Tokens: signers, Passwords: hasher,
		Config: commands.Config{PublicURL: publicURL + "/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	suffix := randomHex(6)
	e := &env{t: t, ctx: context.Background(), h: h, clock: clock, signers: signers,
		org: domain.OrgID("org-" + suffix), domain: "d" + suffix + ".test"}
	res, err := h.Bootstrap(e.ctx, commands.Request{CorrelationID: "boot-" + suffix}, commands.BootstrapInput{
		OrgID: e.org, OrgName: "Acme " + suffix, Email: e.addr("owner"), OwnerName: "Olivia Owner", Password: ownerPassword,
	})
	if err != nil || !res.Created {
		t.Fatalf("bootstrap: %+v %v", res, err)
	}
	e.owner = res.OwnerID
	e.asOwner = commands.Request{Actor: domain.UserActor(e.owner), CorrelationID: "req-" + suffix}
	return e
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// addr is an address in this test's own domain.
func (e *env) addr(local string) string { return local + "@" + e.domain }

func (e *env) as(user domain.UserID) commands.Request {
	return commands.Request{Actor: domain.UserActor(user), CorrelationID: "req-" + randomHex(4)}
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// wantErr checks an error's domain kind and code.
func wantErr(t *testing.T, err error, kind domain.Kind, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s/%s, got success", kind, code)
	}
	if domain.KindOf(err) != kind || domain.CodeOf(err) != code {
		t.Fatalf("want %s/%s, got %s/%s: %v", kind, code, domain.KindOf(err), domain.CodeOf(err), err)
	}
}

// wantFields checks that err lists exactly fields, each with a message.
func wantFields(t *testing.T, err error, fields ...string) {
	t.Helper()
	var de *domain.Error
	if !errors.As(err, &de) {
		t.Fatalf("want fields %v, got %v", fields, err)
	}
	got := slices.Sorted(maps.Keys(de.Fields))
	if !slices.Equal(got, fields) {
		t.Fatalf("fields %v, want %v: %v", got, fields, err)
	}
	for f, msg := range de.Fields {
		if msg == "" {
			t.Fatalf("field %s has no message: %v", f, err)
		}
	}
}

func (e *env) orgState() domain.OrganizationState {
	e.t.Helper()
	loaded, err := sharedStore.Load(e.ctx, domain.OrganizationStream(e.org))
	e.must(err)
	return domain.Fold(domain.OrganizationState{}, domain.EvolveOrganization, loaded.Events...)
}

func (e *env) events(stream domain.StreamName) []domain.Event {
	e.t.Helper()
	loaded, err := sharedStore.Load(e.ctx, stream)
	e.must(err)
	return loaded.Events
}

func (e *env) invitation(id domain.InvitationID) domain.InvitationState {
	return domain.Fold(domain.InvitationState{}, domain.EvolveInvitation, e.events(domain.InvitationStream(id))...)
}

func (e *env) account(id domain.UserID) domain.AccountState {
	return domain.Fold(domain.AccountState{}, domain.EvolveAccount, e.events(domain.UserStream(id))...)
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

func (e *env) linkToken() string {
	e.t.Helper()
	view, err := e.h.GetSelfServiceLink(e.ctx, e.asOwner, e.org)
	e.must(err)
	tok, ok := strings.CutPrefix(view.URL, publicURL+"/join/")
	if !ok {
		e.t.Fatalf("link url %q", view.URL)
	}
	return tok
}

// invite invites one address and returns the invitation id.
func (e *env) invite(email, role string) domain.InvitationID {
	e.t.Helper()
	res, err := e.h.InviteUsers(e.ctx, e.asOwner, commands.InviteUsersInput{OrgID: e.org, Emails: []string{email}, Role: role})
	e.must(err)
	if len(res.Results) != 1 || res.Results[0].Status != commands.InviteInvited {
		e.t.Fatalf("invite %s: %+v", email, res.Results)
	}
	return res.Results[0].InvitationID
}

// member invites and accepts, returning the new member's id.
func (e *env) member(local, role string) domain.UserID {
	e.t.Helper()
	id := e.invite(e.addr(local), role)
	res, err := e.h.AcceptInvitation(e.ctx, commands.Request{}, commands.AcceptInput{Token: e.invitationToken(id), Name: local, Password: goodPassword})
	e.must(err)
	return res.UserID
}

func (e *env) signIn(email, password string) (commands.SignInResult, error) {
	return e.h.SignIn(e.ctx, commands.Request{}, commands.SignInInput{Email: email, Password: password})
}
