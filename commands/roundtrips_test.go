package commands_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// callCountingStore counts the event store calls made through it, per
// call and stream category ("Load organization", "Append invitation", …).
type callCountingStore struct {
	commands.EventStore
	mu    sync.Mutex
	calls map[string]int
}

func newCallCountingStore() *callCountingStore {
	return &callCountingStore{EventStore: sharedStore, calls: map[string]int{}}
}

func (s *callCountingStore) count(call string, stream domain.StreamName) {
	category, _, _ := strings.Cut(string(stream), "-")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[call+" "+category]++
}

// take returns the counts since the last take and starts over.
func (s *callCountingStore) take() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = map[string]int{}
	return c
}

func (s *callCountingStore) Load(ctx context.Context, stream domain.StreamName) (commands.Loaded, error) {
	s.count("Load", stream)
	return s.EventStore.Load(ctx, stream)
}

func (s *callCountingStore) LoadFrom(ctx context.Context, stream domain.StreamName, after commands.Revision) (commands.Loaded, error) {
	s.count("LoadFrom", stream)
	return s.EventStore.LoadFrom(ctx, stream, after)
}

func (s *callCountingStore) Append(ctx context.Context, stream domain.StreamName, expected commands.Revision, meta commands.Metadata, events ...domain.Event) (commands.Position, error) {
	s.count("Append", stream)
	return s.EventStore.Append(ctx, stream, expected, meta, events...)
}

func reads(calls map[string]int) int {
	n := 0
	for call, c := range calls {
		if strings.HasPrefix(call, "Load") {
			n += c
		}
	}
	return n
}

func sameCalls(t *testing.T, what string, got, want map[string]int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: event store calls %v, want %v", what, got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s: event store calls %v, want %v", what, got, want)
		}
	}
}

// An invitation of one new address, as the HTTP API runs it (authenticate,
// authorize, invite), reads the organization once and appends the hold
// and the invitation: a stream whose id was just generated, or that an
// address never invited has not got, is not read before its append, and
// the session of a user who signed in a moment ago is not read again.
// Before, the same request made six reads: the session, the account, the
// organization twice, the membership and the new invitation.
func TestInviteRoundTrips(t *testing.T) {
	e := newEnv(t)
	store := newCallCountingStore()
	h := e.handlers(store, commands.Config{})
	signedIn, err := h.SignIn(e.ctx, commands.Request{}, commands.SignInInput{Email: e.addr("owner"), Password: ownerPassword})
	e.must(err)
	sameCalls(t, "sign-in", store.take(), map[string]int{
		"Load login": 1, "Load user": 1, "Append session": 1,
	})

	request := func(email string) (commands.InviteResult, error) {
		p, err := h.Authenticate(e.ctx, signedIn.Token)
		if err != nil {
			return commands.InviteResult{}, err
		}
		actor := domain.UserActor(p.UserID)
		grant, err := h.GrantAdmin(e.ctx, p.OrgID, actor)
		if err != nil {
			return commands.InviteResult{}, err
		}
		return h.InviteUsers(commands.WithAdminGrant(e.ctx, grant), commands.Request{Actor: actor},
			commands.InviteUsersInput{OrgID: p.OrgID, Emails: []string{email}})
	}

	// The first request reads the session, the account and the whole
	// organization (nothing is cached yet).
	_, err = request(e.addr("first"))
	e.must(err)
	sameCalls(t, "first request", store.take(), map[string]int{
		"Load session": 1, "Load user": 1, "Load organization": 1,
		"Append membership": 1, "Append invitation": 1,
	})
	for i := range 3 {
		res, err := request(e.addr("new" + string(rune('a'+i))))
		e.must(err)
		if res.Results[0].Status != commands.InviteInvited {
			t.Fatalf("%+v", res.Results)
		}
		sameCalls(t, "next request", store.take(), map[string]int{
			"LoadFrom organization": 1, "Append membership": 1, "Append invitation": 1,
		})
	}

	// An address invited before: the hold's guess is refused, and the
	// membership is read (then the pending invitation, to answer
	// already_invited).
	res, err := request(e.addr("first"))
	e.must(err)
	if res.Results[0].Status != commands.InviteAlreadyInvited {
		t.Fatalf("%+v", res.Results)
	}
	sameCalls(t, "repeated address", store.take(), map[string]int{
		"LoadFrom organization": 1, "Append membership": 1, "Load membership": 1, "Load invitation": 1,
	})
}

// The grant saves the use case a read, but not the check: an admin
// demoted between the authorization and the decision is refused, whether
// the demotion went through the same handlers (the newer state they know
// is used) or through another process (a decision on the organization's
// stream reloads it and appends with its revision).
func TestAdminGrantDoesNotOutliveDemotion(t *testing.T) {
	e := newEnv(t)
	admin := e.member("adam", "admin")
	asAdmin := e.as(admin)

	grant, err := e.h.GrantAdmin(e.ctx, e.org, asAdmin.Actor)
	e.must(err)
	ctx := commands.WithAdminGrant(e.ctx, grant)
	_, err = e.h.ChangeMemberRole(e.ctx, e.asOwner, e.org, admin, "member")
	e.must(err)
	_, err = e.h.InviteUsers(ctx, asAdmin, commands.InviteUsersInput{OrgID: e.org, Emails: []string{e.addr("x")}})
	wantErr(t, err, domain.KindForbidden, domain.CodeNotAnAdmin)

	// Another process demotes; a decision on the organization's stream
	// made with a grant from before is still refused.
	_, err = e.h.ChangeMemberRole(e.ctx, e.asOwner, e.org, admin, "admin")
	e.must(err)
	member := e.member("mia", "member")
	grant, err = e.h.GrantAdmin(e.ctx, e.org, asAdmin.Actor)
	e.must(err)
	other := e.handlers(sharedStore, commands.Config{})
	_, err = other.ChangeMemberRole(e.ctx, e.asOwner, e.org, admin, "member")
	e.must(err)
	_, err = e.h.ChangeMemberRole(commands.WithAdminGrant(e.ctx, grant), asAdmin, e.org, member, "admin")
	wantErr(t, err, domain.KindForbidden, domain.CodeNotAnAdmin)
	_, err = e.h.RemoveMember(commands.WithAdminGrant(e.ctx, grant), asAdmin, e.org, member)
	wantErr(t, err, domain.KindForbidden, domain.CodeNotAnAdmin)
	if m, ok := e.orgState().Member(member); !ok || m.Role != domain.RoleMember {
		t.Fatalf("the demoted admin changed the roster: %+v %v", m, ok)
	}
}

// holdFirstStore holds back every read of an organization until an
// address has been held through it, so that a grant issued ahead is
// confirmed only after the invitation went ahead.
type holdFirstStore struct {
	*callCountingStore
	held chan struct{}
	once sync.Once
}

func newHoldFirstStore() *holdFirstStore {
	return &holdFirstStore{callCountingStore: newCallCountingStore(), held: make(chan struct{})}
}

func (s *holdFirstStore) LoadFrom(ctx context.Context, stream domain.StreamName, after commands.Revision) (commands.Loaded, error) {
	if strings.HasPrefix(string(stream), "organization-") {
		select {
		case <-s.held:
		case <-ctx.Done():
			return commands.Loaded{}, ctx.Err()
		}
	}
	return s.callCountingStore.LoadFrom(ctx, stream, after)
}

func (s *holdFirstStore) Append(ctx context.Context, stream domain.StreamName, expected commands.Revision, meta commands.Metadata, events ...domain.Event) (commands.Position, error) {
	pos, err := s.callCountingStore.Append(ctx, stream, expected, meta, events...)
	if strings.HasPrefix(string(stream), "membership-") {
		s.once.Do(func() { close(s.held) })
	}
	return pos, err
}

// An admin these handlers saw a moment ago is granted ahead of the read
// that confirms the role: the invitation makes the same calls as with a
// grant read first, the read overlapping the hold. An admin demoted by
// another process since is granted ahead too, but no invitation is
// written, the hold is released, and the answer is the refusal, also for
// a request whose fields are invalid. The refusal is remembered: the next
// request of the demoted admin is refused before anything happens.
func TestInviteAheadOfTheRoleCheck(t *testing.T) {
	e := newEnv(t)
	admin := e.member("ada", "admin")
	asAdmin := e.as(admin)

	counted := newCallCountingStore()
	h := e.handlers(counted, commands.Config{})
	_, err := h.GrantAdmin(e.ctx, e.org, asAdmin.Actor)
	e.must(err)
	counted.take()
	grant, err := h.GrantAdminAhead(e.ctx, e.org, asAdmin.Actor)
	e.must(err)
	if !commands.GrantIsAhead(grant) {
		t.Fatal("the handlers know the admin, but the grant was not issued ahead of its read")
	}
	res, err := h.InviteUsers(commands.WithAdminGrant(e.ctx, grant), asAdmin, commands.InviteUsersInput{OrgID: e.org, Emails: []string{e.addr("one")}})
	e.must(err)
	if res.Results[0].Status != commands.InviteInvited {
		t.Fatalf("%+v", res.Results)
	}
	sameCalls(t, "invitation granted ahead", counted.take(), map[string]int{
		"LoadFrom organization": 1, "Append membership": 1, "Append invitation": 1,
	})

	// Two processes that saw ada administer; a third demotes her.
	gated := newHoldFirstStore()
	stale := e.handlers(gated, commands.Config{})
	staleToo := e.handlers(sharedStore, commands.Config{})
	for _, p := range []*commands.Handlers{stale, staleToo} {
		_, err := p.GrantAdmin(e.ctx, e.org, asAdmin.Actor)
		e.must(err)
	}
	_, err = e.h.ChangeMemberRole(e.ctx, e.asOwner, e.org, admin, "member")
	e.must(err)
	gated.take()

	grant, err = stale.GrantAdminAhead(e.ctx, e.org, asAdmin.Actor)
	e.must(err)
	if !commands.GrantIsAhead(grant) {
		t.Fatal("the stale handlers' grant was not issued ahead of its read")
	}
	ctx := commands.WithAdminGrant(e.ctx, grant)
	_, err = stale.InviteUsers(ctx, asAdmin, commands.InviteUsersInput{OrgID: e.org, Emails: []string{e.addr("x")}})
	wantErr(t, err, domain.KindForbidden, domain.CodeNotAnAdmin)
	wantErr(t, commands.ConfirmGrant(ctx), domain.KindForbidden, domain.CodeNotAnAdmin)
	sameCalls(t, "refused ahead", gated.take(), map[string]int{
		// The hold; then, refused, the release, which loads the address first.
		"LoadFrom organization": 1, "Append membership": 2, "Load membership": 1,
	})
	email, err := domain.ParseEmail(e.addr("x"))
	e.must(err)
	guard := domain.Fold(domain.MembershipState{}, domain.EvolveMembership, e.events(domain.MembershipStream(e.org, email))...)
	if guard.Status != domain.MembershipFree {
		t.Fatalf("the refused invitation left the address %+v", guard)
	}
	_, err = stale.GrantAdminAhead(e.ctx, e.org, asAdmin.Actor)
	wantErr(t, err, domain.KindForbidden, domain.CodeNotAnAdmin)

	// Invalid fields: the refusal is still the answer.
	grant, err = staleToo.GrantAdminAhead(e.ctx, e.org, asAdmin.Actor)
	e.must(err)
	if !commands.GrantIsAhead(grant) {
		t.Fatal("the second stale handlers' grant was not issued ahead of its read")
	}
	_, err = staleToo.InviteUsers(commands.WithAdminGrant(e.ctx, grant), asAdmin, commands.InviteUsersInput{OrgID: e.org, Emails: []string{e.addr("y")}, Role: "emperor"})
	wantErr(t, err, domain.KindForbidden, domain.CodeNotAnAdmin)

	// The address the refused request held is free at once.
	res, err = e.h.InviteUsers(e.ctx, e.asOwner, commands.InviteUsersInput{OrgID: e.org, Emails: []string{e.addr("x")}})
	e.must(err)
	if res.Results[0].Status != commands.InviteInvited {
		t.Fatalf("%+v", res.Results)
	}
}

// A grant is bound to its organization, actor and handlers: with anything
// else the use case loads and checks as without one.
func TestAdminGrantIsNotReusedForSomeoneElse(t *testing.T) {
	e := newEnv(t)
	member := e.member("mo", "member")
	grant, err := e.h.GrantAdmin(e.ctx, e.org, e.asOwner.Actor)
	e.must(err)
	ctx := commands.WithAdminGrant(e.ctx, grant)
	_, err = e.h.InviteUsers(ctx, e.as(member), commands.InviteUsersInput{OrgID: e.org, Emails: []string{e.addr("x")}})
	wantErr(t, err, domain.KindForbidden, domain.CodeNotAnAdmin)

	other := setupEnv(t)
	_, err = e.h.InviteUsers(ctx, e.asOwner, commands.InviteUsersInput{OrgID: other.org, Emails: []string{other.addr("x")}})
	wantErr(t, err, domain.KindForbidden, domain.CodeNotAnAdmin)

	// Handlers of another process do not take it either: they load.
	store := newCallCountingStore()
	h := e.handlers(store, commands.Config{})
	_, err = h.InviteUsers(ctx, e.asOwner, commands.InviteUsersInput{OrgID: e.org, Emails: []string{e.addr("y")}})
	e.must(err)
	if got := store.take(); got["Load organization"] != 1 {
		t.Fatalf("event store calls %v: the organization was not loaded", got)
	}
}

// A session signed out through the same handlers is refused on the next
// request, although it was cached a moment before; one signed out through
// another process is refused once Config.SessionCacheTTL has passed since
// this process last read it, and a member removed through the same
// handlers is refused at once.
func TestSessionCache(t *testing.T) {
	e := newEnv(t)
	store := newCallCountingStore()
	h := e.handlers(store, commands.Config{SessionCacheTTL: 2 * time.Second})
	signIn := func(email, password string) commands.SignInResult {
		res, err := h.SignIn(e.ctx, commands.Request{}, commands.SignInInput{Email: email, Password: password})
		e.must(err)
		return res
	}
	authenticated := func(token string) error {
		_, err := h.Authenticate(e.ctx, token)
		return err
	}

	s := signIn(e.addr("owner"), ownerPassword)
	store.take()
	e.must(authenticated(s.Token))
	e.must(authenticated(s.Token))
	if n := reads(store.take()); n != 2 {
		t.Fatalf("two authentications read %d streams, want 2 (session and account, once)", n)
	}
	_, err := h.SignOut(e.ctx, commands.Request{}, s.Token)
	e.must(err)
	wantErr(t, authenticated(s.Token), domain.KindUnauthenticated, domain.CodeSessionEnded)

	// Signed out through another process.
	s = signIn(e.addr("owner"), ownerPassword)
	e.must(authenticated(s.Token))
	_, err = e.h.SignOut(e.ctx, commands.Request{}, s.Token)
	e.must(err)
	e.clock.Advance(time.Second)
	e.must(authenticated(s.Token)) // within the documented bound
	e.clock.Advance(time.Second)
	wantErr(t, authenticated(s.Token), domain.KindUnauthenticated, domain.CodeSessionEnded)

	// A member removed through these handlers.
	mia := e.member("mia", "member")
	s = signIn(e.addr("mia"), goodPassword)
	e.must(authenticated(s.Token))
	_, err = h.RemoveMember(e.ctx, e.asOwner, e.org, mia)
	e.must(err)
	wantErr(t, authenticated(s.Token), domain.KindUnauthenticated, domain.CodeSessionEnded)

	// Expiry is checked on every use, cached or not.
	long := e.handlers(sharedStore, commands.Config{SessionCacheTTL: 1000 * time.Hour})
	s, err = long.SignIn(e.ctx, commands.Request{}, commands.SignInInput{Email: e.addr("owner"), Password: ownerPassword})
	e.must(err)
	_, err = long.Authenticate(e.ctx, s.Token)
	e.must(err)
	e.clock.Advance(s.ExpiresAt.Sub(e.clock.Now()))
	_, err = long.Authenticate(e.ctx, s.Token)
	wantErr(t, err, domain.KindUnauthenticated, domain.CodeSessionExpired)
}

// With a negative SessionCacheTTL every authentication reads the session.
func TestSessionCacheOff(t *testing.T) {
	e := newEnv(t)
	store := newCallCountingStore()
	h := e.handlers(store, commands.Config{SessionCacheTTL: -1})
	s, err := h.SignIn(e.ctx, commands.Request{}, commands.SignInInput{Email: e.addr("owner"), Password: ownerPassword})
	e.must(err)
	store.take()
	for range 2 {
		_, err := h.Authenticate(e.ctx, s.Token)
		e.must(err)
	}
	if n := reads(store.take()); n != 4 {
		t.Fatalf("two authentications read %d streams, want 4", n)
	}
}
