package commands_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/commands/commandstest"
	"github.com/orgportal/onboarding/domain"
)

// BenchmarkAuthorizeAdmin measures the admin check every /orgs/:orgId
// request makes, on an organization of 2,000 members: folded from the
// whole stream each time (uncached), and brought up to date from the
// handlers' folded-state cache (cached).
func BenchmarkAuthorizeAdmin(b *testing.B) {
	const members = 2000
	ctx := context.Background()
	clock := commandstest.NewClock()
	handlers := func(cfg commands.Config) *commands.Handlers {
		h, err := commands.New(commands.Deps{Store: sharedStore, Clock: clock.Now,
			Tokens: commandstest.TokenService(b, clock.Now()), Passwords: commandstest.Hasher(b), Config: cfg})
		if err != nil {
			b.Fatal(err)
		}
		return h
	}
	setup := handlers(commands.Config{StateCacheStreams: -1})
	suffix := randomHex(6)
	org := domain.OrgID("org-" + suffix)
	res, err := setup.Bootstrap(ctx, commands.Request{}, commands.BootstrapInput{
		OrgID: org, OrgName: "Bench " + suffix, Email: "owner@b" + suffix + ".test", Password: ownerPassword,
	})
	if err != nil {
		b.Fatal(err)
	}
	// The roster is written straight to the organization's stream: the
	// check reads nothing else.
	stream := domain.OrganizationStream(org)
	meta := commands.Metadata{Actor: string(domain.ActorSystem), CorrelationID: "bench", CausationID: "bench", RequestTime: clock.Now()}
	for start := 1; start < members; start += 500 {
		loaded, err := sharedStore.Load(ctx, stream)
		if err != nil {
			b.Fatal(err)
		}
		var batch []domain.Event
		for i := start; i < min(start+500, members); i++ {
			email := fmt.Sprintf("m%d@b%s.test", i, suffix)
			batch = append(batch, domain.MemberJoined{OrgID: org, UserID: domain.UserID(fmt.Sprintf("u-%s-%d", suffix, i)),
				Email: email, NormalizedEmail: email, Name: "Member", Role: domain.RoleMember, Via: domain.JoinedViaManual})
		}
		if _, err := sharedStore.Append(ctx, stream, loaded.Revision, meta, batch...); err != nil {
			b.Fatal(err)
		}
	}
	actor := domain.UserActor(res.OwnerID)
	for _, bc := range []struct {
		name string
		cfg  commands.Config
	}{
		{"uncached", commands.Config{StateCacheStreams: -1}},
		{"cached", commands.Config{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := handlers(bc.cfg)
			for b.Loop() {
				if err := h.AuthorizeAdmin(ctx, org, actor); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
