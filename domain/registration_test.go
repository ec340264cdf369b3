package domain

import (
	"testing"
	"time"
)

const regID RegistrationID = "reg-1"

func openLink() SelfServiceLink {
	return SelfServiceLink{Enabled: true, DefaultRole: RoleMember, Generation: 2, AllowedDomains: allowlistFromStored([]string{"acme.test", "*.acme.test"})}
}

func registrationStarted(more ...Event) []Event {
	return append([]Event{RegistrationStarted{
		RegistrationID: regID, OrgID: orgID, Email: "Nina@Acme.test", NormalizedEmail: "nina@acme.test", Name: "Nina",
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA", LinkGeneration: 2, Generation: 1,
		ExpiresAt: t0.Add(DefaultVerificationTTL),
	}}, more...)
}

func TestDecideRegistration_Start(t *testing.T) {
	start := func(email string, mutate ...func(*StartRegistration)) StartRegistration {
		c := StartRegistration{
			RegistrationID: regID, OrgID: orgID, Email: MustParseEmail(email), Name: "Nina",
			PasswordHash: "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA", LinkGeneration: 2, Link: openLink(),
		}
		for _, m := range mutate {
			m(&c)
		}
		return c
	}
	runSpecs(t, EvolveRegistration, DecideRegistration, []spec[RegistrationCommand]{
		{
			name: "an allowed address starts a registration awaiting verification",
			when: start("Nina@Acme.test"),
			then: registrationStarted(),
		},
		{
			name: "an existing member's registration looks the same outside but mails differently",
			when: start("Nina@Acme.test", func(c *StartRegistration) { c.AlreadyMember = true }),
			then: []Event{RegistrationAttemptedByMember{
				RegistrationID: regID, OrgID: orgID, Email: "Nina@Acme.test", NormalizedEmail: "nina@acme.test", LinkGeneration: 2, Generation: 1,
			}},
		},
		{
			name:     "a domain outside the allowlist is refused",
			when:     start("nina@evil-acme.test"),
			wantKind: KindForbidden, wantCode: CodeEmailDomainForbidden,
		},
		{
			name:     "a look-alike suffix is refused",
			when:     start("nina@acme.test.evil.io"),
			wantKind: KindForbidden, wantCode: CodeEmailDomainForbidden,
		},
		{
			name:     "the domain check comes before the membership, so a refusal reveals nothing",
			when:     start("nina@evil.test", func(c *StartRegistration) { c.AlreadyMember = true }),
			wantKind: KindForbidden, wantCode: CodeEmailDomainForbidden,
		},
		{
			name:     "a rotated link is gone",
			when:     start("nina@acme.test", func(c *StartRegistration) { c.LinkGeneration = 1 }),
			wantKind: KindGone, wantCode: CodeLinkRotated,
		},
		{
			name:     "a disabled link is gone",
			when:     start("nina@acme.test", func(c *StartRegistration) { c.Link.Enabled = false }),
			wantKind: KindGone, wantCode: CodeLinkDisabled,
		},
		{
			name:     "a used-up link is gone",
			when:     start("nina@acme.test", func(c *StartRegistration) { c.Link.MaxUses, c.Link.Uses = 3, 3 }),
			wantKind: KindGone, wantCode: CodeLinkExhausted,
		},
		{
			name:     "an expired link is gone",
			when:     start("nina@acme.test", func(c *StartRegistration) { c.Link.ExpiresAt = ptr(t0) }),
			wantKind: KindGone, wantCode: CodeLinkExpired,
		},
		{
			name:     "name and password are required",
			when:     start("nina@acme.test", func(c *StartRegistration) { c.Name, c.PasswordHash = "", "" }),
			wantKind: KindInvalid, wantCode: CodeValidationFailed, wantFields: []string{"name", "password"},
		},
		{
			name:     "a registration stream is written once",
			given:    registrationStarted(),
			when:     start("nina@acme.test"),
			wantKind: KindConflict, wantCode: CodeRegistrationExists,
		},
	})
}

func TestDecideRegistration_Verify(t *testing.T) {
	verified := RegistrationEmailVerified{RegistrationID: regID, OrgID: orgID, UserID: newcomerID, Generation: 1}
	runSpecs(t, EvolveRegistration, DecideRegistration, []spec[RegistrationCommand]{
		{
			name:  "the mailed token verifies the address",
			given: registrationStarted(),
			when:  VerifyRegistrationEmail{Generation: 1, UserID: newcomerID},
			then:  []Event{verified},
		},
		{
			name:  "a retried verification records nothing",
			given: registrationStarted(verified),
			when:  VerifyRegistrationEmail{Generation: 1, UserID: newcomerID},
			then:  nil,
		},
		{
			name:     "the token is single-use",
			given:    registrationStarted(verified),
			when:     VerifyRegistrationEmail{Generation: 1, UserID: "u-other"},
			wantKind: KindGone, wantCode: CodeVerificationUsed,
		},
		{
			name:     "an expired token is gone",
			given:    registrationStarted(),
			when:     VerifyRegistrationEmail{Generation: 1, UserID: newcomerID},
			now:      t0.Add(DefaultVerificationTTL),
			wantKind: KindGone, wantCode: CodeVerificationExpired,
		},
		{
			name:     "a rejected registration is gone",
			given:    registrationStarted(RegistrationRejected{RegistrationID: regID, OrgID: orgID, Code: CodeLinkRotated}),
			when:     VerifyRegistrationEmail{Generation: 1, UserID: newcomerID},
			wantKind: KindGone, wantCode: CodeRegistrationClosed,
		},
		{
			name:     "an unissued generation is not found",
			given:    registrationStarted(),
			when:     VerifyRegistrationEmail{Generation: 2, UserID: newcomerID},
			wantKind: KindNotFound, wantCode: CodeRegistrationNotFound,
		},
		{
			name: "an existing member's attempt has nothing to verify",
			given: []Event{RegistrationAttemptedByMember{
				RegistrationID: regID, OrgID: orgID, Email: "nina@acme.test", NormalizedEmail: "nina@acme.test", LinkGeneration: 2, Generation: 1,
			}},
			when:     VerifyRegistrationEmail{Generation: 1, UserID: newcomerID},
			wantKind: KindNotFound, wantCode: CodeRegistrationNotFound,
		},
		{
			name:     "an unknown registration is not found",
			when:     VerifyRegistrationEmail{Generation: 1, UserID: newcomerID},
			wantKind: KindNotFound, wantCode: CodeRegistrationNotFound,
		},
		{
			name:  "a registration is rejected when the member cannot be admitted",
			given: registrationStarted(verified),
			when:  RejectRegistration{Code: CodeLinkExhausted},
			then:  []Event{RegistrationRejected{RegistrationID: regID, OrgID: orgID, Code: CodeLinkExhausted}},
		},
		{
			name:  "rejecting twice records nothing",
			given: registrationStarted(RegistrationRejected{RegistrationID: regID, OrgID: orgID, Code: CodeLinkRotated}),
			when:  RejectRegistration{Code: CodeLinkRotated},
			then:  nil,
		},
	})
}

func TestDecideRegistration_RecordEmail(t *testing.T) {
	attempt := RegistrationAttemptedByMember{RegistrationID: regID, OrgID: orgID, Email: "n@acme.test", NormalizedEmail: "n@acme.test", LinkGeneration: 2, Generation: 1}
	runSpecs(t, EvolveRegistration, DecideRegistration, []spec[RegistrationCommand]{
		{
			name:  "verification mail sent",
			given: registrationStarted(),
			when:  RecordRegistrationEmail{Generation: 1, MessageID: "<m@x>"},
			then:  []Event{VerificationEmailSent{RegistrationID: regID, OrgID: orgID, Generation: 1, MessageID: "<m@x>"}},
		},
		{
			name:  "verification mail failed",
			given: registrationStarted(),
			when:  RecordRegistrationEmail{Generation: 1, FailureReason: "550"},
			then:  []Event{VerificationEmailFailed{RegistrationID: regID, OrgID: orgID, Generation: 1, Reason: "550"}},
		},
		{
			name:  "already-member mail sent",
			given: []Event{attempt},
			when:  RecordRegistrationEmail{Generation: 1, MessageID: "<m@x>"},
			then:  []Event{AlreadyMemberEmailSent{RegistrationID: regID, OrgID: orgID, Generation: 1, MessageID: "<m@x>"}},
		},
		{
			name:  "already-member mail failed",
			given: []Event{attempt},
			when:  RecordRegistrationEmail{Generation: 1, FailureReason: "550"},
			then:  []Event{AlreadyMemberEmailFailed{RegistrationID: regID, OrgID: orgID, Generation: 1, Reason: "550"}},
		},
		{
			name:  "recorded once",
			given: registrationStarted(VerificationEmailSent{RegistrationID: regID, OrgID: orgID, Generation: 1}),
			when:  RecordRegistrationEmail{Generation: 1},
			then:  nil,
		},
	})
}

func TestRegistrationState_MailDue(t *testing.T) {
	fold := func(events ...Event) RegistrationState {
		return Fold(RegistrationState{}, EvolveRegistration, events...)
	}
	attempt := RegistrationAttemptedByMember{RegistrationID: regID, OrgID: orgID, Generation: 1}
	for _, tc := range []struct {
		name  string
		state RegistrationState
		now   time.Time
		want  bool
	}{
		{"pending", fold(registrationStarted()...), t0, true},
		{"mailed", fold(registrationStarted(VerificationEmailSent{RegistrationID: regID, Generation: 1})...), t0, false},
		{"expired", fold(registrationStarted()...), t0.Add(DefaultVerificationTTL), false},
		{"verified before the mail was recorded", fold(registrationStarted(RegistrationEmailVerified{RegistrationID: regID, UserID: newcomerID, Generation: 1})...), t0, false},
		{"existing member", fold(attempt), t0, true},
		{"existing member mailed", fold(attempt, AlreadyMemberEmailSent{RegistrationID: regID, Generation: 1}), t0, false},
	} {
		if got := tc.state.MailDue(tc.now); got != tc.want {
			t.Errorf("%s: MailDue = %v, want %v", tc.name, got, tc.want)
		}
	}
	if s := fold(registrationStarted()...); s.PasswordHash == "" || s.LinkGeneration != 2 {
		t.Errorf("registration state lost the hash or link generation: %+v", s)
	}
}
