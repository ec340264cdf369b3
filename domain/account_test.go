package domain

import (
	"testing"
	"time"
)

const hash1, hash2 = "$argon2id$v=19$m=65536,t=3,p=2$c2FsdDE$aGFzaDE", "$argon2id$v=19$m=65536,t=3,p=2$c2FsdDI$aGFzaDI"

func accountCreated(hash string, more ...Event) []Event {
	return append([]Event{AccountCreated{
		UserID: newcomerID, OrgID: orgID, Email: "Nina@Acme.test", NormalizedEmail: "nina@acme.test",
		Name: "Nina", PasswordHash: hash, Via: JoinedViaInvitation,
	}}, more...)
}

func TestDecideAccount_Create(t *testing.T) {
	nina := MustParseEmail("Nina@Acme.test")
	runSpecs(t, EvolveAccount, DecideAccount, []spec[AccountCommand]{
		{
			name: "an account with a password",
			when: CreateAccount{UserID: newcomerID, OrgID: orgID, Email: nina, Name: "Nina", PasswordHash: hash1, Via: JoinedViaInvitation},
			then: accountCreated(hash1),
		},
		{
			name: "a manual add gets a set-your-password token",
			when: CreateAccount{UserID: newcomerID, OrgID: orgID, Email: nina, Name: "Nina", Via: JoinedViaManual},
			then: []Event{
				AccountCreated{UserID: newcomerID, OrgID: orgID, Email: "Nina@Acme.test", NormalizedEmail: "nina@acme.test", Name: "Nina", Via: JoinedViaManual},
				PasswordSetupRequested{UserID: newcomerID, OrgID: orgID, Generation: 1, ExpiresAt: t0.Add(DefaultPasswordSetupTTL)},
			},
		},
		{
			name:     "an account is created once",
			given:    accountCreated(hash1),
			when:     CreateAccount{UserID: newcomerID, OrgID: orgID, Email: nina, Name: "Nina", PasswordHash: hash1},
			wantKind: KindConflict, wantCode: CodeAccountExists,
		},
		{
			name:     "name, address and ids are required",
			when:     CreateAccount{},
			wantKind: KindInvalid, wantCode: CodeValidationFailed, wantFields: []string{"name", "email", "id"},
		},
	})
}

func TestDecideAccount_PasswordSetup(t *testing.T) {
	manual := []Event{
		AccountCreated{UserID: newcomerID, OrgID: orgID, Email: "n@acme.test", NormalizedEmail: "n@acme.test", Name: "N", Via: JoinedViaManual},
		PasswordSetupRequested{UserID: newcomerID, OrgID: orgID, Generation: 1, ExpiresAt: t0.Add(DefaultPasswordSetupTTL)},
	}
	set := PasswordSet{UserID: newcomerID, OrgID: orgID, Generation: 1, PasswordHash: hash1}
	runSpecs(t, EvolveAccount, DecideAccount, []spec[AccountCommand]{
		{
			name:  "the setup link sets the first password",
			given: manual,
			when:  CompletePasswordSetup{Generation: 1, PasswordHash: hash1},
			then:  []Event{set},
		},
		{
			name:     "the setup link is single-use",
			given:    append(manual, set),
			when:     CompletePasswordSetup{Generation: 1, PasswordHash: hash2},
			wantKind: KindGone, wantCode: CodePasswordTokenUsed,
		},
		{
			name:     "the setup link expires",
			given:    manual,
			when:     CompletePasswordSetup{Generation: 1, PasswordHash: hash1},
			now:      t0.Add(DefaultPasswordSetupTTL),
			wantKind: KindGone, wantCode: CodePasswordTokenExpired,
		},
		{
			name:     "a reset token does not work on the setup page",
			given:    append(manual, PasswordResetRequested{UserID: newcomerID, OrgID: orgID, Generation: 2, ExpiresAt: t0.Add(time.Hour)}),
			when:     CompletePasswordSetup{Generation: 2, PasswordHash: hash1},
			wantKind: KindNotFound, wantCode: CodePasswordTokenInvalid,
		},
		{
			name:     "a reset request supersedes the setup link",
			given:    append(manual, PasswordResetRequested{UserID: newcomerID, OrgID: orgID, Generation: 2, ExpiresAt: t0.Add(time.Hour)}),
			when:     CompletePasswordSetup{Generation: 1, PasswordHash: hash1},
			wantKind: KindGone, wantCode: CodePasswordTokenOutdated,
		},
		{
			name:     "a password hash is required",
			given:    manual,
			when:     CompletePasswordSetup{Generation: 1},
			wantKind: KindInvalid, wantCode: CodeValidationFailed, wantFields: []string{"password"},
		},
	})
}

func TestDecideAccount_PasswordReset(t *testing.T) {
	requested := PasswordResetRequested{UserID: newcomerID, OrgID: orgID, Generation: 1, ExpiresAt: t0.Add(time.Hour)}
	completed := PasswordResetCompleted{UserID: newcomerID, OrgID: orgID, Generation: 1, PasswordHash: hash2}
	runSpecs(t, EvolveAccount, DecideAccount, []spec[AccountCommand]{
		{
			name:  "a reset token valid for one hour",
			given: accountCreated(hash1),
			when:  RequestPasswordReset{},
			then:  []Event{requested},
		},
		{
			name:  "a second request supersedes the first",
			given: accountCreated(hash1, requested),
			when:  RequestPasswordReset{TTL: 2 * time.Hour},
			then:  []Event{PasswordResetRequested{UserID: newcomerID, OrgID: orgID, Generation: 2, ExpiresAt: t0.Add(2 * time.Hour)}},
		},
		{
			name:  "the reset link replaces the password",
			given: accountCreated(hash1, requested),
			when:  CompletePasswordReset{Generation: 1, PasswordHash: hash2},
			now:   t0.Add(59 * time.Minute),
			then:  []Event{completed},
		},
		{
			name:     "the reset link is single-use",
			given:    accountCreated(hash1, requested, completed),
			when:     CompletePasswordReset{Generation: 1, PasswordHash: hash1},
			wantKind: KindGone, wantCode: CodePasswordTokenUsed,
		},
		{
			name:     "the reset link expires after the hour",
			given:    accountCreated(hash1, requested),
			when:     CompletePasswordReset{Generation: 1, PasswordHash: hash2},
			now:      t0.Add(time.Hour),
			wantKind: KindGone, wantCode: CodePasswordTokenExpired,
		},
		{
			name:     "an older reset link is superseded",
			given:    accountCreated(hash1, requested, PasswordResetRequested{UserID: newcomerID, OrgID: orgID, Generation: 2, ExpiresAt: t0.Add(time.Hour)}),
			when:     CompletePasswordReset{Generation: 1, PasswordHash: hash2},
			wantKind: KindGone, wantCode: CodePasswordTokenOutdated,
		},
		{
			name:     "a token never issued is invalid",
			given:    accountCreated(hash1),
			when:     CompletePasswordReset{Generation: 1, PasswordHash: hash2},
			wantKind: KindNotFound, wantCode: CodePasswordTokenInvalid,
		},
		{
			name:     "a closed account gets no reset",
			given:    accountCreated(hash1, AccountClosed{UserID: newcomerID, OrgID: orgID}),
			when:     RequestPasswordReset{},
			wantKind: KindGone, wantCode: CodeAccountClosed,
		},
		{
			name:     "closing kills an outstanding reset link",
			given:    accountCreated(hash1, requested, AccountClosed{UserID: newcomerID, OrgID: orgID}),
			when:     CompletePasswordReset{Generation: 1, PasswordHash: hash2},
			wantKind: KindGone, wantCode: CodeAccountClosed,
		},
		{
			name:     "an unknown account",
			when:     RequestPasswordReset{},
			wantKind: KindNotFound, wantCode: CodeAccountNotFound,
		},
	})
}

func TestDecideAccount_CloseAndMail(t *testing.T) {
	requested := PasswordResetRequested{UserID: newcomerID, OrgID: orgID, Generation: 1, ExpiresAt: t0.Add(time.Hour)}
	setup := PasswordSetupRequested{UserID: newcomerID, OrgID: orgID, Generation: 1, ExpiresAt: t0.Add(time.Hour)}
	runSpecs(t, EvolveAccount, DecideAccount, []spec[AccountCommand]{
		{
			name:  "close",
			given: accountCreated(hash1),
			when:  CloseAccount{},
			then:  []Event{AccountClosed{UserID: newcomerID, OrgID: orgID}},
		},
		{
			name:  "closing twice records nothing",
			given: accountCreated(hash1, AccountClosed{UserID: newcomerID, OrgID: orgID}),
			when:  CloseAccount{},
			then:  nil,
		},
		{
			name:  "reset mail sent",
			given: accountCreated(hash1, requested),
			when:  RecordAccountEmail{Generation: 1, MessageID: "<m@x>"},
			then:  []Event{PasswordResetEmailSent{UserID: newcomerID, OrgID: orgID, Generation: 1, MessageID: "<m@x>"}},
		},
		{
			name:  "reset mail failed",
			given: accountCreated(hash1, requested),
			when:  RecordAccountEmail{Generation: 1, FailureReason: "550"},
			then:  []Event{PasswordResetEmailFailed{UserID: newcomerID, OrgID: orgID, Generation: 1, Reason: "550"}},
		},
		{
			name:  "set-password mail sent",
			given: accountCreated("", setup),
			when:  RecordAccountEmail{Generation: 1},
			then:  []Event{SetPasswordEmailSent{UserID: newcomerID, OrgID: orgID, Generation: 1}},
		},
		{
			name:  "set-password mail failed",
			given: accountCreated("", setup),
			when:  RecordAccountEmail{Generation: 1, FailureReason: "550"},
			then:  []Event{SetPasswordEmailFailed{UserID: newcomerID, OrgID: orgID, Generation: 1, Reason: "550"}},
		},
		{
			name:  "a delivery result is recorded once",
			given: accountCreated(hash1, requested, PasswordResetEmailSent{UserID: newcomerID, OrgID: orgID, Generation: 1}),
			when:  RecordAccountEmail{Generation: 1},
			then:  nil,
		},
		{
			name:  "a result for a superseded token is stale news",
			given: accountCreated(hash1, requested, PasswordResetRequested{UserID: newcomerID, OrgID: orgID, Generation: 2, ExpiresAt: t0.Add(time.Hour)}),
			when:  RecordAccountEmail{Generation: 1},
			then:  nil,
		},
	})
}

func TestAccountState_SignInAndMailDue(t *testing.T) {
	fold := func(events ...Event) AccountState { return Fold(AccountState{}, EvolveAccount, events...) }
	setup := PasswordSetupRequested{UserID: newcomerID, OrgID: orgID, Generation: 1, ExpiresAt: t0.Add(time.Hour)}
	for _, tc := range []struct {
		name         string
		state        AccountState
		signIn, mail bool
	}{
		{"with password", fold(accountCreated(hash1)...), true, false},
		{"awaiting setup", fold(accountCreated("", setup)...), false, true},
		{"setup mailed", fold(accountCreated("", setup, SetPasswordEmailSent{UserID: newcomerID, Generation: 1})...), false, false},
		{"setup done", fold(accountCreated("", setup, PasswordSet{UserID: newcomerID, Generation: 1, PasswordHash: hash1})...), true, false},
		{"closed", fold(accountCreated(hash1, AccountClosed{UserID: newcomerID})...), false, false},
		{"missing", AccountState{}, false, false},
	} {
		if got := tc.state.CanSignIn(); got != tc.signIn {
			t.Errorf("%s: CanSignIn = %v, want %v", tc.name, got, tc.signIn)
		}
		if got := tc.state.MailDue(t0); got != tc.mail {
			t.Errorf("%s: MailDue = %v, want %v", tc.name, got, tc.mail)
		}
	}
	s := fold(accountCreated(hash1, PasswordResetRequested{UserID: newcomerID, Generation: 1, ExpiresAt: t0.Add(time.Hour)},
		PasswordResetCompleted{UserID: newcomerID, Generation: 1, PasswordHash: hash2})...)
	if s.PasswordHash != hash2 {
		t.Errorf("the reset did not replace the hash: %q", s.PasswordHash)
	}
}
