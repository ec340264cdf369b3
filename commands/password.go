package commands

import (
	"context"
	"time"

	"github.com/orgportal/onboarding/domain"
)

// RequestPasswordReset issues a reset token (valid for Config.PasswordResetTTL,
// one hour by default) for every open account of the address; the mail
// reactor mails each link. The answer is the same whether or not the
// address has an account, so it returns no position: the public endpoint
// answers 202 either way. Only a malformed address is refused (that tells
// nothing about accounts).
func (h *Handlers) RequestPasswordReset(ctx context.Context, req Request, rawEmail string) error {
	req = h.withCorrelation(req)
	email, err := domain.ParseEmail(rawEmail)
	if err != nil {
		return fieldError("email", err)
	}
	// Wall time, not h.clock: this is about how long the caller waits.
	defer padUntil(ctx, time.Now().Add(h.passwordResetFloor()))
	index, _, err := load(ctx, h.store, domain.LoginStream(email), domain.EvolveLogin)
	if err != nil {
		return err
	}
	meta := h.meta(req, domain.ActorSystem)
	for _, acc := range index.Accounts {
		_, _, err := update(ctx, h.store, domain.UserStream(acc.UserID), domain.EvolveAccount, meta,
			func(s domain.AccountState) ([]domain.Event, error) {
				if !s.Exists() || s.Closed {
					return nil, nil
				}
				return domain.DecideAccount(s, domain.RequestPasswordReset{TTL: h.cfg.PasswordResetTTL}, h.clock())
			})
		if err != nil && domain.KindOf(err) == "" {
			return err // infrastructure; domain refusals stay silent
		}
	}
	return nil
}

// DefaultPasswordResetMinDuration is the least time a password reset
// request takes. A known address costs a durable append (milliseconds on
// a real cluster), an unknown one nothing; the floor is well above the
// append, and a person asking for a reset does not notice it.
const DefaultPasswordResetMinDuration = 150 * time.Millisecond

func (h *Handlers) passwordResetFloor() time.Duration {
	if h.cfg.PasswordResetMinDuration > 0 {
		return h.cfg.PasswordResetMinDuration
	}
	return DefaultPasswordResetMinDuration
}

// padUntil waits until the deadline, or until ctx ends (the caller is
// gone and sees no timing).
func padUntil(ctx context.Context, deadline time.Time) {
	wait := time.Until(deadline)
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// PasswordResult answers a completed password link.
type PasswordResult struct {
	UserID   domain.UserID
	OrgID    domain.OrgID
	Position Position
}

// CompletePasswordReset sets a new password through a reset link. The link
// works once, and only while it is the newest one and unexpired.
func (h *Handlers) CompletePasswordReset(ctx context.Context, req Request, token, password string) (PasswordResult, error) {
	return h.completePassword(ctx, req, h.tokens.PasswordReset, domain.PasswordTokenReset, token, password)
}

// CompletePasswordSetup sets the first password of a manually added member
// through the link mailed to them.
func (h *Handlers) CompletePasswordSetup(ctx context.Context, req Request, token, password string) (PasswordResult, error) {
	return h.completePassword(ctx, req, h.tokens.PasswordSetup, domain.PasswordTokenSetup, token, password)
}

func (h *Handlers) completePassword(ctx context.Context, req Request, signer TokenSigner, purpose domain.PasswordTokenPurpose, token, password string) (PasswordResult, error) {
	req = h.withCorrelation(req)
	invalid := domain.NotFound(domain.CodePasswordTokenInvalid, "this link is not valid; check that you copied the whole link")
	id, generation, err := verifyToken(signer, token, invalid)
	if err != nil {
		return PasswordResult{}, err
	}
	user := domain.UserID(id)
	account, _, err := load(ctx, h.store, domain.UserStream(user), domain.EvolveAccount)
	if err != nil {
		return PasswordResult{}, err
	}
	// Check the link before the password, so a dead link says so first.
	if err := account.CheckPasswordToken(purpose, generation, h.clock()); err != nil {
		return PasswordResult{}, err
	}
	email, err := domain.ParseEmail(account.Email)
	if err != nil {
		return PasswordResult{}, err
	}
	if err := domain.CheckPassword(password, email); err != nil {
		return PasswordResult{}, fieldError("password", err)
	}
	hash, err := h.passwords.Hash(password)
	if err != nil {
		return PasswordResult{}, err
	}
	meta := h.meta(req, domain.UserActor(user))
	_, pos, err := update(ctx, h.store, domain.UserStream(user), domain.EvolveAccount, meta,
		func(s domain.AccountState) ([]domain.Event, error) {
			var cmd domain.AccountCommand = domain.CompletePasswordReset{Generation: generation, PasswordHash: hash}
			if purpose == domain.PasswordTokenSetup {
				cmd = domain.CompletePasswordSetup{Generation: generation, PasswordHash: hash}
			}
			return domain.DecideAccount(s, cmd, h.clock())
		})
	if err != nil {
		return PasswordResult{}, err
	}
	return PasswordResult{UserID: user, OrgID: account.OrgID, Position: pos}, nil
}
