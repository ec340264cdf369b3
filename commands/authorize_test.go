package commands_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/commands/commandstest"
	"github.com/orgportal/onboarding/domain"
)

// The read side's admin check answers from the organization's stream: a
// demotion or removal takes effect with the next read, with no read model
// in between.
func TestAuthorizeAdmin(t *testing.T) {
	e := newEnv(t)
	admin := e.member("adam", "admin")
	plain := e.member("paul", "member")
	demoted := e.member("dora", "admin")
	removed := e.member("rita", "admin")
	_, err := e.h.ChangeMemberRole(e.ctx, e.asOwner, e.org, demoted, "member")
	e.must(err)
	_, err = e.h.RemoveMember(e.ctx, e.asOwner, e.org, removed)
	e.must(err)
	other := setupEnv(t)

	for _, tc := range []struct {
		name  string
		org   domain.OrgID
		actor domain.Actor
		kind  domain.Kind
		code  string
	}{
		{"owner", e.org, domain.UserActor(e.owner), "", ""},
		{"admin", e.org, domain.UserActor(admin), "", ""},
		{"member", e.org, domain.UserActor(plain), domain.KindForbidden, domain.CodeNotAnAdmin},
		{"demoted admin", e.org, domain.UserActor(demoted), domain.KindForbidden, domain.CodeNotAnAdmin},
		{"removed admin", e.org, domain.UserActor(removed), domain.KindForbidden, domain.CodeNotAnAdmin},
		{"owner of another organization", e.org, domain.UserActor(other.owner), domain.KindForbidden, domain.CodeNotAnAdmin},
		{"system actor", e.org, domain.ActorSystem, domain.KindForbidden, domain.CodeNotAnAdmin},
		{"no actor", e.org, "", domain.KindForbidden, domain.CodeNotAnAdmin},
		{"unknown organization", "org-" + domain.OrgID(randomHex(6)), domain.UserActor(e.owner), domain.KindNotFound, domain.CodeOrganizationNotFound},
		{"malformed organization id", "org/../x", domain.UserActor(e.owner), domain.KindInvalid, domain.CodeInvalidID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.h.AuthorizeAdmin(e.ctx, tc.org, tc.actor)
			if tc.kind == "" {
				if err != nil {
					t.Fatalf("want allowed, got %v", err)
				}
				return
			}
			wantErr(t, err, tc.kind, tc.code)
		})
	}
}

// unreachableStore is an event store that cannot be reached.
type unreachableStore struct{}

func (unreachableStore) Load(context.Context, domain.StreamName) (commands.Loaded, error) {
	return commands.Loaded{}, fmt.Errorf("test: %w", commands.ErrUnavailable)
}

func (unreachableStore) LoadFrom(context.Context, domain.StreamName, commands.Revision) (commands.Loaded, error) {
	return commands.Loaded{}, fmt.Errorf("test: %w", commands.ErrUnavailable)
}

func (unreachableStore) Append(context.Context, domain.StreamName, commands.Revision, commands.Metadata, ...domain.Event) (commands.Position, error) {
	return 0, fmt.Errorf("test: %w", commands.ErrUnavailable)
}

// An unreachable event store is reported as such, never as a permission
// answer: the API must say 503, not 403.
func TestAuthorizeAdminWithTheStoreDown(t *testing.T) {
	t.Parallel()
	clock := commandstest.NewClock()
	h, err := commands.New(commands.Deps{Store: unreachableStore{}, Clock: clock.Now,
		Tokens: commandstest.TokenService(t, clock.Now()), Passwords: commandstest.Hasher(t)})
	if err != nil {
		t.Fatal(err)
	}
	err = h.AuthorizeAdmin(context.Background(), "org-x", domain.UserActor("u-1"))
	if !errors.Is(err, commands.ErrUnavailable) || domain.KindOf(err) != "" {
		t.Fatalf("err = %v, want ErrUnavailable without a domain kind", err)
	}
}
