package domain

import (
	"testing"
	"time"
)

const invID InvitationID = "inv-1"

func invited(more ...Event) []Event {
	return append([]Event{UserInvited{
		InvitationID: invID, OrgID: orgID, Email: "Nina@Acme.test", NormalizedEmail: "nina@acme.test",
		Role: RoleAdmin, InvitedBy: adminID, Generation: 1, ExpiresAt: t0.Add(DefaultInvitationTTL),
	}}, more...)
}

func TestDecideInvitation_Invite(t *testing.T) {
	nina := MustParseEmail("Nina@Acme.test")
	runSpecs(t, EvolveInvitation, DecideInvitation, []spec[InvitationCommand]{
		{
			name: "invites with the role and a 7-day expiry by default",
			when: InviteUser{InvitationID: invID, OrgID: orgID, Email: nina, Role: RoleAdmin, InvitedBy: adminID},
			then: invited(),
		},
		{
			name: "role defaults to member and the expiry is configurable",
			when: InviteUser{InvitationID: invID, OrgID: orgID, Email: nina, InvitedBy: adminID, TTL: 48 * time.Hour},
			then: []Event{UserInvited{
				InvitationID: invID, OrgID: orgID, Email: "Nina@Acme.test", NormalizedEmail: "nina@acme.test",
				Role: RoleMember, InvitedBy: adminID, Generation: 1, ExpiresAt: t0.Add(48 * time.Hour),
			}},
		},
		{
			name: "the inviter's name for the invitee is kept, trimmed",
			when: InviteUser{InvitationID: invID, OrgID: orgID, Email: nina, Role: RoleAdmin, InvitedBy: adminID, Name: "  Nina Simone "},
			then: []Event{UserInvited{
				InvitationID: invID, OrgID: orgID, Email: "Nina@Acme.test", NormalizedEmail: "nina@acme.test",
				Role: RoleAdmin, InvitedBy: adminID, Generation: 1, ExpiresAt: t0.Add(DefaultInvitationTTL), Name: "Nina Simone",
			}},
		},
		{
			name:     "a name given must be a valid one",
			when:     InviteUser{InvitationID: invID, OrgID: orgID, Email: nina, InvitedBy: adminID, Name: "Nina\nSimone"},
			wantKind: KindInvalid, wantCode: CodeValidationFailed, wantFields: []string{"name"},
		},
		{
			name:     "owners are not invited",
			when:     InviteUser{InvitationID: invID, OrgID: orgID, Email: nina, Role: RoleOwner, InvitedBy: adminID},
			wantKind: KindInvalid, wantCode: CodeValidationFailed, wantFields: []string{"role"},
		},
		{
			name:     "an address and ids are required",
			when:     InviteUser{Role: RoleMember, TTL: -time.Second},
			wantKind: KindInvalid, wantCode: CodeValidationFailed, wantFields: []string{"email", "id", "ttl"},
		},
		{
			name:     "an invitation stream is written once",
			given:    invited(),
			when:     InviteUser{InvitationID: invID, OrgID: orgID, Email: nina, InvitedBy: adminID},
			wantKind: KindConflict, wantCode: CodeInvitationExists,
		},
	})
}

func TestDecideInvitation_ResendAndRevoke(t *testing.T) {
	runSpecs(t, EvolveInvitation, DecideInvitation, []spec[InvitationCommand]{
		{
			name:  "resend bumps the generation and restarts the expiry",
			given: invited(),
			when:  ResendInvitation{},
			now:   t0.Add(3 * 24 * time.Hour),
			then:  []Event{InvitationResent{InvitationID: invID, OrgID: orgID, Generation: 2, ExpiresAt: t0.Add(10 * 24 * time.Hour)}},
		},
		{
			name:  "an expired invitation can be resent",
			given: invited(InvitationResent{InvitationID: invID, OrgID: orgID, Generation: 2, ExpiresAt: t0.Add(time.Hour)}),
			when:  ResendInvitation{TTL: time.Hour},
			now:   t0.Add(30 * 24 * time.Hour),
			then:  []Event{InvitationResent{InvitationID: invID, OrgID: orgID, Generation: 3, ExpiresAt: t0.Add(30*24*time.Hour + time.Hour)}},
		},
		{
			name:     "an accepted invitation is not resent",
			given:    invited(InvitationAccepted{InvitationID: invID, OrgID: orgID, UserID: newcomerID, Generation: 1}),
			when:     ResendInvitation{},
			wantKind: KindConflict, wantCode: CodeInvitationAccepted,
		},
		{
			name:     "a revoked invitation is not resent",
			given:    invited(InvitationRevoked{InvitationID: invID, OrgID: orgID}),
			when:     ResendInvitation{},
			wantKind: KindConflict, wantCode: CodeInvitationRevoked,
		},
		{
			name:     "resending an unknown invitation",
			when:     ResendInvitation{},
			wantKind: KindNotFound, wantCode: CodeInvitationNotFound,
		},
		{
			name:  "revoke a pending invitation",
			given: invited(),
			when:  RevokeInvitation{},
			then:  []Event{InvitationRevoked{InvitationID: invID, OrgID: orgID}},
		},
		{
			name:  "revoke an expired invitation",
			given: invited(),
			when:  RevokeInvitation{},
			now:   t0.Add(8 * 24 * time.Hour),
			then:  []Event{InvitationRevoked{InvitationID: invID, OrgID: orgID}},
		},
		{
			name:  "revoking twice records nothing",
			given: invited(InvitationRevoked{InvitationID: invID, OrgID: orgID}),
			when:  RevokeInvitation{},
			then:  nil,
		},
		{
			name:     "an accepted invitation cannot be revoked",
			given:    invited(InvitationAccepted{InvitationID: invID, OrgID: orgID, UserID: newcomerID, Generation: 1}),
			when:     RevokeInvitation{},
			wantKind: KindConflict, wantCode: CodeInvitationAccepted,
		},
	})
}

func TestDecideInvitation_Accept(t *testing.T) {
	resent := invited(InvitationResent{InvitationID: invID, OrgID: orgID, Generation: 2, ExpiresAt: t0.Add(10 * 24 * time.Hour)})
	accepted := InvitationAccepted{InvitationID: invID, OrgID: orgID, UserID: newcomerID, Generation: 1}
	runSpecs(t, EvolveInvitation, DecideInvitation, []spec[InvitationCommand]{
		{
			name:  "a pending invitation is accepted",
			given: invited(),
			when:  AcceptInvitation{Generation: 1, UserID: newcomerID},
			now:   t0.Add(DefaultInvitationTTL - time.Nanosecond),
			then:  []Event{accepted},
		},
		{
			name:     "the token is single-use",
			given:    invited(accepted),
			when:     AcceptInvitation{Generation: 1, UserID: "u-other"},
			wantKind: KindGone, wantCode: CodeInvitationUsed,
		},
		{
			name:     "an expired invitation is gone",
			given:    invited(),
			when:     AcceptInvitation{Generation: 1, UserID: newcomerID},
			now:      t0.Add(DefaultInvitationTTL),
			wantKind: KindGone, wantCode: CodeInvitationExpired,
		},
		{
			name:     "a revoked invitation is gone",
			given:    invited(InvitationRevoked{InvitationID: invID, OrgID: orgID}),
			when:     AcceptInvitation{Generation: 1, UserID: newcomerID},
			wantKind: KindGone, wantCode: CodeInvitationRevoked,
		},
		{
			name:     "the token from before a resend is superseded",
			given:    resent,
			when:     AcceptInvitation{Generation: 1, UserID: newcomerID},
			wantKind: KindGone, wantCode: CodeInvitationSuperseded,
		},
		{
			name:  "the resent token works past the original expiry",
			given: resent,
			when:  AcceptInvitation{Generation: 2, UserID: newcomerID},
			now:   t0.Add(9 * 24 * time.Hour),
			then:  []Event{InvitationAccepted{InvitationID: invID, OrgID: orgID, UserID: newcomerID, Generation: 2}},
		},
		{
			name:     "a generation never issued is not found",
			given:    invited(),
			when:     AcceptInvitation{Generation: 2, UserID: newcomerID},
			wantKind: KindNotFound, wantCode: CodeInvitationNotFound,
		},
		{
			name:     "an unknown invitation is not found",
			when:     AcceptInvitation{Generation: 1, UserID: newcomerID},
			wantKind: KindNotFound, wantCode: CodeInvitationNotFound,
		},
		{
			name:     "a failed accept leaves the invitation usable",
			given:    invited(),
			when:     AcceptInvitation{Generation: 1},
			wantKind: KindInvalid, wantCode: CodeValidationFailed,
		},
	})
}

func TestDecideInvitation_RecordEmail(t *testing.T) {
	runSpecs(t, EvolveInvitation, DecideInvitation, []spec[InvitationCommand]{
		{
			name:  "a sent mail is recorded",
			given: invited(),
			when:  RecordInvitationEmail{Generation: 1, MessageID: "<m1@mail>"},
			then:  []Event{InvitationEmailSent{InvitationID: invID, OrgID: orgID, Generation: 1, MessageID: "<m1@mail>"}},
		},
		{
			name:  "a permanent failure is recorded",
			given: invited(),
			when:  RecordInvitationEmail{Generation: 1, FailureReason: "550 no such user"},
			then:  []Event{InvitationEmailFailed{InvitationID: invID, OrgID: orgID, Generation: 1, Reason: "550 no such user"}},
		},
		{
			name:  "a redelivered result is recorded once",
			given: invited(InvitationEmailSent{InvitationID: invID, OrgID: orgID, Generation: 1}),
			when:  RecordInvitationEmail{Generation: 1, MessageID: "<m1@mail>"},
			then:  nil,
		},
		{
			name:  "the resent generation gets its own record",
			given: invited(InvitationEmailSent{InvitationID: invID, OrgID: orgID, Generation: 1}, InvitationResent{InvitationID: invID, OrgID: orgID, Generation: 2, ExpiresAt: t0.Add(time.Hour)}),
			when:  RecordInvitationEmail{Generation: 2},
			then:  []Event{InvitationEmailSent{InvitationID: invID, OrgID: orgID, Generation: 2}},
		},
		{
			name:     "a generation never issued is refused",
			given:    invited(),
			when:     RecordInvitationEmail{Generation: 2},
			wantKind: KindInvalid, wantCode: CodeValidationFailed,
		},
	})
}

func TestInvitationState_MailDue(t *testing.T) {
	fold := func(events ...Event) InvitationState { return Fold(InvitationState{}, EvolveInvitation, events...) }
	for _, tc := range []struct {
		name  string
		state InvitationState
		now   time.Time
		want  bool
	}{
		{"new invitation", fold(invited()...), t0, true},
		{"already mailed", fold(invited(InvitationEmailSent{InvitationID: invID, Generation: 1})...), t0, false},
		{"failed permanently", fold(invited(InvitationEmailFailed{InvitationID: invID, Generation: 1, Reason: "550"})...), t0, false},
		{"resent after mailing", fold(invited(InvitationEmailSent{InvitationID: invID, Generation: 1}, InvitationResent{InvitationID: invID, Generation: 2, ExpiresAt: t0.Add(time.Hour)})...), t0, true},
		{"expired (a replay on an old store)", fold(invited()...), t0.Add(DefaultInvitationTTL), false},
		{"revoked", fold(invited(InvitationRevoked{InvitationID: invID})...), t0, false},
		{"accepted", fold(invited(InvitationAccepted{InvitationID: invID, UserID: newcomerID, Generation: 1})...), t0, false},
	} {
		if got := tc.state.MailDue(tc.now); got != tc.want {
			t.Errorf("%s: MailDue = %v, want %v", tc.name, got, tc.want)
		}
	}
	s := fold(invited(InvitationEmailFailed{InvitationID: invID, Generation: 1, Reason: "550"})...)
	if s.MailFailure != "550" {
		t.Errorf("failure reason not kept: %q", s.MailFailure)
	}
}
