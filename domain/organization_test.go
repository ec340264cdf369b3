package domain

import (
	"testing"
	"time"
)

const (
	orgID      OrgID  = "org-1"
	ownerID    UserID = "u-owner"
	owner2ID   UserID = "u-owner2"
	adminID    UserID = "u-admin"
	memberID   UserID = "u-member"
	newcomerID UserID = "u-new"
	strangerID UserID = "u-stranger"
)

func joined(id UserID, email string, role Role, via JoinedVia) MemberJoined {
	e := MustParseEmail(email)
	return MemberJoined{OrgID: orgID, UserID: id, Email: e.String(), NormalizedEmail: e.Normalized(), Name: string(id), Role: role, Via: via}
}

// acme is an organization with an owner, an admin and a plain member.
func acme(more ...Event) []Event {
	return append([]Event{
		OrganizationCreated{OrgID: orgID, Name: "Acme", LinkGeneration: 1},
		joined(ownerID, "owner@acme.test", RoleOwner, JoinedViaBootstrap),
		joined(adminID, "admin@acme.test", RoleAdmin, JoinedViaInvitation),
		joined(memberID, "member@acme.test", RoleMember, JoinedViaInvitation),
	}, more...)
}

func TestDecideOrganization_Create(t *testing.T) {
	runSpecs(t, EvolveOrganization, DecideOrganization, []spec[OrganizationCommand]{
		{
			name: "creates the organization with its owner and an enabled link",
			when: CreateOrganization{OrgID: orgID, Name: "  Acme  ", OwnerID: ownerID, OwnerEmail: MustParseEmail("Owner@Acme.test"), OwnerName: "Olga"},
			then: []Event{
				OrganizationCreated{OrgID: orgID, Name: "Acme", LinkGeneration: 1},
				MemberJoined{OrgID: orgID, UserID: ownerID, Email: "Owner@Acme.test", NormalizedEmail: "owner@acme.test", Name: "Olga", Role: RoleOwner, Via: JoinedViaBootstrap},
			},
		},
		{
			name:     "an organization is created once",
			given:    acme(),
			when:     CreateOrganization{OrgID: orgID, Name: "Acme", OwnerID: ownerID, OwnerEmail: MustParseEmail("o@acme.test"), OwnerName: "Olga"},
			wantKind: KindConflict, wantCode: CodeOrganizationExists,
		},
		{
			name:     "name, owner name and owner email are required",
			when:     CreateOrganization{OrgID: orgID, Name: " ", OwnerID: ownerID, OwnerName: ""},
			wantKind: KindInvalid, wantCode: CodeValidationFailed,
			wantFields: []string{"name", "ownerName", "ownerEmail"},
		},
	})
}

func TestEvolveOrganization_NewOrganizationHasEnabledLink(t *testing.T) {
	s := Fold(OrganizationState{}, EvolveOrganization, acme()...)
	want := SelfServiceLink{Enabled: true, DefaultRole: RoleMember, Generation: 1}
	if s.Link.Enabled != want.Enabled || s.Link.DefaultRole != want.DefaultRole || s.Link.Generation != 1 || len(s.Link.AllowedDomains) != 0 {
		t.Fatalf("link = %+v, want %+v", s.Link, want)
	}
	if len(s.Members()) != 3 || s.Members()[0].UserID != adminID {
		t.Fatalf("members not sorted by email: %+v", s.Members())
	}
	if m, ok := s.MemberByEmail(MustParseEmail("ADMIN@acme.test")); !ok || m.UserID != adminID {
		t.Fatalf("MemberByEmail is not case-insensitive: %+v %v", m, ok)
	}
}

func TestOrganizationState_RequireAdmin(t *testing.T) {
	s := Fold(OrganizationState{}, EvolveOrganization, acme()...)
	for _, tc := range []struct {
		actor    UserID
		wantCode string
	}{
		{ownerID, ""},
		{adminID, ""},
		{memberID, CodeNotAnAdmin},
		{strangerID, CodeNotAnAdmin},
	} {
		if got := CodeOf(s.RequireAdmin(tc.actor)); got != tc.wantCode {
			t.Errorf("RequireAdmin(%s) = %q, want %q", tc.actor, got, tc.wantCode)
		}
	}
	if got := CodeOf(OrganizationState{}.RequireAdmin(ownerID)); got != CodeOrganizationNotFound {
		t.Errorf("missing organization: %q", got)
	}
}

func TestDecideOrganization_CommandsNeedAnExistingOrganization(t *testing.T) {
	runSpecs(t, EvolveOrganization, DecideOrganization, []spec[OrganizationCommand]{
		{name: "rotate", when: RotateSelfServiceLink{Actor: ownerID}, wantKind: KindNotFound, wantCode: CodeOrganizationNotFound},
		{name: "change role", when: ChangeMemberRole{Actor: ownerID, UserID: memberID, Role: RoleAdmin}, wantKind: KindNotFound, wantCode: CodeOrganizationNotFound},
		{name: "admit", when: AdmitInvitedMember{UserID: newcomerID, Email: MustParseEmail("n@x.test"), Name: "N", Role: RoleMember}, wantKind: KindNotFound, wantCode: CodeOrganizationNotFound},
	})
}

func TestDecideOrganization_ChangeMemberRole(t *testing.T) {
	twoOwners := acme(joined(owner2ID, "owner2@acme.test", RoleOwner, JoinedViaInvitation))
	runSpecs(t, EvolveOrganization, DecideOrganization, []spec[OrganizationCommand]{
		{
			name:  "an admin promotes a member to admin",
			given: acme(),
			when:  ChangeMemberRole{Actor: adminID, UserID: memberID, Role: RoleAdmin},
			then:  []Event{MemberRoleChanged{OrgID: orgID, UserID: memberID, From: RoleMember, To: RoleAdmin}},
		},
		{
			name:  "an admin demotes another admin",
			given: acme(joined(owner2ID, "a2@acme.test", RoleAdmin, JoinedViaInvitation)),
			when:  ChangeMemberRole{Actor: adminID, UserID: owner2ID, Role: RoleMember},
			then:  []Event{MemberRoleChanged{OrgID: orgID, UserID: owner2ID, From: RoleAdmin, To: RoleMember}},
		},
		{
			name:  "an admin may demote themselves while an owner remains",
			given: acme(),
			when:  ChangeMemberRole{Actor: adminID, UserID: adminID, Role: RoleMember},
			then:  []Event{MemberRoleChanged{OrgID: orgID, UserID: adminID, From: RoleAdmin, To: RoleMember}},
		},
		{
			name:  "setting the current role records nothing",
			given: acme(),
			when:  ChangeMemberRole{Actor: adminID, UserID: memberID, Role: RoleMember},
			then:  nil,
		},
		{
			name:     "a member cannot change roles",
			given:    acme(),
			when:     ChangeMemberRole{Actor: memberID, UserID: memberID, Role: RoleAdmin},
			wantKind: KindForbidden, wantCode: CodeNotAnAdmin,
		},
		{
			name:     "a non-member cannot change roles",
			given:    acme(),
			when:     ChangeMemberRole{Actor: strangerID, UserID: memberID, Role: RoleAdmin},
			wantKind: KindForbidden, wantCode: CodeNotAnAdmin,
		},
		{
			name:     "an admin cannot grant ownership",
			given:    acme(),
			when:     ChangeMemberRole{Actor: adminID, UserID: memberID, Role: RoleOwner},
			wantKind: KindForbidden, wantCode: CodeOwnerRequired,
		},
		{
			name:     "an admin cannot demote an owner",
			given:    twoOwners,
			when:     ChangeMemberRole{Actor: adminID, UserID: owner2ID, Role: RoleMember},
			wantKind: KindForbidden, wantCode: CodeOwnerRequired,
		},
		{
			name:  "an owner grants ownership",
			given: acme(),
			when:  ChangeMemberRole{Actor: ownerID, UserID: adminID, Role: RoleOwner},
			then:  []Event{MemberRoleChanged{OrgID: orgID, UserID: adminID, From: RoleAdmin, To: RoleOwner}},
		},
		{
			name:  "an owner demotes another owner",
			given: twoOwners,
			when:  ChangeMemberRole{Actor: ownerID, UserID: owner2ID, Role: RoleAdmin},
			then:  []Event{MemberRoleChanged{OrgID: orgID, UserID: owner2ID, From: RoleOwner, To: RoleAdmin}},
		},
		{
			name:     "the last owner cannot demote themselves",
			given:    acme(),
			when:     ChangeMemberRole{Actor: ownerID, UserID: ownerID, Role: RoleAdmin},
			wantKind: KindConflict, wantCode: CodeLastOwner,
		},
		{
			name:     "the last owner stays even after the other owner was demoted",
			given:    append(twoOwners, MemberRoleChanged{OrgID: orgID, UserID: owner2ID, From: RoleOwner, To: RoleMember}),
			when:     ChangeMemberRole{Actor: ownerID, UserID: ownerID, Role: RoleMember},
			wantKind: KindConflict, wantCode: CodeLastOwner,
		},
		{
			name:     "the last owner stays even after the other owner was removed",
			given:    append(twoOwners, MemberRemoved{OrgID: orgID, UserID: owner2ID, NormalizedEmail: "owner2@acme.test"}),
			when:     ChangeMemberRole{Actor: ownerID, UserID: ownerID, Role: RoleMember},
			wantKind: KindConflict, wantCode: CodeLastOwner,
		},
		{
			name:     "the target must be a member",
			given:    acme(),
			when:     ChangeMemberRole{Actor: ownerID, UserID: strangerID, Role: RoleAdmin},
			wantKind: KindNotFound, wantCode: CodeMemberNotFound,
		},
		{
			name:     "the role must be known",
			given:    acme(),
			when:     ChangeMemberRole{Actor: ownerID, UserID: memberID, Role: "superuser"},
			wantKind: KindInvalid, wantCode: CodeInvalidRole,
		},
	})
}

func TestDecideOrganization_RemoveMember(t *testing.T) {
	twoOwners := acme(joined(owner2ID, "owner2@acme.test", RoleOwner, JoinedViaInvitation))
	runSpecs(t, EvolveOrganization, DecideOrganization, []spec[OrganizationCommand]{
		{
			name:  "an admin removes a member",
			given: acme(),
			when:  RemoveMember{Actor: adminID, UserID: memberID},
			then:  []Event{MemberRemoved{OrgID: orgID, UserID: memberID, NormalizedEmail: "member@acme.test"}},
		},
		{
			name:  "an owner removes an admin",
			given: acme(),
			when:  RemoveMember{Actor: ownerID, UserID: adminID},
			then:  []Event{MemberRemoved{OrgID: orgID, UserID: adminID, NormalizedEmail: "admin@acme.test"}},
		},
		{
			name:  "an owner removes another owner",
			given: twoOwners,
			when:  RemoveMember{Actor: ownerID, UserID: owner2ID},
			then:  []Event{MemberRemoved{OrgID: orgID, UserID: owner2ID, NormalizedEmail: "owner2@acme.test"}},
		},
		{
			name:     "the last owner cannot be removed, not even by themselves",
			given:    acme(),
			when:     RemoveMember{Actor: ownerID, UserID: ownerID},
			wantKind: KindConflict, wantCode: CodeLastOwner,
		},
		{
			name:     "an admin cannot remove an owner",
			given:    twoOwners,
			when:     RemoveMember{Actor: adminID, UserID: owner2ID},
			wantKind: KindForbidden, wantCode: CodeOwnerRequired,
		},
		{
			name:     "a member cannot remove anyone",
			given:    acme(),
			when:     RemoveMember{Actor: memberID, UserID: adminID},
			wantKind: KindForbidden, wantCode: CodeNotAnAdmin,
		},
		{
			name:     "a removed admin can no longer act",
			given:    acme(MemberRemoved{OrgID: orgID, UserID: adminID, NormalizedEmail: "admin@acme.test"}),
			when:     RemoveMember{Actor: adminID, UserID: memberID},
			wantKind: KindForbidden, wantCode: CodeNotAnAdmin,
		},
		{
			name:     "removing twice finds no member",
			given:    acme(MemberRemoved{OrgID: orgID, UserID: memberID, NormalizedEmail: "member@acme.test"}),
			when:     RemoveMember{Actor: ownerID, UserID: memberID},
			wantKind: KindNotFound, wantCode: CodeMemberNotFound,
		},
	})
}

func TestDecideOrganization_AdmitMembers(t *testing.T) {
	newcomer := MustParseEmail("New@Acme.test")
	runSpecs(t, EvolveOrganization, DecideOrganization, []spec[OrganizationCommand]{
		{
			name:  "an accepted invitation joins with the pre-assigned role",
			given: acme(),
			when:  AdmitInvitedMember{UserID: newcomerID, Email: newcomer, Name: "Nina", Role: RoleAdmin, InvitationID: "inv-1", InvitedBy: adminID},
			then: []Event{MemberJoined{
				OrgID: orgID, UserID: newcomerID, Email: "New@Acme.test", NormalizedEmail: "new@acme.test", Name: "Nina",
				Role: RoleAdmin, Via: JoinedViaInvitation, InvitedBy: adminID, InvitationID: "inv-1",
			}},
		},
		{
			name:     "an invitation cannot make an owner",
			given:    acme(),
			when:     AdmitInvitedMember{UserID: newcomerID, Email: newcomer, Name: "Nina", Role: RoleOwner, InvitationID: "inv-1"},
			wantKind: KindInvalid, wantCode: CodeInvalidRole,
		},
		{
			name:     "an address already on the roster cannot join again",
			given:    acme(),
			when:     AdmitInvitedMember{UserID: newcomerID, Email: MustParseEmail("MEMBER@acme.test"), Name: "M", Role: RoleMember},
			wantKind: KindConflict, wantCode: CodeAlreadyMember,
		},
		{
			name:     "a user id already on the roster cannot join again",
			given:    acme(),
			when:     AdmitInvitedMember{UserID: memberID, Email: newcomer, Name: "M", Role: RoleMember},
			wantKind: KindConflict, wantCode: CodeAlreadyMember,
		},
		{
			name:  "a removed member's address can join again",
			given: acme(MemberRemoved{OrgID: orgID, UserID: memberID, NormalizedEmail: "member@acme.test"}),
			when:  AdmitInvitedMember{UserID: newcomerID, Email: MustParseEmail("member@acme.test"), Name: "M", Role: RoleMember, InvitationID: "inv-2", InvitedBy: ownerID},
			then: []Event{MemberJoined{
				OrgID: orgID, UserID: newcomerID, Email: "member@acme.test", NormalizedEmail: "member@acme.test", Name: "M",
				Role: RoleMember, Via: JoinedViaInvitation, InvitedBy: ownerID, InvitationID: "inv-2",
			}},
		},
		{
			name:     "the name is validated",
			given:    acme(),
			when:     AdmitInvitedMember{UserID: newcomerID, Email: newcomer, Name: "bad\nname", Role: RoleMember},
			wantKind: KindInvalid, wantCode: CodeValidationFailed, wantFields: []string{"name"},
		},
		{
			name:  "an admin adds a member manually",
			given: acme(),
			when:  AddMemberManually{Actor: adminID, UserID: newcomerID, Email: newcomer, Name: "Nina", Role: ""},
			then: []Event{MemberJoined{
				OrgID: orgID, UserID: newcomerID, Email: "New@Acme.test", NormalizedEmail: "new@acme.test", Name: "Nina",
				Role: RoleMember, Via: JoinedViaManual, InvitedBy: adminID,
			}},
		},
		{
			name:     "a member cannot add members",
			given:    acme(),
			when:     AddMemberManually{Actor: memberID, UserID: newcomerID, Email: newcomer, Name: "Nina", Role: RoleMember},
			wantKind: KindForbidden, wantCode: CodeNotAnAdmin,
		},
		{
			name:     "a manual add cannot make an owner",
			given:    acme(),
			when:     AddMemberManually{Actor: ownerID, UserID: newcomerID, Email: newcomer, Name: "Nina", Role: RoleOwner},
			wantKind: KindInvalid, wantCode: CodeInvalidRole,
		},
		{
			name:     "a manual add of an existing member is refused",
			given:    acme(),
			when:     AddMemberManually{Actor: ownerID, UserID: newcomerID, Email: MustParseEmail("admin@ACME.test"), Name: "A", Role: RoleMember},
			wantKind: KindConflict, wantCode: CodeAlreadyMember,
		},
	})
}

func TestDecideOrganization_ConfigureSelfServiceLink(t *testing.T) {
	later := t0.Add(48 * time.Hour)
	configured := SelfServiceLinkConfigured{
		OrgID: orgID, Enabled: true, AllowedDomains: []string{"acme.test", "*.acme.test"},
		DefaultRole: RoleMember, ExpiresAt: &later, MaxUses: 10,
	}
	runSpecs(t, EvolveOrganization, DecideOrganization, []spec[OrganizationCommand]{
		{
			name:  "an admin sets domains, expiry and a use limit; domains are canonicalized and deduplicated",
			given: acme(),
			when: ConfigureSelfServiceLink{
				Actor: adminID, Enabled: true, AllowedDomains: []string{" ACME.test. ", "*.acme.test", "@acme.test"},
				ExpiresAt: &later, MaxUses: 10,
			},
			then: []Event{configured},
		},
		{
			name:  "the same settings again record nothing",
			given: acme(configured),
			when: ConfigureSelfServiceLink{
				Actor: adminID, Enabled: true, AllowedDomains: []string{"acme.test", "*.acme.test"},
				ExpiresAt: ptr(later.In(time.FixedZone("CET", 3600))), MaxUses: 10,
			},
			then: nil,
		},
		{
			name:  "disabling keeps the other settings",
			given: acme(configured),
			when:  ConfigureSelfServiceLink{Actor: ownerID, Enabled: false, AllowedDomains: []string{"acme.test"}, DefaultRole: RoleAdmin},
			then:  []Event{SelfServiceLinkConfigured{OrgID: orgID, Enabled: false, AllowedDomains: []string{"acme.test"}, DefaultRole: RoleAdmin}},
		},
		{
			name:     "a member cannot configure the link",
			given:    acme(),
			when:     ConfigureSelfServiceLink{Actor: memberID, Enabled: false},
			wantKind: KindForbidden, wantCode: CodeNotAnAdmin,
		},
		{
			name:  "every bad setting is reported at once",
			given: acme(),
			when: ConfigureSelfServiceLink{
				Actor: adminID, Enabled: true, AllowedDomains: []string{"ok.test", "not a domain", "*.com"},
				DefaultRole: RoleOwner, ExpiresAt: ptr(t0.Add(-time.Minute)), MaxUses: -1,
			},
			wantKind: KindInvalid, wantCode: CodeInvalidLinkSetting,
			wantFields: []string{"allowedDomains[1]", "allowedDomains[2]", "defaultRole", "expiresAt", "maxUses"},
		},
	})
}

func TestDecideOrganization_RotateSelfServiceLink(t *testing.T) {
	runSpecs(t, EvolveOrganization, DecideOrganization, []spec[OrganizationCommand]{
		{
			name:  "rotation bumps the generation",
			given: acme(SelfServiceLinkRotated{OrgID: orgID, Generation: 2}),
			when:  RotateSelfServiceLink{Actor: adminID},
			then:  []Event{SelfServiceLinkRotated{OrgID: orgID, Generation: 3}},
		},
		{
			name:     "a member cannot rotate",
			given:    acme(),
			when:     RotateSelfServiceLink{Actor: memberID},
			wantKind: KindForbidden, wantCode: CodeNotAnAdmin,
		},
	})
}

func TestDecideOrganization_AdmitSelfServiceMember(t *testing.T) {
	nina := MustParseEmail("nina@eng.acme.test")
	restricted := SelfServiceLinkConfigured{OrgID: orgID, Enabled: true, AllowedDomains: []string{"*.acme.test"}, DefaultRole: RoleMember, MaxUses: 2}
	viaLink := func(id UserID, email string, gen int) MemberJoined {
		e := joined(id, email, RoleMember, JoinedViaSelfServiceLink)
		e.LinkGeneration = gen
		e.RegistrationID = RegistrationID("reg-" + string(id))
		return e
	}
	admit := AdmitSelfServiceMember{UserID: newcomerID, Email: nina, Name: "Nina", RegistrationID: "reg-1", LinkGeneration: 1}
	runSpecs(t, EvolveOrganization, DecideOrganization, []spec[OrganizationCommand]{
		{
			name:  "a verified registration joins with the link's default role",
			given: acme(SelfServiceLinkConfigured{OrgID: orgID, Enabled: true, AllowedDomains: []string{}, DefaultRole: RoleAdmin}),
			when:  admit,
			then: []Event{MemberJoined{
				OrgID: orgID, UserID: newcomerID, Email: "nina@eng.acme.test", NormalizedEmail: "nina@eng.acme.test", Name: "Nina",
				Role: RoleAdmin, Via: JoinedViaSelfServiceLink, RegistrationID: "reg-1", LinkGeneration: 1,
			}},
		},
		{
			name:     "the link was rotated after the registration started",
			given:    acme(SelfServiceLinkRotated{OrgID: orgID, Generation: 2}),
			when:     admit,
			wantKind: KindGone, wantCode: CodeLinkRotated,
		},
		{
			name:     "the link was disabled meanwhile",
			given:    acme(SelfServiceLinkConfigured{OrgID: orgID, Enabled: false, AllowedDomains: []string{}, DefaultRole: RoleMember}),
			when:     admit,
			wantKind: KindGone, wantCode: CodeLinkDisabled,
		},
		{
			name:     "the allowlist was narrowed meanwhile",
			given:    acme(SelfServiceLinkConfigured{OrgID: orgID, Enabled: true, AllowedDomains: []string{"acme.test"}, DefaultRole: RoleMember}),
			when:     admit,
			wantKind: KindForbidden, wantCode: CodeEmailDomainForbidden,
		},
		{
			name:     "the use limit is counted by joins through the link",
			given:    acme(restricted, viaLink("u-a", "a@x.acme.test", 1), viaLink("u-b", "b@x.acme.test", 1)),
			when:     admit,
			wantKind: KindGone, wantCode: CodeLinkExhausted,
		},
		{
			name:  "joins by other means do not count as uses",
			given: acme(restricted, viaLink("u-a", "a@x.acme.test", 1), joined("u-b", "b@x.acme.test", RoleMember, JoinedViaInvitation)),
			when:  admit,
			then: []Event{MemberJoined{
				OrgID: orgID, UserID: newcomerID, Email: "nina@eng.acme.test", NormalizedEmail: "nina@eng.acme.test", Name: "Nina",
				Role: RoleMember, Via: JoinedViaSelfServiceLink, RegistrationID: "reg-1", LinkGeneration: 1,
			}},
		},
		{
			name: "rotation starts the use count over",
			given: acme(restricted, viaLink("u-a", "a@x.acme.test", 1), viaLink("u-b", "b@x.acme.test", 1),
				SelfServiceLinkRotated{OrgID: orgID, Generation: 2}),
			when: AdmitSelfServiceMember{UserID: newcomerID, Email: nina, Name: "Nina", RegistrationID: "reg-1", LinkGeneration: 2},
			then: []Event{MemberJoined{
				OrgID: orgID, UserID: newcomerID, Email: "nina@eng.acme.test", NormalizedEmail: "nina@eng.acme.test", Name: "Nina",
				Role: RoleMember, Via: JoinedViaSelfServiceLink, RegistrationID: "reg-1", LinkGeneration: 2,
			}},
		},
		{
			name:     "the link expired meanwhile",
			given:    acme(SelfServiceLinkConfigured{OrgID: orgID, Enabled: true, AllowedDomains: []string{}, DefaultRole: RoleMember, ExpiresAt: ptr(t0.Add(time.Hour))}),
			when:     admit,
			now:      t0.Add(time.Hour),
			wantKind: KindGone, wantCode: CodeLinkExpired,
		},
	})
}
