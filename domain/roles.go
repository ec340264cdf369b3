package domain

// Role is a member's role in an organization.
type Role string

const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// ParseRole accepts any of the three roles.
func ParseRole(raw string) (Role, error) {
	switch r := Role(raw); r {
	case RoleOwner, RoleAdmin, RoleMember:
		return r, nil
	}
	return "", Invalid(CodeInvalidRole, "role must be one of owner, admin, member; got %q", raw)
}

// ParseInvitableRole accepts the roles that can be given by invitation,
// the self-service link or a manual add; an empty string means member.
// Ownership is only ever granted by an existing owner through a role change.
func ParseInvitableRole(raw string) (Role, error) {
	switch r := Role(raw); r {
	case "":
		return RoleMember, nil
	case RoleAdmin, RoleMember:
		return r, nil
	}
	return "", Invalid(CodeInvalidRole, "role must be admin or member; got %q", raw)
}

// CanAdminister reports whether the role may manage the organization.
func (r Role) CanAdminister() bool { return r == RoleOwner || r == RoleAdmin }

// JoinedVia says how a member joined; read models show it.
type JoinedVia string

const (
	JoinedViaBootstrap       JoinedVia = "bootstrap"
	JoinedViaInvitation      JoinedVia = "invitation"
	JoinedViaSelfServiceLink JoinedVia = "self_service_link"
	JoinedViaManual          JoinedVia = "manual"
)

// Actor is who caused an event, as recorded in event metadata: a user id,
// or one of the non-person actors below.
type Actor string

const (
	ActorSystem          Actor = "system"
	ActorSelfServiceLink Actor = "self-service-link"
)

// UserActor is the actor for a signed-in user: the plain user id, as the
// audit trail and its actor filter expect. Ids are random, so they never
// collide with the fixed actor names.
func UserActor(id UserID) Actor { return Actor(id) }
