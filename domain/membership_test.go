package domain

import "testing"

func TestDecideMembership(t *testing.T) {
	held := MembershipInvitationHeld{OrgID: orgID, InvitationID: invID}
	reserved := MembershipReserved{OrgID: orgID, UserID: newcomerID, Via: JoinedViaInvitation, InvitationID: invID}
	runSpecs(t, EvolveMembership, DecideMembership, []spec[MembershipCommand]{
		{
			name: "a fresh address is held for an invitation",
			when: HoldForInvitation{OrgID: orgID, InvitationID: invID},
			then: []Event{held},
		},
		{
			name:     "a second invitation of the same address is refused",
			given:    []Event{held},
			when:     HoldForInvitation{OrgID: orgID, InvitationID: "inv-2"},
			wantKind: KindConflict, wantCode: CodeAlreadyInvited,
		},
		{
			name:  "a retried hold for the same invitation records nothing",
			given: []Event{held},
			when:  HoldForInvitation{OrgID: orgID, InvitationID: invID},
			then:  nil,
		},
		{
			name:  "an ended invitation's hold is replaced in one append",
			given: []Event{held},
			when:  HoldForInvitation{OrgID: orgID, InvitationID: "inv-2", PreviousHoldEnded: true},
			then: []Event{
				MembershipInvitationReleased{OrgID: orgID, InvitationID: invID},
				MembershipInvitationHeld{OrgID: orgID, InvitationID: "inv-2"},
			},
		},
		{
			name:     "a member's address is not invited",
			given:    []Event{held, reserved},
			when:     HoldForInvitation{OrgID: orgID, InvitationID: "inv-2", PreviousHoldEnded: true},
			wantKind: KindConflict, wantCode: CodeAlreadyMember,
		},
		{
			name:  "a released hold frees the address",
			given: []Event{held, MembershipInvitationReleased{OrgID: orgID, InvitationID: invID}},
			when:  HoldForInvitation{OrgID: orgID, InvitationID: "inv-2"},
			then:  []Event{MembershipInvitationHeld{OrgID: orgID, InvitationID: "inv-2"}},
		},
		{
			name:  "revoking releases the hold",
			given: []Event{held},
			when:  ReleaseInvitationHold{InvitationID: invID},
			then:  []Event{MembershipInvitationReleased{OrgID: orgID, InvitationID: invID}},
		},
		{
			name:  "releasing another invitation's hold records nothing",
			given: []Event{held},
			when:  ReleaseInvitationHold{InvitationID: "inv-2"},
			then:  nil,
		},
		{
			name:  "accepting the invitation reserves the membership",
			given: []Event{held},
			when:  ReserveMembership{OrgID: orgID, UserID: newcomerID, Via: JoinedViaInvitation, InvitationID: invID},
			then:  []Event{reserved},
		},
		{
			name: "a fresh address is reserved by a self-service registration",
			when: ReserveMembership{OrgID: orgID, UserID: newcomerID, Via: JoinedViaSelfServiceLink},
			then: []Event{MembershipReserved{OrgID: orgID, UserID: newcomerID, Via: JoinedViaSelfServiceLink}},
		},
		{
			name:     "one membership per organization and address",
			given:    []Event{held, reserved},
			when:     ReserveMembership{OrgID: orgID, UserID: "u-other", Via: JoinedViaManual},
			wantKind: KindConflict, wantCode: CodeAlreadyMember,
		},
		{
			name:  "a retried reservation for the same user records nothing",
			given: []Event{held, reserved},
			when:  ReserveMembership{OrgID: orgID, UserID: newcomerID, Via: JoinedViaInvitation, InvitationID: invID},
			then:  nil,
		},
		{
			name:  "removal releases the membership",
			given: []Event{held, reserved},
			when:  ReleaseMembership{UserID: newcomerID},
			then:  []Event{MembershipReleased{OrgID: orgID, UserID: newcomerID}},
		},
		{
			name:  "after release the address can be invited again",
			given: []Event{held, reserved, MembershipReleased{OrgID: orgID, UserID: newcomerID}},
			when:  HoldForInvitation{OrgID: orgID, InvitationID: "inv-2"},
			then:  []Event{MembershipInvitationHeld{OrgID: orgID, InvitationID: "inv-2"}},
		},
		{
			name:  "releasing someone else's membership records nothing",
			given: []Event{reserved},
			when:  ReleaseMembership{UserID: "u-other"},
			then:  nil,
		},
		{
			name:     "a reservation names its organization and user",
			when:     ReserveMembership{Via: JoinedViaManual},
			wantKind: KindInvalid, wantCode: CodeValidationFailed,
		},
	})
}
