package commands

import (
	"context"

	"github.com/orgportal/onboarding/domain"
)

// The look-ups in this file serve the portal pages (adapters/web): they
// read the write side's own streams, so what a page shows before a form is
// submitted is exactly what the command behind the form will decide on,
// with no read model in between. None of them writes.

// SignedInUser is the signed-in person as the pages show them.
type SignedInUser struct {
	Principal
	OrgName string
	Name    string
	Email   string
	Role    domain.Role
}

// CanAdminister reports whether the user manages the organization.
func (u SignedInUser) CanAdminister() bool { return u.Role.CanAdminister() }

// WhoAmI describes the principal from the organization's roster. A
// principal who is no longer on the roster (removed meanwhile) gets the
// same session_ended error Authenticate gives for a closed account.
func (h *Handlers) WhoAmI(ctx context.Context, p Principal) (SignedInUser, error) {
	org, _, err := load(ctx, h.store, domain.OrganizationStream(p.OrgID), domain.EvolveOrganization)
	if err != nil {
		return SignedInUser{}, err
	}
	m, ok := org.Member(p.UserID)
	if !ok {
		return SignedInUser{}, domain.Unauthenticated(domain.CodeSessionEnded, "you are no longer a member of this organization; ask its admins")
	}
	return SignedInUser{Principal: p, OrgName: org.Name, Name: m.Name, Email: m.Email, Role: m.Role}, nil
}

// DescribeMember returns a member of org for its admins (the role-change
// and removal confirmations show it).
func (h *Handlers) DescribeMember(ctx context.Context, req Request, org domain.OrgID, user domain.UserID) (domain.Member, error) {
	state, err := h.loadOrgAsAdmin(ctx, org, req.Actor)
	if err != nil {
		return domain.Member{}, err
	}
	if _, err := domain.ParseID[domain.UserID](string(user)); err != nil {
		return domain.Member{}, err
	}
	m, ok := state.Member(user)
	if !ok {
		return domain.Member{}, domain.NotFound(domain.CodeMemberNotFound, "this user is not a member of the organization")
	}
	return m, nil
}

// VerificationView is what the verification landing page shows.
type VerificationView struct {
	OrgID            domain.OrgID
	OrganizationName string
	Email            string
}

// DescribeVerification tells the verification page whether a token can
// still be used, with the error VerifyRegistration would answer when it
// cannot: not found for a token that does not verify, Gone (used,
// superseded, expired, closed) for a dead one, and the link's own error
// when the self-service link was rotated, disabled or restricted since the
// registration started.
func (h *Handlers) DescribeVerification(ctx context.Context, token string) (VerificationView, error) {
	rawID, generation, err := verifyToken(h.tokens.Verification, token, registrationNotFound())
	if err != nil {
		return VerificationView{}, err
	}
	reg, _, err := load(ctx, h.store, domain.RegistrationStream(domain.RegistrationID(rawID)), domain.EvolveRegistration)
	if err != nil {
		return VerificationView{}, err
	}
	// A user id that is never the registration's, so that a verified
	// registration is reported as used rather than as a retry.
	const probe = domain.UserID("describe-only")
	if _, err := domain.DecideRegistration(reg, domain.VerifyRegistrationEmail{Generation: generation, UserID: probe}, h.clock()); err != nil {
		return VerificationView{}, err
	}
	email, err := domain.ParseEmail(reg.Email)
	if err != nil {
		return VerificationView{}, err
	}
	org, _, err := load(ctx, h.store, domain.OrganizationStream(reg.OrgID), domain.EvolveOrganization)
	if err != nil {
		return VerificationView{}, err
	}
	if err := org.Link.Admits(reg.LinkGeneration, email, h.clock()); err != nil {
		return VerificationView{}, err
	}
	return VerificationView{OrgID: reg.OrgID, OrganizationName: org.Name, Email: reg.Email}, nil
}

// PasswordLinkView is what the set-password and reset-password pages show.
type PasswordLinkView struct {
	OrgID domain.OrgID
	Email string
}

// DescribePasswordLink tells the password pages whether a set-your-password
// (domain.PasswordTokenSetup) or reset (domain.PasswordTokenReset) token
// can still be used, with the error completing it would answer.
func (h *Handlers) DescribePasswordLink(ctx context.Context, purpose domain.PasswordTokenPurpose, token string) (PasswordLinkView, error) {
	signer := h.tokens.PasswordReset
	if purpose == domain.PasswordTokenSetup {
		signer = h.tokens.PasswordSetup
	}
	invalid := domain.NotFound(domain.CodePasswordTokenInvalid, "this link is not valid; check that you copied the whole link")
	id, generation, err := verifyToken(signer, token, invalid)
	if err != nil {
		return PasswordLinkView{}, err
	}
	account, _, err := load(ctx, h.store, domain.UserStream(domain.UserID(id)), domain.EvolveAccount)
	if err != nil {
		return PasswordLinkView{}, err
	}
	if err := account.CheckPasswordToken(purpose, generation, h.clock()); err != nil {
		return PasswordLinkView{}, err
	}
	return PasswordLinkView{OrgID: account.OrgID, Email: account.Email}, nil
}
