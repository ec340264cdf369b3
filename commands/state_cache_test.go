package commands_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/commands/commandstest"
	"github.com/orgportal/onboarding/domain"
)

// countingStore counts the reads of organization streams by kind.
type countingStore struct {
	commands.EventStore
	loads, loadsFrom atomic.Int64
}

func (s *countingStore) Load(ctx context.Context, stream domain.StreamName) (commands.Loaded, error) {
	if isOrgStream(stream) {
		s.loads.Add(1)
	}
	return s.EventStore.Load(ctx, stream)
}

func (s *countingStore) LoadFrom(ctx context.Context, stream domain.StreamName, after commands.Revision) (commands.Loaded, error) {
	if isOrgStream(stream) {
		s.loadsFrom.Add(1)
	}
	return s.EventStore.LoadFrom(ctx, stream, after)
}

func isOrgStream(stream domain.StreamName) bool {
	return strings.HasPrefix(string(stream), string(domain.CategoryOrganization)+"-")
}

// handlers returns another set of handlers over store (another process:
// same event store, cache of its own), with cfg's cache settings.
func (e *env) handlers(store commands.EventStore, cfg commands.Config) *commands.Handlers {
	e.t.Helper()
	cfg.PublicURL = publicURL
	h, err := commands.New(commands.Deps{Store: store, Clock: e.clock.Now, Tokens: e.signers,
		Passwords: commandstest.Hasher(e.t), Config: cfg})
	e.must(err)
	return h
}

// sameAsFullFold checks that h loads the organization exactly as folding
// its whole stream does, at the same revision.
func (e *env) sameAsFullFold(h *commands.Handlers) domain.OrganizationState {
	e.t.Helper()
	got, rev, err := commands.LoadOrganization(e.ctx, h, e.org)
	e.must(err)
	loaded, err := sharedStore.Load(e.ctx, domain.OrganizationStream(e.org))
	e.must(err)
	want := domain.Fold(domain.OrganizationState{}, domain.EvolveOrganization, loaded.Events...)
	if rev != loaded.Revision {
		e.t.Fatalf("cached load at revision %d, the stream is at %d", rev, loaded.Revision)
	}
	if !reflect.DeepEqual(got, want) {
		e.t.Fatalf("cached load differs from the full fold:\n got %+v\nwant %+v", got, want)
	}
	return got
}

// After every change made through the handlers, the cached organization is
// the full fold of its stream; after the first load only the new events
// are read.
func TestCachedOrganizationEqualsFullFold(t *testing.T) {
	e := newEnv(t)
	store := &countingStore{EventStore: sharedStore}
	h := e.handlers(store, commands.Config{})
	e.sameAsFullFold(h)

	steps := []func(){
		func() { e.member("ann", "admin") },
		func() { e.member("bob", "") },
		func() {
			m, _ := e.orgState().MemberByEmail(domain.MustParseEmail(e.addr("bob")))
			_, err := h.ChangeMemberRole(e.ctx, e.asOwner, e.org, m.UserID, "admin")
			e.must(err)
		},
		func() {
			m, _ := e.orgState().MemberByEmail(domain.MustParseEmail(e.addr("ann")))
			_, err := h.RemoveMember(e.ctx, e.asOwner, e.org, m.UserID)
			e.must(err)
		},
		func() {
			_, err := h.AddMemberManually(e.ctx, e.asOwner, commands.AddMemberInput{OrgID: e.org, Email: e.addr("cat"), Name: "Cat"})
			e.must(err)
		},
		func() {
			_, err := h.RotateSelfServiceLink(e.ctx, e.asOwner, e.org)
			e.must(err)
		},
		func() {
			reg, err := e.register(e.linkToken(), e.addr("dan"))
			e.must(err)
			_, err = e.h.VerifyRegistration(e.ctx, commands.Request{}, e.verificationToken(reg.RegistrationID))
			e.must(err)
		},
	}
	for i, step := range steps {
		step()
		e.sameAsFullFold(h)
		if err := h.AuthorizeAdmin(e.ctx, e.org, e.asOwner.Actor); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if n := store.loads.Load(); n != 1 {
		t.Errorf("the organization was read whole %d times, want once", n)
	}
	if store.loadsFrom.Load() == 0 {
		t.Error("no incremental read")
	}
	if s := h.StateCacheStats(); s.Streams != 1 {
		t.Errorf("cache stats %+v, want the one organization", s)
	}
}

// A change written by another process (handlers sharing the event store
// but not the cache) shows in the next load: a removed admin is refused
// at once.
func TestCachedOrganizationSeesOtherWriters(t *testing.T) {
	e := newEnv(t)
	admin := e.member("adam", "admin")
	h := e.handlers(sharedStore, commands.Config{})
	if err := h.AuthorizeAdmin(e.ctx, e.org, domain.UserActor(admin)); err != nil {
		t.Fatal(err)
	}
	_, err := e.h.ChangeMemberRole(e.ctx, e.asOwner, e.org, admin, "member")
	e.must(err)
	wantErr(t, h.AuthorizeAdmin(e.ctx, e.org, domain.UserActor(admin)), domain.KindForbidden, domain.CodeNotAnAdmin)
	_, err = e.h.ChangeMemberRole(e.ctx, e.asOwner, e.org, admin, "admin")
	e.must(err)
	if err := h.AuthorizeAdmin(e.ctx, e.org, domain.UserActor(admin)); err != nil {
		t.Fatal(err)
	}
	_, err = e.h.RemoveMember(e.ctx, e.asOwner, e.org, admin)
	e.must(err)
	wantErr(t, h.AuthorizeAdmin(e.ctx, e.org, domain.UserActor(admin)), domain.KindForbidden, domain.CodeNotAnAdmin)
	e.sameAsFullFold(h)
}

// retryConflicts repeats a command that lost more races than it retries,
// as a client given 409 concurrent_change would.
func retryConflicts(call func() error) error {
	for {
		err := call()
		if domain.CodeOf(err) != commands.CodeConcurrentChange {
			return err
		}
	}
}

// Two processes with warm caches change roles of one organization at once:
// every change lands (none is lost to a stale cached revision), and the
// last-owner rule holds when two owners demote each other.
func TestCachedOrganizationConcurrentWriters(t *testing.T) {
	e := newEnv(t)
	h1 := e.handlers(sharedStore, commands.Config{})
	h2 := e.handlers(sharedStore, commands.Config{})
	const n = 8
	users := make([]domain.UserID, n)
	for i := range users {
		res, err := e.h.AddMemberManually(e.ctx, e.asOwner, commands.AddMemberInput{OrgID: e.org, Email: e.addr(fmt.Sprint("m", i)), Name: "M"})
		e.must(err)
		users[i] = res.UserID
	}
	for _, h := range []*commands.Handlers{h1, h2} {
		e.must(h.AuthorizeAdmin(e.ctx, e.org, e.asOwner.Actor)) // warm
	}

	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, user := range users {
		h := []*commands.Handlers{h1, h2}[i%2]
		wg.Go(func() {
			errs[i] = retryConflicts(func() error {
				_, err := h.ChangeMemberRole(e.ctx, e.asOwner, e.org, user, "admin")
				return err
			})
		})
	}
	wg.Wait()
	e.must(errors.Join(errs...))
	for _, h := range []*commands.Handlers{h1, h2} {
		state := e.sameAsFullFold(h)
		for _, user := range users {
			if m, _ := state.Member(user); m.Role != domain.RoleAdmin {
				t.Fatalf("lost update: %s is %q", user, m.Role)
			}
		}
	}

	// Two owners demote each other at once, round after round: exactly
	// one wins each time, and one owner is left.
	owners := [2]domain.UserID{e.owner, users[0]}
	for round := range 5 {
		state := e.orgState()
		for i, o := range owners {
			if m, _ := state.Member(o); m.Role != domain.RoleOwner {
				_, err := e.h.ChangeMemberRole(e.ctx, e.as(owners[1-i]), e.org, o, "owner")
				e.must(err)
			}
		}
		for _, h := range []*commands.Handlers{h1, h2} {
			e.must(h.AuthorizeAdmin(e.ctx, e.org, e.asOwner.Actor)) // warm, with both owners
		}
		var results [2]error
		var wg sync.WaitGroup
		for i, h := range []*commands.Handlers{h1, h2} {
			actor, target := owners[i], owners[1-i]
			wg.Go(func() {
				results[i] = retryConflicts(func() error {
					_, err := h.ChangeMemberRole(e.ctx, e.as(actor), e.org, target, "admin")
					return err
				})
			})
		}
		wg.Wait()
		wins := 0
		for _, err := range results {
			if err == nil {
				wins++
			} else if domain.KindOf(err) == "" {
				t.Fatal(err)
			}
		}
		state = e.sameAsFullFold(h1)
		e.sameAsFullFold(h2)
		left := 0
		for _, m := range state.Members() {
			if m.Role == domain.RoleOwner {
				left++
			}
		}
		if wins != 1 || left != 1 {
			t.Fatalf("round %d: %d demotions won (%v), %d owners left", round, wins, results, left)
		}
	}
}

// The cache keeps at most the streams and events it is given: others are
// loaded whole, with the same answers.
func TestStateCacheStaysWithinBounds(t *testing.T) {
	e := newEnv(t)
	envs := []*env{e}
	for range 3 {
		envs = append(envs, setupEnv(t))
	}
	h := e.handlers(sharedStore, commands.Config{StateCacheStreams: 2})
	for round := range 2 {
		for _, o := range envs {
			if err := h.AuthorizeAdmin(e.ctx, o.org, o.asOwner.Actor); err != nil {
				t.Fatal(err)
			}
			if s := h.StateCacheStats(); s.Streams > 2 {
				t.Fatalf("round %d: %+v, want at most 2 streams", round, s)
			}
		}
	}
	// An organization folded from more events than the cache may hold is
	// not kept.
	tiny := e.handlers(sharedStore, commands.Config{StateCacheEvents: 1})
	e.must(tiny.AuthorizeAdmin(e.ctx, e.org, e.asOwner.Actor))
	if s := tiny.StateCacheStats(); s.Streams != 0 || s.Events != 0 {
		t.Fatalf("%+v, want nothing kept", s)
	}
	// No cache at all.
	none := e.handlers(sharedStore, commands.Config{StateCacheStreams: -1})
	e.must(none.AuthorizeAdmin(e.ctx, e.org, e.asOwner.Actor))
	e.sameAsFullFold(none)
	if s := none.StateCacheStats(); s.Streams != 0 {
		t.Fatalf("%+v, want no cache", s)
	}
}

// A stream truncated past the cached revision, or deleted, is loaded
// whole again: the cache never answers with history the stream dropped.
func TestStateCacheDropsRewrittenHistory(t *testing.T) {
	e := newEnv(t)
	admin := e.member("adam", "admin")
	h := e.handlers(sharedStore, commands.Config{})
	e.sameAsFullFold(h)
	stream := string(domain.OrganizationStream(e.org))
	client := sharedConn.Client()

	// Truncate everything but the newest event (written after the cache
	// was filled), as an operator's $tb would.
	_, err := e.h.ChangeMemberRole(e.ctx, e.asOwner, e.org, admin, "member")
	e.must(err)
	loaded, err := sharedStore.Load(e.ctx, domain.OrganizationStream(e.org))
	e.must(err)
	meta := esdb.StreamMetadata{}
	meta.SetTruncateBefore(uint64(loaded.Revision))
	_, err = client.SetStreamMetadata(e.ctx, stream, esdb.AppendToStreamOptions{}, meta)
	e.must(err)
	truncated := e.sameAsFullFold(h)
	if truncated.Exists() {
		t.Fatal("the truncated organization still has its creation in the cached state")
	}

	// Deleted: not found, as without a cache.
	_, err = client.DeleteStream(e.ctx, stream, esdb.DeleteStreamOptions{})
	e.must(err)
	wantErr(t, h.AuthorizeAdmin(e.ctx, e.org, e.asOwner.Actor), domain.KindNotFound, domain.CodeOrganizationNotFound)
	if s := h.StateCacheStats(); s.Streams != 0 {
		t.Fatalf("%+v: the deleted stream is still cached", s)
	}
}
