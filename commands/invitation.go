package commands

import (
	"context"
	"time"

	"github.com/orgportal/onboarding/domain"
)

// InvitationResult answers a resend or revoke.
type InvitationResult struct {
	InvitationID domain.InvitationID
	Generation   int       // the token generation now current
	ExpiresAt    time.Time // of the current token
	Position     Position
}

// loadInvitationOf loads an invitation of org; one of another organization
// is reported as missing, so ids cannot be probed across tenants.
func (h *Handlers) loadInvitationOf(ctx context.Context, org domain.OrgID, id domain.InvitationID) (domain.InvitationState, error) {
	if _, err := domain.ParseID[domain.InvitationID](string(id)); err != nil {
		return domain.InvitationState{}, err
	}
	inv, _, err := load(ctx, h.store, domain.InvitationStream(id), domain.EvolveInvitation)
	if err != nil {
		return inv, err
	}
	if !inv.Exists() || inv.OrgID != org {
		return inv, domain.NotFound(domain.CodeInvitationNotFound, "this invitation does not exist in this organization")
	}
	return inv, nil
}

// ResendInvitation issues a fresh token for a pending (or expired)
// invitation: the old link stops working and the expiry restarts. The
// address's hold is taken back first if an expired invitation lost it, and
// refused (already_invited) if a newer invitation holds it meanwhile.
func (h *Handlers) ResendInvitation(ctx context.Context, req Request, org domain.OrgID, id domain.InvitationID) (InvitationResult, error) {
	req = h.withCorrelation(req)
	if _, err := h.loadOrgAsAdmin(ctx, org, req.Actor); err != nil {
		return InvitationResult{}, err
	}
	inv, err := h.loadInvitationOf(ctx, org, id)
	if err != nil {
		return InvitationResult{}, err
	}
	meta := h.meta(req, req.Actor)
	if inv.Status == domain.InvitationStatusPending {
		email, err := domain.ParseEmail(inv.Email)
		if err != nil {
			return InvitationResult{}, err
		}
		_, _, err = update(ctx, h.store, domain.MembershipStream(org, email), domain.EvolveMembership, meta,
			func(s domain.MembershipState) ([]domain.Event, error) {
				ended := false
				if s.Status == domain.MembershipInvited && s.InvitationID != id {
					var err error
					if ended, err = h.holdEnded(ctx, s.InvitationID); err != nil {
						return nil, err
					}
				}
				return domain.DecideMembership(s, domain.HoldForInvitation{OrgID: org, InvitationID: id, PreviousHoldEnded: ended}, h.clock())
			})
		if err != nil {
			return InvitationResult{}, err
		}
	}
	state, pos, err := update(ctx, h.store, domain.InvitationStream(id), domain.EvolveInvitation, meta,
		func(s domain.InvitationState) ([]domain.Event, error) {
			return domain.DecideInvitation(s, domain.ResendInvitation{TTL: h.cfg.InvitationTTL}, h.clock())
		})
	if err != nil {
		return InvitationResult{}, err
	}
	return InvitationResult{InvitationID: id, Generation: state.Generation, ExpiresAt: state.ExpiresAt, Position: pos}, nil
}

// RevokeInvitation withdraws a pending invitation (its link answers
// invitation_revoked) and frees the address for a new invitation.
// Revoking twice succeeds and records nothing the second time.
func (h *Handlers) RevokeInvitation(ctx context.Context, req Request, org domain.OrgID, id domain.InvitationID) (InvitationResult, error) {
	req = h.withCorrelation(req)
	if _, err := h.loadOrgAsAdmin(ctx, org, req.Actor); err != nil {
		return InvitationResult{}, err
	}
	if _, err := h.loadInvitationOf(ctx, org, id); err != nil {
		return InvitationResult{}, err
	}
	meta := h.meta(req, req.Actor)
	state, pos, err := update(ctx, h.store, domain.InvitationStream(id), domain.EvolveInvitation, meta,
		func(s domain.InvitationState) ([]domain.Event, error) {
			return domain.DecideInvitation(s, domain.RevokeInvitation{}, h.clock())
		})
	if err != nil {
		return InvitationResult{}, err
	}
	email, err := domain.ParseEmail(state.Email)
	if err != nil {
		return InvitationResult{}, err
	}
	releasePos, err := h.releaseHold(ctx, meta, org, email, id)
	if err != nil {
		return InvitationResult{}, err
	}
	return InvitationResult{InvitationID: id, Generation: state.Generation, ExpiresAt: state.ExpiresAt, Position: latest(pos, releasePos)}, nil
}

// releaseHold frees the address from invitation id's hold, if it still
// has it (a no-op otherwise).
func (h *Handlers) releaseHold(ctx context.Context, meta Metadata, org domain.OrgID, email domain.Email, id domain.InvitationID) (Position, error) {
	_, pos, err := update(ctx, h.store, domain.MembershipStream(org, email), domain.EvolveMembership, meta,
		func(s domain.MembershipState) ([]domain.Event, error) {
			return domain.DecideMembership(s, domain.ReleaseInvitationHold{InvitationID: id}, h.clock())
		})
	return pos, err
}
