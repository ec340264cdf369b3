package tokens

import "github.com/orgportal/onboarding/commands"

// CommandSigners binds one signer per purpose into the token service the
// command handlers (and the mail reactor) take, so that every token kind
// is signed for its own purpose and no other.
func (k *Keyring) CommandSigners() (commands.TokenService, error) {
	var ts commands.TokenService
	for _, bind := range []struct {
		purpose Purpose
		into    *commands.TokenSigner
	}{
		{PurposeInvitation, &ts.Invitation},
		{PurposeSelfServiceLink, &ts.SelfServiceLink},
		{PurposeVerification, &ts.Verification},
		{PurposePasswordSetup, &ts.PasswordSetup},
		{PurposePasswordReset, &ts.PasswordReset},
		{PurposeSession, &ts.Session},
	} {
		s, err := k.For(bind.purpose)
		if err != nil {
			return commands.TokenService{}, err
		}
		*bind.into = s
	}
	return ts, nil
}
