package domain

import "time"

// OrganizationCommand is a command decided by DecideOrganization.
type OrganizationCommand interface{ organizationCommand() }

// CreateOrganization creates an organization with its first owner (the
// bootstrap at first start). The owner's account is created separately on
// the user stream.
type CreateOrganization struct {
	OrgID      OrgID
	Name       string
	OwnerID    UserID
	OwnerEmail Email
	OwnerName  string
}

// ConfigureSelfServiceLink replaces the link's settings (a PUT).
type ConfigureSelfServiceLink struct {
	Actor          UserID
	Enabled        bool
	AllowedDomains []string   // as typed; parsed and canonicalized here
	DefaultRole    Role       // admin or member; empty means member
	ExpiresAt      *time.Time // nil: never
	MaxUses        int        // 0: unlimited
}

// RotateSelfServiceLink issues a new link and kills the old one.
type RotateSelfServiceLink struct {
	Actor UserID
}

// AddMemberManually adds a member directly; they set their password from a
// mailed link (the account side issues that token).
type AddMemberManually struct {
	Actor  UserID
	UserID UserID
	Email  Email
	Name   string
	Role   Role
}

// AdmitInvitedMember adds the person who accepted an invitation, with the
// role the invitation pre-assigned. The invitation aggregate has already
// decided that the acceptance is valid.
type AdmitInvitedMember struct {
	UserID       UserID
	Email        Email
	Name         string
	Role         Role
	InvitationID InvitationID
	InvitedBy    UserID
}

// AdmitSelfServiceMember adds a person whose self-service registration was
// verified. The link is checked again here, against the current state: it
// may have been rotated, disabled, restricted or used up since the
// registration started, and the use limit must be counted in the same
// append that adds the member.
type AdmitSelfServiceMember struct {
	UserID         UserID
	Email          Email
	Name           string
	RegistrationID RegistrationID
	LinkGeneration int
}

// ChangeMemberRole changes a member's role.
type ChangeMemberRole struct {
	Actor  UserID
	UserID UserID
	Role   Role
}

// RemoveMember removes a member from the organization.
type RemoveMember struct {
	Actor  UserID
	UserID UserID
}

func (CreateOrganization) organizationCommand()       {}
func (ConfigureSelfServiceLink) organizationCommand() {}
func (RotateSelfServiceLink) organizationCommand()    {}
func (AddMemberManually) organizationCommand()        {}
func (AdmitInvitedMember) organizationCommand()       {}
func (AdmitSelfServiceMember) organizationCommand()   {}
func (ChangeMemberRole) organizationCommand()         {}
func (RemoveMember) organizationCommand()             {}

// DecideOrganization decides a command against the organization's state.
// It is pure: the same state, command and time always give the same answer.
func DecideOrganization(s OrganizationState, cmd OrganizationCommand, now time.Time) ([]Event, error) {
	if c, ok := cmd.(CreateOrganization); ok {
		return createOrganization(s, c)
	}
	if !s.Exists() {
		return nil, organizationNotFound()
	}
	switch c := cmd.(type) {
	case ConfigureSelfServiceLink:
		return configureSelfServiceLink(s, c, now)
	case RotateSelfServiceLink:
		if err := s.RequireAdmin(c.Actor); err != nil {
			return nil, err
		}
		return []Event{SelfServiceLinkRotated{OrgID: s.ID, Generation: s.Link.Generation + 1}}, nil
	case AddMemberManually:
		if err := s.RequireAdmin(c.Actor); err != nil {
			return nil, err
		}
		role, err := ParseInvitableRole(string(c.Role))
		if err != nil {
			return nil, err
		}
		return admitMember(s, c.UserID, c.Email, c.Name, MemberJoined{Role: role, Via: JoinedViaManual, InvitedBy: c.Actor})
	case AdmitInvitedMember:
		if _, err := ParseInvitableRole(string(c.Role)); err != nil {
			return nil, err
		}
		return admitMember(s, c.UserID, c.Email, c.Name, MemberJoined{
			Role: c.Role, Via: JoinedViaInvitation, InvitedBy: c.InvitedBy, InvitationID: c.InvitationID,
		})
	case AdmitSelfServiceMember:
		if err := s.Link.Admits(c.LinkGeneration, c.Email, now); err != nil {
			return nil, err
		}
		return admitMember(s, c.UserID, c.Email, c.Name, MemberJoined{
			Role: s.Link.DefaultRole, Via: JoinedViaSelfServiceLink,
			RegistrationID: c.RegistrationID, LinkGeneration: c.LinkGeneration,
		})
	case ChangeMemberRole:
		return changeMemberRole(s, c)
	case RemoveMember:
		return removeMember(s, c)
	}
	return nil, Invalid(CodeValidationFailed, "unsupported organization command %T", cmd)
}

func createOrganization(s OrganizationState, c CreateOrganization) ([]Event, error) {
	if s.Exists() {
		return nil, Conflict(CodeOrganizationExists, "this organization already exists")
	}
	problems := fieldErrors{}
	name, err := ParseOrganizationName(c.Name)
	problems.add("name", err)
	ownerName, err := ParsePersonName(c.OwnerName)
	problems.add("ownerName", err)
	if c.OwnerEmail.IsZero() {
		problems["ownerEmail"] = "the owner's email address is missing"
	}
	if c.OrgID == "" || c.OwnerID == "" {
		problems["id"] = "organization and owner ids are required"
	}
	if err := problems.err(CodeValidationFailed, "the organization cannot be created; fix the fields listed"); err != nil {
		return nil, err
	}
	return []Event{
		OrganizationCreated{OrgID: c.OrgID, Name: name, LinkGeneration: 1},
		MemberJoined{
			OrgID: c.OrgID, UserID: c.OwnerID, Email: c.OwnerEmail.String(),
			NormalizedEmail: c.OwnerEmail.Normalized(), Name: ownerName,
			Role: RoleOwner, Via: JoinedViaBootstrap,
		},
	}, nil
}

func configureSelfServiceLink(s OrganizationState, c ConfigureSelfServiceLink, now time.Time) ([]Event, error) {
	if err := s.RequireAdmin(c.Actor); err != nil {
		return nil, err
	}
	problems := fieldErrors{}
	domains, err := ParseDomainAllowlist(c.AllowedDomains)
	problems.merge("allowedDomains", err)
	role, err := ParseInvitableRole(string(c.DefaultRole))
	problems.add("defaultRole", err)
	if c.ExpiresAt != nil && !c.ExpiresAt.After(now) {
		problems["expiresAt"] = "the expiry must be in the future; leave it empty for a link that does not expire"
	}
	if c.MaxUses < 0 {
		problems["maxUses"] = "the maximum number of uses cannot be negative; use 0 for unlimited"
	}
	if err := problems.err(CodeInvalidLinkSetting, "the self-service link settings are not valid; fix the fields listed"); err != nil {
		return nil, err
	}
	var expiresAt *time.Time
	if c.ExpiresAt != nil {
		t := c.ExpiresAt.UTC()
		expiresAt = &t
	}
	e := SelfServiceLinkConfigured{
		OrgID: s.ID, Enabled: c.Enabled, AllowedDomains: domains.Strings(),
		DefaultRole: role, ExpiresAt: expiresAt, MaxUses: c.MaxUses,
	}
	if s.Link.sameSettings(e) {
		return nil, nil // an unchanged PUT records nothing
	}
	return []Event{e}, nil
}

// admitMember completes and checks a MemberJoined. The membership stream
// is the authority on one membership per address; the roster check here is
// the same rule seen from the organization, and catches a user id reused.
func admitMember(s OrganizationState, id UserID, email Email, rawName string, joined MemberJoined) ([]Event, error) {
	problems := fieldErrors{}
	name, err := ParsePersonName(rawName)
	problems.add("name", err)
	if email.IsZero() {
		problems["email"] = "the email address is missing"
	}
	if id == "" {
		problems["userId"] = "the user id is missing"
	}
	if err := problems.err(CodeValidationFailed, "the member cannot be added; fix the fields listed"); err != nil {
		return nil, err
	}
	if _, taken := s.members[id]; taken {
		return nil, Conflict(CodeAlreadyMember, "this user is already a member of the organization")
	}
	if _, taken := s.MemberByEmail(email); taken {
		return nil, Conflict(CodeAlreadyMember, "%s is already a member of the organization", email)
	}
	joined.OrgID, joined.UserID, joined.Name = s.ID, id, name
	joined.Email, joined.NormalizedEmail = email.String(), email.Normalized()
	return []Event{joined}, nil
}

// checkOwnershipRules enforces who may touch owners: only an owner may
// grant ownership or change or remove an owner, and the last owner stays.
// An organization always keeps at least one owner, so it always has
// someone who can administer it (the "last owner or admin" rule of the
// product issue).
func checkOwnershipRules(s OrganizationState, actor UserID, target Member, newRole Role, removing bool) error {
	touchesOwner := target.Role == RoleOwner || newRole == RoleOwner
	if touchesOwner && s.members[actor].Role != RoleOwner {
		return Forbidden(CodeOwnerRequired, "only an owner can grant, change or remove ownership; ask an owner")
	}
	losesOwner := target.Role == RoleOwner && (removing || newRole != RoleOwner)
	if losesOwner && s.countRole(RoleOwner) == 1 {
		return Conflict(CodeLastOwner, "%s is the organization's last owner; make another member owner first", target.Email)
	}
	return nil
}

func changeMemberRole(s OrganizationState, c ChangeMemberRole) ([]Event, error) {
	if err := s.RequireAdmin(c.Actor); err != nil {
		return nil, err
	}
	role, err := ParseRole(string(c.Role))
	if err != nil {
		return nil, err
	}
	target, ok := s.members[c.UserID]
	if !ok {
		return nil, NotFound(CodeMemberNotFound, "this user is not a member of the organization")
	}
	if target.Role == role {
		return nil, nil // already so: nothing to record
	}
	if err := checkOwnershipRules(s, c.Actor, target, role, false); err != nil {
		return nil, err
	}
	return []Event{MemberRoleChanged{OrgID: s.ID, UserID: c.UserID, From: target.Role, To: role}}, nil
}

func removeMember(s OrganizationState, c RemoveMember) ([]Event, error) {
	if err := s.RequireAdmin(c.Actor); err != nil {
		return nil, err
	}
	target, ok := s.members[c.UserID]
	if !ok {
		return nil, NotFound(CodeMemberNotFound, "this user is not a member of the organization")
	}
	if err := checkOwnershipRules(s, c.Actor, target, "", true); err != nil {
		return nil, err
	}
	return []Event{MemberRemoved{OrgID: s.ID, UserID: c.UserID, NormalizedEmail: target.NormalizedEmail}}, nil
}
