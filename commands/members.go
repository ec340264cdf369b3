package commands

import (
	"context"

	"github.com/orgportal/onboarding/domain"
)

// AddMemberInput is what POST /orgs/{orgId}/users receives.
type AddMemberInput struct {
	OrgID domain.OrgID
	Email string
	Name  string
	Role  string // admin or member; empty means member
}

// AddMemberManually adds a member directly. Their account has no password
// yet: a set-your-password token (generation 1, valid for
// Config.PasswordSetupTTL) is issued with it and mailed by the reactor;
// CompletePasswordSetup uses it.
func (h *Handlers) AddMemberManually(ctx context.Context, req Request, in AddMemberInput) (JoinResult, error) {
	req = h.withCorrelation(req)
	if _, err := h.loadOrgAsAdmin(ctx, in.OrgID, req.Actor); err != nil {
		return JoinResult{}, err
	}
	problems := map[string]string{}
	email, err := domain.ParseEmail(in.Email)
	note(problems, "email", err)
	name, err := domain.ParsePersonName(in.Name)
	note(problems, "name", err)
	role, err := domain.ParseInvitableRole(in.Role)
	note(problems, "role", err)
	if len(problems) > 0 {
		return JoinResult{}, &domain.Error{Kind: domain.KindInvalid, Code: domain.CodeValidationFailed,
			Message: "the member cannot be added; fix the fields listed", Fields: problems}
	}
	user := domain.UserID(h.ids())
	meta := h.meta(req, req.Actor)
	m := newMember{
		UserID: user, OrgID: in.OrgID, Email: email, Name: name, Via: domain.JoinedViaManual,
		admit: func(s domain.OrganizationState) ([]domain.Event, error) {
			return domain.DecideOrganization(s, domain.AddMemberManually{
				Actor: domain.UserID(req.Actor), UserID: user, Email: email, Name: name, Role: role,
			}, h.clock())
		},
	}
	if _, _, err := h.reserve(ctx, meta, m, ""); err != nil {
		return JoinResult{}, err
	}
	pos, _, err := h.join(ctx, meta, m)
	if err != nil {
		if domain.KindOf(err) != "" {
			h.undoJoin(meta, m, "") // the actor lost their admin role meanwhile
		}
		return JoinResult{}, err
	}
	return JoinResult{UserID: user, OrgID: in.OrgID, Position: pos}, nil
}

func note(problems map[string]string, field string, err error) {
	if err != nil {
		problems[field] = reasonOf(err)
	}
}

// ChangeMemberRole changes a member's role. Only owners touch ownership,
// and the last owner cannot be demoted (domain rules); setting the role a
// member already has records nothing.
func (h *Handlers) ChangeMemberRole(ctx context.Context, req Request, org domain.OrgID, user domain.UserID, role string) (Result, error) {
	req = h.withCorrelation(req)
	if _, err := h.loadOrgAsAdmin(ctx, org, req.Actor); err != nil {
		return Result{}, err
	}
	_, pos, err := update(ctx, h.store, domain.OrganizationStream(org), domain.EvolveOrganization, h.meta(req, req.Actor),
		func(s domain.OrganizationState) ([]domain.Event, error) {
			return domain.DecideOrganization(s, domain.ChangeMemberRole{Actor: domain.UserID(req.Actor), UserID: user, Role: domain.Role(role)}, h.clock())
		})
	return Result{Position: pos}, err
}

// RemoveMember takes a member off the roster (the last owner stays), then
// frees their address for a new invitation, closes their account (which
// ends their sessions) and removes it from sign-in.
func (h *Handlers) RemoveMember(ctx context.Context, req Request, org domain.OrgID, user domain.UserID) (Result, error) {
	req = h.withCorrelation(req)
	if _, err := h.loadOrgAsAdmin(ctx, org, req.Actor); err != nil {
		return Result{}, err
	}
	meta := h.meta(req, req.Actor)
	var removed domain.Member
	_, orgPos, err := update(ctx, h.store, domain.OrganizationStream(org), domain.EvolveOrganization, meta,
		func(s domain.OrganizationState) ([]domain.Event, error) {
			removed, _ = s.Member(user)
			return domain.DecideOrganization(s, domain.RemoveMember{Actor: domain.UserID(req.Actor), UserID: user}, h.clock())
		})
	if err != nil {
		return Result{}, err
	}
	email, err := domain.ParseEmail(removed.Email)
	if err != nil {
		return Result{}, err
	}
	now := h.clock()
	// Their sessions end with the account: forget them here once it is
	// closed (or the attempt failed), so that a resolution that read the
	// open account cannot put it back.
	defer h.sessions.dropUser(user)
	_, guardPos, err := update(ctx, h.store, domain.MembershipStream(org, email), domain.EvolveMembership, meta,
		func(s domain.MembershipState) ([]domain.Event, error) {
			return domain.DecideMembership(s, domain.ReleaseMembership{UserID: user}, now)
		})
	if err != nil {
		return Result{}, err
	}
	_, accountPos, err := update(ctx, h.store, domain.UserStream(user), domain.EvolveAccount, meta,
		func(s domain.AccountState) ([]domain.Event, error) {
			if !s.Exists() {
				return nil, nil
			}
			return domain.DecideAccount(s, domain.CloseAccount{}, now)
		})
	if err != nil {
		return Result{}, err
	}
	_, loginPos, err := update(ctx, h.store, domain.LoginStream(email), domain.EvolveLogin, meta,
		func(s domain.LoginState) ([]domain.Event, error) {
			return domain.DecideLogin(s, domain.UnlinkLoginAccount{UserID: user}, now)
		})
	if err != nil {
		return Result{}, err
	}
	return Result{Position: latest(orgPos, guardPos, accountPos, loginPos)}, nil
}
