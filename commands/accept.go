package commands

import (
	"context"
	"strings"
	"time"

	"github.com/orgportal/onboarding/domain"
)

// InvitationView is what the acceptance page shows for a token.
type InvitationView struct {
	InvitationID     domain.InvitationID
	OrgID            domain.OrgID
	OrganizationName string
	Email            string
	Name             string // the invitee's name as the inviter gave it; may be empty
	Role             domain.Role
	ExpiresAt        time.Time
	// State is pending, accepted, revoked, superseded or expired; Code is
	// the domain's gone code when the token can no longer be accepted.
	State string
	Code  string
}

func invitationNotFound() error {
	return domain.NotFound(domain.CodeInvitationNotFound, "this invitation link is not valid; check that you copied the whole link")
}

// DescribeInvitation tells the acceptance page what to show. A token that
// does not verify, or names no invitation, is not found; a used, revoked,
// superseded or expired one is described with its state (accepting it
// answers 410).
func (h *Handlers) DescribeInvitation(ctx context.Context, token string) (InvitationView, error) {
	id, generation, err := verifyToken(h.tokens.Invitation, token, invitationNotFound())
	if err != nil {
		return InvitationView{}, err
	}
	inv, _, err := load(ctx, h.store, domain.InvitationStream(domain.InvitationID(id)), domain.EvolveInvitation)
	if err != nil {
		return InvitationView{}, err
	}
	check := inv.CheckToken(generation, h.clock())
	if domain.IsKind(check, domain.KindNotFound) {
		return InvitationView{}, check
	}
	org, _, err := load(ctx, h.store, domain.OrganizationStream(inv.OrgID), domain.EvolveOrganization)
	if err != nil {
		return InvitationView{}, err
	}
	view := InvitationView{
		InvitationID: inv.ID, OrgID: inv.OrgID, OrganizationName: org.Name,
		Email: inv.Email, Name: inv.Name, Role: inv.Role, ExpiresAt: inv.ExpiresAt, State: "pending",
	}
	if check != nil {
		view.Code = domain.CodeOf(check)
		view.State = map[string]string{
			domain.CodeInvitationUsed:       "accepted",
			domain.CodeInvitationRevoked:    "revoked",
			domain.CodeInvitationSuperseded: "superseded",
			domain.CodeInvitationExpired:    "expired",
		}[view.Code]
	}
	return view, nil
}

// AcceptInput is what POST /invitations/{token}/accept receives.
type AcceptInput struct {
	Token    string
	Name     string
	Password string
}

// JoinResult answers the use cases that make a member.
type JoinResult struct {
	UserID   domain.UserID
	OrgID    domain.OrgID
	Position Position
}

// AcceptInvitation creates the account bound to the invited address and
// adds it to the organization with the pre-assigned role, under the name
// given (or, left empty, the one the inviter gave, if any). The token works
// once: of any number of concurrent accepts exactly one makes a member,
// the others get invitation_already_accepted. An expired, revoked or
// superseded token is Gone with its own code. Nothing is written before
// the input is valid, and a failure after the address was reserved gives
// the reservation back, so a failed accept never uses the invitation up.
//
// Steps (each retried on a lost race): decide on the invitation, reserve
// the address's membership, mark the invitation accepted, then create the
// account, link it for sign-in and add the member to the roster. The
// events carry the new member's user id as actor.
func (h *Handlers) AcceptInvitation(ctx context.Context, req Request, in AcceptInput) (JoinResult, error) {
	req = h.withCorrelation(req)
	rawID, generation, err := verifyToken(h.tokens.Invitation, in.Token, invitationNotFound())
	if err != nil {
		return JoinResult{}, err
	}
	id := domain.InvitationID(rawID)
	inv, _, err := load(ctx, h.store, domain.InvitationStream(id), domain.EvolveInvitation)
	if err != nil {
		return JoinResult{}, err
	}
	check := inv.CheckToken(generation, h.clock())
	resume := domain.CodeOf(check) == domain.CodeInvitationUsed && inv.AcceptedBy != ""
	if check != nil && !resume {
		return JoinResult{}, check
	}
	email, err := domain.ParseEmail(inv.Email)
	if err != nil {
		return JoinResult{}, err
	}
	given := in.Name
	if strings.TrimSpace(given) == "" && inv.Name != "" {
		given = inv.Name // the inviter's name for them, when they leave theirs out
	}
	name, nameErr := domain.ParsePersonName(given)
	if err := checkFields(fieldCheck{"name", nameErr}, fieldCheck{"password", domain.CheckPassword(in.Password, email)}); err != nil {
		return JoinResult{}, err
	}
	if resume {
		return h.resumeAccept(ctx, req, inv, email, name, in.Password, check)
	}
	hash, err := h.passwords.Hash(in.Password)
	if err != nil {
		return JoinResult{}, err
	}

	user := domain.UserID(h.ids())
	adopted := false
	_, _, err = update(ctx, h.store, domain.MembershipStream(inv.OrgID, email), domain.EvolveMembership, h.meta(req, domain.UserActor(user)),
		func(s domain.MembershipState) ([]domain.Event, error) {
			if s.Status == domain.MembershipActive && s.UserID != user && s.InvitationID == id {
				abandoned, err := h.reservationAbandoned(ctx, id)
				if err != nil {
					return nil, err
				}
				if !abandoned {
					// A concurrent accept of this invitation won.
					return nil, errInvitationUsed()
				}
				user, adopted = s.UserID, true
				return nil, nil
			}
			return domain.DecideMembership(s, domain.ReserveMembership{OrgID: inv.OrgID, UserID: user, Via: domain.JoinedViaInvitation, InvitationID: id}, h.clock())
		})
	if err != nil {
		return JoinResult{}, err
	}
	meta := h.meta(req, domain.UserActor(user))
	m := h.invitedMember(inv, user, email, name, hash)
	_, _, err = update(ctx, h.store, domain.InvitationStream(id), domain.EvolveInvitation, meta,
		func(s domain.InvitationState) ([]domain.Event, error) {
			return domain.DecideInvitation(s, domain.AcceptInvitation{Generation: generation, UserID: user}, h.clock())
		})
	if err != nil {
		if adopted {
			// The reservation was left by an earlier accept; it stays for
			// the next attempt of the token's holder to take over again.
			return JoinResult{}, err
		}
		// Give the address back, and its hold to the invitation if it can
		// still be accepted (the failure was a store outage or a lost race,
		// not a revoke or resend).
		rehold := domain.InvitationID("")
		if now, _, lerr := load(context.WithoutCancel(ctx), h.store, domain.InvitationStream(id), domain.EvolveInvitation); lerr == nil && now.Open(h.clock()) {
			rehold = id
		}
		h.undoJoin(meta, m, rehold)
		return JoinResult{}, err
	}
	pos, account, err := h.join(ctx, meta, m)
	if err != nil {
		return JoinResult{}, err
	}
	if err := h.ownPassword(account, hash, in.Password); err != nil {
		return JoinResult{}, err
	}
	return JoinResult{UserID: user, OrgID: inv.OrgID, Position: pos}, nil
}

// ownPassword makes sure an accept answers success only when the account
// it joined (as join returned it) signs in with the password this request
// chose. The account is created once; an accept whose join found it
// already created (a resume that ran while the original accept was still
// writing, slower than the grace) would otherwise answer 201 with
// somebody else's password in force. The same password repeated is a
// plain retry and succeeds.
func (h *Handlers) ownPassword(account domain.AccountState, hash, password string) error {
	if account.PasswordHash == hash {
		return nil
	}
	if ok, err := h.passwords.Verify(account.PasswordHash, password); err == nil && ok {
		return nil
	}
	return errInvitationUsed()
}

func errInvitationUsed() error {
	return domain.Gone(domain.CodeInvitationUsed, "this invitation has already been accepted; sign in instead, or ask for a new invitation")
}

// reservationAbandoned tells whether the address's reservation, made by an
// accept of the invitation id that has not marked the invitation accepted,
// was left behind: the process died (or the store went away for good)
// between the two appends. An accept in flight marks the invitation
// within milliseconds, so it is given about a second before its
// reservation counts as abandoned, the same grace an invitation's hold
// gets (holdEnded). The token's holder may then take the reservation
// over: nobody else can reach this point, and without that the address
// would stay reserved for a user who never joins.
func (h *Handlers) reservationAbandoned(ctx context.Context, id domain.InvitationID) (bool, error) {
	return h.awaitInvitation(ctx, id, func(inv domain.InvitationState) (settled, abandoned bool) {
		return inv.AcceptedBy != "", false
	})
}

func (h *Handlers) invitedMember(inv domain.InvitationState, user domain.UserID, email domain.Email, name, hash string) newMember {
	return newMember{
		UserID: user, OrgID: inv.OrgID, Email: email, Name: name, PasswordHash: hash, Via: domain.JoinedViaInvitation,
		admit: func(s domain.OrganizationState) ([]domain.Event, error) {
			return domain.DecideOrganization(s, domain.AdmitInvitedMember{
				UserID: user, Email: email, Name: name, Role: inv.Role, InvitationID: inv.ID, InvitedBy: inv.InvitedBy,
			}, h.clock())
		},
	}
}

// resumeAccept finishes an acceptance that was recorded but whose later
// steps failed (the store became unreachable part-way): the token holder
// repeats the request and the missing account or roster entry is written.
// A complete acceptance answers invitation_already_accepted, and so does
// one that completes while this request waits: an acceptance in flight
// (a concurrent accept that marked the invitation a moment ago and is
// writing the account) is given the same grace as an abandoned
// reservation before it counts as failed, so concurrent accepts make one
// success, not one per request that read the invitation late.
func (h *Handlers) resumeAccept(ctx context.Context, req Request, inv domain.InvitationState, email domain.Email, name, password string, used error) (JoinResult, error) {
	user := inv.AcceptedBy
	complete, err := h.awaitJoin(ctx, inv.OrgID, user)
	if err != nil {
		return JoinResult{}, err
	}
	if complete {
		return JoinResult{}, used
	}
	hash, err := h.passwords.Hash(password)
	if err != nil {
		return JoinResult{}, err
	}
	meta := h.meta(req, domain.UserActor(user))
	m := h.invitedMember(inv, user, email, name, hash)
	if _, _, err := h.reserve(ctx, meta, m, inv.ID); err != nil {
		return JoinResult{}, err
	}
	pos, account, err := h.join(ctx, meta, m)
	if err != nil {
		return JoinResult{}, err
	}
	if err := h.ownPassword(account, hash, password); err != nil {
		return JoinResult{}, err
	}
	return JoinResult{UserID: user, OrgID: inv.OrgID, Position: pos}, nil
}

// awaitJoin reads user's account and org's roster until both show the
// join complete (true), for the in-flight grace (awaitInFlight); a join
// still incomplete after it answers false: it was abandoned part-way.
func (h *Handlers) awaitJoin(ctx context.Context, org domain.OrgID, user domain.UserID) (bool, error) {
	return awaitInFlight(ctx, false, func() (bool, bool, error) {
		account, _, err := load(ctx, h.store, domain.UserStream(user), domain.EvolveAccount)
		if err != nil {
			return false, false, err
		}
		state, _, err := load(ctx, h.store, domain.OrganizationStream(org), domain.EvolveOrganization)
		if err != nil {
			return false, false, err
		}
		_, member := state.Member(user)
		complete := account.Exists() && member
		return complete, complete, nil
	})
}
