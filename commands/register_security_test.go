package commands_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/commands/commandstest"
	"github.com/orgportal/onboarding/domain"
)

// failingOnce fails the first append to a stream of one category with
// ErrUnavailable (nothing written), as an event store that goes away in
// the middle of a multi-stream use case would.
type failingOnce struct {
	commands.EventStore
	category string
	failed   atomic.Bool
}

func (s *failingOnce) Append(ctx context.Context, stream domain.StreamName, expected commands.Revision, meta commands.Metadata, events ...domain.Event) (commands.Position, error) {
	if strings.HasPrefix(string(stream), s.category+"-") && s.failed.CompareAndSwap(false, true) {
		return 0, fmt.Errorf("%w: injected", commands.ErrUnavailable)
	}
	return s.EventStore.Append(ctx, stream, expected, meta, events...)
}

// failingOnce returns command handlers over the shared store whose first
// append to a stream of the category fails.
func (e *env) failingOnce(c domain.Category) (*commands.Handlers, *failingOnce) {
	e.t.Helper()
	store := &failingOnce{EventStore: sharedStore, category: string(c)}
	h, err := commands.New(commands.Deps{Store: store, Clock: e.clock.Now, Tokens: e.signers,
		Passwords: commandstest.Hasher(e.t), Config: commands.Config{PublicURL: publicURL}})
	e.must(err)
	return h, store
}

// A verification link is used up once its join is over: repeated, it
// answers Gone, also after the member was removed (it must not bring them
// back, even when the removal was interrupted). A verification the store
// interrupted after recording it resumes with the same link and makes
// exactly one member.
func TestVerificationLinkIsSingleUseButResumes(t *testing.T) {
	e := newEnv(t)
	token := e.linkToken()

	reg, err := e.register(token, e.addr("vera"))
	e.must(err)
	verified, err := e.h.VerifyRegistration(e.ctx, commands.Request{}, e.verificationToken(reg.RegistrationID))
	e.must(err)
	_, err = e.h.VerifyRegistration(e.ctx, commands.Request{}, e.verificationToken(reg.RegistrationID))
	wantErr(t, err, domain.KindGone, domain.CodeVerificationUsed)

	_, err = e.h.RemoveMember(e.ctx, e.asOwner, e.org, verified.UserID)
	e.must(err)
	_, err = e.h.VerifyRegistration(e.ctx, commands.Request{}, e.verificationToken(reg.RegistrationID))
	wantErr(t, err, domain.KindGone, domain.CodeVerificationUsed)
	if _, ok := e.orgState().Member(verified.UserID); ok {
		t.Fatal("a used verification link brought a removed member back")
	}

	// A removal interrupted after the roster, before it closed the
	// account: the link still does not bring the member back.
	flaky, store := e.failingOnce(domain.CategoryUser)
	reg, err = e.register(token, e.addr("half"))
	e.must(err)
	half, err := e.h.VerifyRegistration(e.ctx, commands.Request{}, e.verificationToken(reg.RegistrationID))
	e.must(err)
	if _, err := flaky.RemoveMember(e.ctx, e.asOwner, e.org, half.UserID); err == nil || !store.failed.Load() {
		t.Fatalf("the injected failure did not happen: %v", err)
	}
	_, err = e.h.VerifyRegistration(e.ctx, commands.Request{}, e.verificationToken(reg.RegistrationID))
	wantErr(t, err, domain.KindGone, domain.CodeVerificationUsed)
	if _, ok := e.orgState().Member(half.UserID); ok {
		t.Fatal("a used verification link brought back a member whose removal was interrupted")
	}

	// Interrupted after the verification was recorded, before the account.
	flaky, store = e.failingOnce(domain.CategoryUser)
	reg, err = e.register(token, e.addr("resumed"))
	e.must(err)
	_, err = flaky.VerifyRegistration(e.ctx, commands.Request{}, e.verificationToken(reg.RegistrationID))
	if err == nil || !store.failed.Load() {
		t.Fatalf("the injected failure did not happen: %v", err)
	}
	resumed, err := flaky.VerifyRegistration(e.ctx, commands.Request{}, e.verificationToken(reg.RegistrationID))
	e.must(err)
	if _, ok := e.orgState().Member(resumed.UserID); !ok {
		t.Fatal("the resumed verification made no member")
	}
	if _, err := e.signIn(e.addr("resumed"), goodPassword); err != nil {
		t.Fatalf("sign in after the resumed verification: %v", err)
	}
	_, err = flaky.VerifyRegistration(e.ctx, commands.Request{}, e.verificationToken(reg.RegistrationID))
	wantErr(t, err, domain.KindGone, domain.CodeVerificationUsed)
}
