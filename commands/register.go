package commands

import (
	"context"

	"github.com/orgportal/onboarding/domain"
)

// RegisterInput is what POST /join/{token} receives.
type RegisterInput struct {
	Token    string
	Email    string
	Name     string
	Password string
}

// RegisterResult answers a registration. It looks the same whether or not
// the address already belongs to a member; RegistrationID is for tests and
// logs, the public answer needs only "check your mail".
type RegisterResult struct {
	RegistrationID domain.RegistrationID
	Position       Position
}

// RegisterViaLink starts a self-service registration: the link must be
// current and admit the address's domain; then a registration is recorded
// and the mail reactor sends a verification mail, or, for an address that
// already belongs to a member, a "you already have an account" mail. Both
// paths validate and hash the password and write one event, so neither
// the answer nor its timing tells them apart. Actor: self-service-link.
func (h *Handlers) RegisterViaLink(ctx context.Context, req Request, in RegisterInput) (RegisterResult, error) {
	req = h.withCorrelation(req)
	org, generation, err := h.loadLink(ctx, in.Token)
	if err != nil {
		return RegisterResult{}, err
	}
	if err := org.Link.CheckToken(generation, h.clock()); err != nil {
		return RegisterResult{}, err
	}
	// Every field is checked before the link's rules, so that one answer
	// lists all there is to fix in the form.
	email, emailErr := domain.ParseEmail(in.Email)
	_, nameErr := domain.ParsePersonName(in.Name)
	if err := checkFields(fieldCheck{"email", emailErr}, fieldCheck{"name", nameErr},
		fieldCheck{"password", domain.CheckPassword(in.Password, email)}); err != nil {
		return RegisterResult{}, err
	}
	if err := org.Link.Admits(generation, email, h.clock()); err != nil {
		return RegisterResult{}, err
	}
	hash, err := h.passwords.Hash(in.Password)
	if err != nil {
		return RegisterResult{}, err
	}
	guard, _, err := load(ctx, h.store, domain.MembershipStream(org.ID, email), domain.EvolveMembership)
	if err != nil {
		return RegisterResult{}, err
	}
	member := guard.Status == domain.MembershipActive
	if member {
		hash = "" // never keep a hash nobody will use
	}
	id := domain.RegistrationID(h.ids())
	_, pos, err := update(ctx, h.store, domain.RegistrationStream(id), domain.EvolveRegistration, h.meta(req, domain.ActorSelfServiceLink),
		func(s domain.RegistrationState) ([]domain.Event, error) {
			return domain.DecideRegistration(s, domain.StartRegistration{
				RegistrationID: id, OrgID: org.ID, Email: email, Name: in.Name, PasswordHash: hash,
				LinkGeneration: generation, Link: org.Link, AlreadyMember: member, TTL: h.cfg.VerificationTTL,
			}, h.clock())
		})
	if err != nil {
		return RegisterResult{}, err
	}
	return RegisterResult{RegistrationID: id, Position: pos}, nil
}

// joinSettled reports whether the join of a verified registration is
// over: the member is on the roster (the join's last step) or was removed
// from it since, or their account was closed (removed, or the join was
// taken back). Removal is looked up in the roster's history as well, so
// that a removal interrupted before it closed the account counts too.
func (h *Handlers) joinSettled(ctx context.Context, org domain.OrgID, user domain.UserID) (bool, error) {
	account, _, err := load(ctx, h.store, domain.UserStream(user), domain.EvolveAccount)
	if err != nil {
		return false, err
	}
	if account.Exists() && account.Closed {
		return true, nil
	}
	roster, err := h.store.Load(ctx, domain.OrganizationStream(org))
	if err != nil {
		return false, err
	}
	for _, e := range roster.Events {
		if removed, ok := e.(domain.MemberRemoved); ok && removed.UserID == user {
			return true, nil
		}
	}
	_, member := domain.Fold(domain.OrganizationState{}, domain.EvolveOrganization, roster.Events...).Member(user)
	return member, nil
}

func registrationNotFound() error {
	return domain.NotFound(domain.CodeRegistrationNotFound, "this verification link is not valid; check that you copied the whole link")
}

// VerifyRegistration proves the address with the mailed token and makes
// the person a member with the link's default role. The link is checked
// again (it may have been rotated, disabled or used up since): a
// registration it no longer admits is rejected with the link's gone code.
// Actor: self-service-link.
//
// Steps: check the link, record the verification (with the new user id,
// so a repeated request resumes), reserve the address, create the account
// and its sign-in entry, add the member (counting one use of the link).
// If the roster refuses at the end (a rotation raced the verification),
// everything is taken back and the registration rejected.
func (h *Handlers) VerifyRegistration(ctx context.Context, req Request, token string) (JoinResult, error) {
	req = h.withCorrelation(req)
	rawID, generation, err := verifyToken(h.tokens.Verification, token, registrationNotFound())
	if err != nil {
		return JoinResult{}, err
	}
	id := domain.RegistrationID(rawID)
	reg, _, err := load(ctx, h.store, domain.RegistrationStream(id), domain.EvolveRegistration)
	if err != nil {
		return JoinResult{}, err
	}
	user := domain.UserID(h.ids())
	if reg.Status == domain.RegistrationVerified {
		// A repeat resumes a join that stopped part-way (the store failed
		// after the verification was recorded). Once the join has settled
		// the token is used up: replaying it must not bring back a member
		// who was removed since.
		settled, err := h.joinSettled(ctx, reg.OrgID, reg.UserID)
		if err != nil {
			return JoinResult{}, err
		}
		if settled {
			return JoinResult{}, domain.Gone(domain.CodeVerificationUsed, "this verification link was already used; sign in instead")
		}
		user = reg.UserID
	}
	// Decide without writing first: a dead token must not touch anything.
	if _, err := domain.DecideRegistration(reg, domain.VerifyRegistrationEmail{Generation: generation, UserID: user}, h.clock()); err != nil {
		return JoinResult{}, err
	}
	email, err := domain.ParseEmail(reg.Email)
	if err != nil {
		return JoinResult{}, err
	}
	meta := h.meta(req, domain.ActorSelfServiceLink)
	reject := func(cause error) (JoinResult, error) {
		_, _, _ = update(context.WithoutCancel(ctx), h.store, domain.RegistrationStream(id), domain.EvolveRegistration, meta,
			func(s domain.RegistrationState) ([]domain.Event, error) {
				return domain.DecideRegistration(s, domain.RejectRegistration{Code: domain.CodeOf(cause)}, h.clock())
			})
		return JoinResult{}, cause
	}

	org, _, err := load(ctx, h.store, domain.OrganizationStream(reg.OrgID), domain.EvolveOrganization)
	if err != nil {
		return JoinResult{}, err
	}
	_, joined := org.Member(user)
	if !joined {
		if err := org.Link.Admits(reg.LinkGeneration, email, h.clock()); err != nil {
			return reject(err)
		}
	}
	m := newMember{
		UserID: user, OrgID: reg.OrgID, Email: email, Name: reg.Name, PasswordHash: reg.PasswordHash,
		Via: domain.JoinedViaSelfServiceLink,
		admit: func(s domain.OrganizationState) ([]domain.Event, error) {
			return domain.DecideOrganization(s, domain.AdmitSelfServiceMember{
				UserID: user, Email: email, Name: reg.Name, RegistrationID: id, LinkGeneration: reg.LinkGeneration,
			}, h.clock())
		},
	}
	// The verification is recorded, with the new user id, before the
	// address is reserved: a repeat after a failure (or a crash) anywhere
	// later resumes as that user, and of two verifications at once the
	// registration's stream lets one through. Reserving first would leave
	// the address reserved for a user id nobody knows once the process
	// died before this append, and the repeat would be refused as
	// already_member, locking the person out.
	_, _, err = update(ctx, h.store, domain.RegistrationStream(id), domain.EvolveRegistration, meta,
		func(s domain.RegistrationState) ([]domain.Event, error) {
			return domain.DecideRegistration(s, domain.VerifyRegistrationEmail{Generation: generation, UserID: user}, h.clock())
		})
	if err != nil {
		return JoinResult{}, err
	}
	if _, _, err := h.reserve(ctx, meta, m, ""); err != nil {
		if domain.CodeOf(err) == domain.CodeAlreadyMember {
			return reject(err)
		}
		return JoinResult{}, err
	}
	pos, _, err := h.join(ctx, meta, m)
	if err != nil {
		// A lost race for the roster (many joining at once) is no refusal:
		// the repeat resumes. Rejecting here closed the registration for
		// good (found by cmd/portal's crash test).
		if domain.KindOf(err) != "" && domain.CodeOf(err) != CodeConcurrentChange {
			// The roster refused: the link changed since the check above.
			h.undoJoin(meta, m, "")
			return reject(err)
		}
		return JoinResult{}, err
	}
	return JoinResult{UserID: user, OrgID: reg.OrgID, Position: pos}, nil
}
