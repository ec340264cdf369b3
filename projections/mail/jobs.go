package mail

import (
	"context"
	"fmt"
	"time"

	"github.com/orgportal/onboarding/domain"
)

// The portal pages the links lead to (see the portal issue).
const (
	pathInvite        = "/invite"
	pathVerify        = "/verify"
	pathSetPassword   = "/set-password"
	pathResetPassword = "/reset-password"
)

func (r *Reactor) invitationJob() job {
	fold := func(history []domain.Event) domain.InvitationState {
		return domain.Fold(domain.InvitationState{}, domain.EvolveInvitation, history...)
	}
	return job{
		plan: func(ctx context.Context, history []domain.Event, now time.Time) (*draft, error) {
			s := fold(history)
			if !s.MailDue(now) {
				return nil, nil
			}
			token, err := r.tokens.Invitation.Issue(string(s.ID), s.Generation)
			if err != nil {
				return nil, fmt.Errorf("mail: invitation token: %w", err)
			}
			org, err := r.orgName(ctx, s.OrgID)
			if err != nil {
				return nil, err
			}
			inviter, err := r.personName(ctx, s.InvitedBy)
			if err != nil {
				return nil, err
			}
			return &draft{
				kind: KindInvitation, aggregateID: string(s.ID), generation: s.Generation, to: s.Email, toName: s.Name,
				data: Data{
					OrgName: org, InviterName: inviter, Role: string(s.Role), Email: s.Email, Name: s.Name,
					Link: r.link(pathInvite, token), ExpiresAt: expiry(s.ExpiresAt),
				},
			}, nil
		},
		record: func(history []domain.Event, o outcome, now time.Time) ([]domain.Event, error) {
			return domain.DecideInvitation(fold(history), domain.RecordInvitationEmail{
				Generation: o.generation, MessageID: o.messageID, FailureReason: o.failure,
			}, now)
		},
	}
}

func (r *Reactor) registrationJob() job {
	fold := func(history []domain.Event) domain.RegistrationState {
		return domain.Fold(domain.RegistrationState{}, domain.EvolveRegistration, history...)
	}
	return job{
		plan: func(ctx context.Context, history []domain.Event, now time.Time) (*draft, error) {
			s := fold(history)
			if !s.MailDue(now) {
				return nil, nil
			}
			org, err := r.orgName(ctx, s.OrgID)
			if err != nil {
				return nil, err
			}
			d := &draft{
				aggregateID: string(s.ID), generation: s.Generation, to: s.Email, toName: s.Name,
				data: Data{OrgName: org, Name: s.Name, Email: s.Email},
			}
			if s.Status == domain.RegistrationByExistingMember {
				// No token: the person already has an account and signs in.
				d.kind = KindAlreadyMember
				d.data.Link = r.publicURL + "/"
				return d, nil
			}
			token, err := r.tokens.Verification.Issue(string(s.ID), s.Generation)
			if err != nil {
				return nil, fmt.Errorf("mail: verification token: %w", err)
			}
			d.kind = KindVerification
			d.data.Link = r.link(pathVerify, token)
			d.data.ExpiresAt = expiry(s.ExpiresAt)
			return d, nil
		},
		record: func(history []domain.Event, o outcome, now time.Time) ([]domain.Event, error) {
			return domain.DecideRegistration(fold(history), domain.RecordRegistrationEmail{
				Generation: o.generation, MessageID: o.messageID, FailureReason: o.failure,
			}, now)
		},
	}
}

func (r *Reactor) accountJob() job {
	fold := func(history []domain.Event) domain.AccountState {
		return domain.Fold(domain.AccountState{}, domain.EvolveAccount, history...)
	}
	return job{
		plan: func(ctx context.Context, history []domain.Event, now time.Time) (*draft, error) {
			s := fold(history)
			if !s.MailDue(now) {
				return nil, nil
			}
			kind, signer, path := KindPasswordReset, r.tokens.PasswordReset, pathResetPassword
			if s.Pending.Purpose == domain.PasswordTokenSetup {
				kind, signer, path = KindSetPassword, r.tokens.PasswordSetup, pathSetPassword
			}
			token, err := signer.Issue(string(s.ID), s.Pending.Generation)
			if err != nil {
				return nil, fmt.Errorf("mail: password token: %w", err)
			}
			org, err := r.orgName(ctx, s.OrgID)
			if err != nil {
				return nil, err
			}
			return &draft{
				kind: kind, aggregateID: string(s.ID), generation: s.Pending.Generation, to: s.Email, toName: s.Name,
				data: Data{
					OrgName: org, Name: s.Name, Email: s.Email,
					Link: r.link(path, token), ExpiresAt: expiry(s.Pending.ExpiresAt),
				},
			}, nil
		},
		record: func(history []domain.Event, o outcome, now time.Time) ([]domain.Event, error) {
			return domain.DecideAccount(fold(history), domain.RecordAccountEmail{
				Generation: o.generation, MessageID: o.messageID, FailureReason: o.failure,
			}, now)
		},
	}
}
