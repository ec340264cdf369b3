package commands

import (
	"context"
	"time"

	"github.com/orgportal/onboarding/domain"
)

// newMember describes the account and roster entry the joining use cases
// (bootstrap, accept, verify, manual add) create once the address is
// reserved.
type newMember struct {
	UserID       domain.UserID
	OrgID        domain.OrgID
	Email        domain.Email
	Name         string
	PasswordHash string // empty: a set-your-password token is issued
	Via          domain.JoinedVia
	// admit decides the organization's side; it is only called while the
	// roster does not list UserID yet.
	admit func(domain.OrganizationState) ([]domain.Event, error)
}

// reserve claims the address for m.UserID on the membership stream. A
// repeated reservation for the same user records nothing.
func (h *Handlers) reserve(ctx context.Context, meta Metadata, m newMember, invitation domain.InvitationID) (domain.MembershipState, Position, error) {
	return update(ctx, h.store, domain.MembershipStream(m.OrgID, m.Email), domain.EvolveMembership, meta,
		func(s domain.MembershipState) ([]domain.Event, error) {
			return domain.DecideMembership(s, domain.ReserveMembership{OrgID: m.OrgID, UserID: m.UserID, Via: m.Via, InvitationID: invitation}, h.clock())
		})
}

// join writes the rest of a join after the reservation, in the order the
// domain documents: the account, its sign-in index entry, then the member
// on the organization's roster. Each step is skipped when already done, so
// the whole can be repeated after a failure part-way. It returns the
// account as it stands, which is another join's when that one created it
// first.
func (h *Handlers) join(ctx context.Context, meta Metadata, m newMember) (Position, domain.AccountState, error) {
	account, accountPos, err := update(ctx, h.store, domain.UserStream(m.UserID), domain.EvolveAccount, meta,
		func(s domain.AccountState) ([]domain.Event, error) {
			if s.Exists() {
				return nil, nil
			}
			return domain.DecideAccount(s, domain.CreateAccount{
				UserID: m.UserID, OrgID: m.OrgID, Email: m.Email, Name: m.Name,
				PasswordHash: m.PasswordHash, Via: m.Via, SetupTTL: h.cfg.PasswordSetupTTL,
			}, h.clock())
		})
	if err != nil {
		return 0, domain.AccountState{}, err
	}
	_, loginPos, err := update(ctx, h.store, domain.LoginStream(m.Email), domain.EvolveLogin, meta,
		func(s domain.LoginState) ([]domain.Event, error) {
			return domain.DecideLogin(s, domain.LinkLoginAccount{UserID: m.UserID, OrgID: m.OrgID}, h.clock())
		})
	if err != nil {
		return 0, domain.AccountState{}, err
	}
	_, orgPos, err := update(ctx, h.store, domain.OrganizationStream(m.OrgID), domain.EvolveOrganization, meta,
		func(s domain.OrganizationState) ([]domain.Event, error) {
			if _, ok := s.Member(m.UserID); ok {
				return nil, nil
			}
			return m.admit(s)
		})
	if err != nil {
		return 0, domain.AccountState{}, err
	}
	return latest(accountPos, loginPos, orgPos), account, nil
}

// undoJoin takes back what a join that failed at the roster step wrote: it
// closes the account, unlinks it from sign-in and frees the address, and,
// for an invitation that is still open, gives it its hold back, so that a
// failed join uses nothing up. It runs without the request's context (a
// cancelled request must not leave the address blocked) and is best
// effort: the caller reports the original failure. An undo that fails as
// well (the store went away) leaves the address reserved for a user who
// never joined; nothing repairs that automatically yet.
func (h *Handlers) undoJoin(meta Metadata, m newMember, rehold domain.InvitationID) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	now := h.clock()
	_, _, _ = update(ctx, h.store, domain.UserStream(m.UserID), domain.EvolveAccount, meta,
		func(s domain.AccountState) ([]domain.Event, error) {
			if !s.Exists() {
				return nil, nil
			}
			return domain.DecideAccount(s, domain.CloseAccount{}, now)
		})
	_, _, _ = update(ctx, h.store, domain.LoginStream(m.Email), domain.EvolveLogin, meta,
		func(s domain.LoginState) ([]domain.Event, error) {
			return domain.DecideLogin(s, domain.UnlinkLoginAccount{UserID: m.UserID}, now)
		})
	h.release(ctx, meta, m.OrgID, m.Email, m.UserID, rehold)
}

// release frees an address held by a member (and optionally re-holds it
// for an invitation that is still open) in one append.
func (h *Handlers) release(ctx context.Context, meta Metadata, org domain.OrgID, email domain.Email, user domain.UserID, rehold domain.InvitationID) {
	now := h.clock()
	_, _, _ = update(ctx, h.store, domain.MembershipStream(org, email), domain.EvolveMembership, meta,
		func(s domain.MembershipState) ([]domain.Event, error) {
			events, err := domain.DecideMembership(s, domain.ReleaseMembership{UserID: user}, now)
			if err != nil || rehold == "" {
				return events, err
			}
			after := domain.Fold(s, domain.EvolveMembership, events...)
			more, err := domain.DecideMembership(after, domain.HoldForInvitation{OrgID: org, InvitationID: rehold}, now)
			if err != nil {
				// The address is free again; without the hold the
				// invitation still works, only a second one is possible.
				return events, nil
			}
			return append(events, more...), nil
		})
}
