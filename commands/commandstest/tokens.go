package commandstest

import (
	"context"
	"testing"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// The tokens below are derived the way the mail reactor derives the ones
// it mails: from the aggregate's id and the generation its stream has
// reached, so that a test holds the link a person would get.

// InvitationToken is the token of the invitation's current link.
func InvitationToken(t testing.TB, store commands.EventStore, signers commands.TokenService, id domain.InvitationID) string {
	t.Helper()
	inv := domain.Fold(domain.InvitationState{}, domain.EvolveInvitation, load(t, store, domain.InvitationStream(id))...)
	return issue(t, signers.Invitation, string(id), inv.Generation)
}

// VerificationToken is the token of the registration's current
// verification link.
func VerificationToken(t testing.TB, store commands.EventStore, signers commands.TokenService, id domain.RegistrationID) string {
	t.Helper()
	reg := domain.Fold(domain.RegistrationState{}, domain.EvolveRegistration, load(t, store, domain.RegistrationStream(id))...)
	return issue(t, signers.Verification, string(id), reg.Generation)
}

// PasswordToken is the token of the account's current password link;
// signer chooses the kind (signers.PasswordSetup or PasswordReset).
func PasswordToken(t testing.TB, store commands.EventStore, signer commands.TokenSigner, user domain.UserID) string {
	t.Helper()
	acc := domain.Fold(domain.AccountState{}, domain.EvolveAccount, load(t, store, domain.UserStream(user))...)
	return issue(t, signer, string(user), acc.TokenGeneration)
}

func load(t testing.TB, store commands.EventStore, stream domain.StreamName) []domain.Event {
	t.Helper()
	loaded, err := store.Load(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	return loaded.Events
}

func issue(t testing.TB, signer commands.TokenSigner, id string, generation int) string {
	t.Helper()
	tok, err := signer.Issue(id, generation)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
