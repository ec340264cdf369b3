package commands

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/orgportal/onboarding/domain"
)

// InviteStatus is the outcome for one address of an invitation request.
type InviteStatus string

const (
	InviteInvited        InviteStatus = "invited"
	InviteAlreadyMember  InviteStatus = "already_member"
	InviteAlreadyInvited InviteStatus = "already_invited"
	InviteInvalidAddress InviteStatus = "invalid"
)

const (
	// inviteWorkers is how many addresses of one request are processed
	// at once (each is two appends to the event store, plus a read of the
	// membership stream for an address that was invited before).
	inviteWorkers = 4
	// An invitation stream missing behind a hold is waited for this long
	// (polls × delay) before the hold counts as abandoned.
	inFlightHoldPolls     = 20
	inFlightHoldPollDelay = 50 * time.Millisecond
	// releaseTimeout bounds the release of a hold whose invitation will
	// not be written.
	releaseTimeout = 5 * time.Second
)

// InviteUsersInput is what POST /orgs/{orgId}/invitations receives.
type InviteUsersInput struct {
	OrgID domain.OrgID
	// Emails are split on commas, semicolons and whitespace: pass a JSON
	// list as is, or one string as a single element.
	Emails []string
	Role   string // admin or member; empty means member
}

// InviteOutcome is the result for one address, in the order given
// (later duplicates of an address are dropped).
type InviteOutcome struct {
	Email        string // display form, or the text given when invalid
	Name         string // the display name pasted before a valid address, if any
	Status       InviteStatus
	InvitationID domain.InvitationID // the new one, or the pending one for already_invited
	Reason       string              // why the address is invalid
}

// InviteResult answers an invitation request.
type InviteResult struct {
	Results  []InviteOutcome
	Position Position
}

// InviteUsers invites every valid address of the list, at most
// domain.MaxAddressesPerRequest of them. The actor must administer the
// organization. Per address: the address's membership stream is held for
// a new invitation (the event store lets one of any number of concurrent
// holds win), then the invitation is written. Addresses are processed a
// few at a time; the answer lists one outcome per address.
//
// With a grant issued ahead of its read (GrantAdminAhead), the holds start
// while the role is being confirmed: no invitation is written and nothing
// is answered before it is, and if it is refused the holds are released
// and the answer is the refusal.
func (h *Handlers) InviteUsers(ctx context.Context, req Request, in InviteUsersInput) (InviteResult, error) {
	req = h.withCorrelation(req)
	org, confirm, err := h.loadOrgAsAdminAhead(ctx, in.OrgID, req.Actor)
	if err != nil {
		return InviteResult{}, err
	}
	role, roleErr := domain.ParseInvitableRole(in.Role)
	list, listErr := domain.ParseEmailList(in.Emails...)
	if err := checkFields(fieldCheck{"emails", listErr}, fieldCheck{"role", roleErr}); err != nil {
		if denied := confirm(ctx); denied != nil {
			return InviteResult{}, denied
		}
		return InviteResult{}, err
	}
	meta := h.meta(req, req.Actor)
	result := InviteResult{Results: make([]InviteOutcome, len(list))}
	positions := make([]Position, len(list))
	var (
		failOnce sync.Once
		failure  error
	)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(inviteWorkers, len(list)) {
		wg.Go(func() {
			for i := range work {
				var err error
				result.Results[i], positions[i], err = h.inviteOne(ctx, meta, org, list[i], role, confirm)
				if err != nil {
					failOnce.Do(func() { failure = err; cancel() })
				}
			}
		})
	}
	for i := range list {
		if ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	if err := confirm(ctx); err != nil && failure == nil {
		failure = err // no address was held: nothing to release
	}
	if failure != nil {
		// Invitations written before the failure stand; repeating the
		// request reports them as already_invited.
		return InviteResult{}, failure
	}
	result.Position = latest(positions...)
	return result, nil
}

// inviteOne holds the address, then writes its invitation once confirm
// answers nil; if it does not, the hold is released.
func (h *Handlers) inviteOne(ctx context.Context, meta Metadata, org domain.OrganizationState, entry domain.ListedAddress, role domain.Role,
	confirm func(context.Context) error,
) (InviteOutcome, Position, error) {
	if entry.Err != nil {
		return InviteOutcome{Email: entry.Input, Status: InviteInvalidAddress, Reason: reasonOf(entry.Err)}, 0, nil
	}
	email := entry.Email
	out := InviteOutcome{Email: email.String(), Name: entry.Name}
	if _, ok := org.MemberByEmail(email); ok {
		out.Status = InviteAlreadyMember
		return out, 0, nil
	}
	id := domain.InvitationID(h.ids())
	var pending domain.InvitationID
	// Most addresses were never invited, so their membership stream does
	// not exist: the hold is appended without reading it first, and read
	// only when the address turns out to have a history.
	_, _, err := updateNew(ctx, h.store, domain.MembershipStream(org.ID, email), domain.EvolveMembership, meta,
		func(s domain.MembershipState) ([]domain.Event, error) {
			ended := false
			if s.Status == domain.MembershipInvited {
				pending = s.InvitationID
				var err error
				if ended, err = h.holdEnded(ctx, s.InvitationID); err != nil {
					return nil, err
				}
			}
			return domain.DecideMembership(s, domain.HoldForInvitation{OrgID: org.ID, InvitationID: id, PreviousHoldEnded: ended}, h.clock())
		})
	switch domain.CodeOf(err) {
	case "":
	case domain.CodeAlreadyMember:
		out.Status = InviteAlreadyMember
		return out, 0, nil
	case domain.CodeAlreadyInvited:
		out.Status, out.InvitationID = InviteAlreadyInvited, pending
		return out, 0, nil
	default:
		return out, 0, err
	}
	if err := confirm(ctx); err != nil {
		h.releaseUnconfirmedHold(ctx, meta, org.ID, email, id)
		return out, 0, err
	}
	// id was generated just now: its stream cannot exist yet.
	_, pos, err := updateNew(ctx, h.store, domain.InvitationStream(id), domain.EvolveInvitation, meta,
		func(s domain.InvitationState) ([]domain.Event, error) {
			return domain.DecideInvitation(s, domain.InviteUser{
				InvitationID: id, OrgID: org.ID, Email: email, Role: role, Name: entry.Name,
				InvitedBy: domain.UserID(meta.Actor), TTL: h.cfg.InvitationTTL,
			}, h.clock())
		})
	if err != nil {
		return out, 0, err
	}
	out.Status, out.InvitationID = InviteInvited, id
	return out, pos, nil
}

// releaseUnconfirmedHold gives back an address held for an invitation
// that will not be written because the request's admin grant was refused
// (or the request ended first). It runs even when ctx is cancelled. If it
// fails, the hold is one whose invitation stream never appears: the next
// invitation of the address waits about a second, then takes it over
// (holdEnded).
func (h *Handlers) releaseUnconfirmedHold(ctx context.Context, meta Metadata, org domain.OrgID, email domain.Email, id domain.InvitationID) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	_, _ = h.releaseHold(ctx, meta, org, email, id)
}

// holdEnded tells whether the invitation holding an address can no longer
// be accepted, so a new invitation may take the address over. An
// invitation whose stream does not exist is either being written right now
// (its hold was appended a moment ago) or was abandoned by a process that
// died between the two appends; it is given about a second to appear
// before it counts as abandoned.
func (h *Handlers) holdEnded(ctx context.Context, id domain.InvitationID) (bool, error) {
	return h.awaitInvitation(ctx, id, func(inv domain.InvitationState) (settled, ended bool) {
		return inv.Exists(), !inv.Open(h.clock())
	})
}

// awaitInvitation reads invitation id until settled says its state
// answers the question (and what the answer is), for the in-flight grace
// (awaitInFlight); a state that never settles answers true: the write it
// waited for was abandoned.
func (h *Handlers) awaitInvitation(ctx context.Context, id domain.InvitationID, settled func(domain.InvitationState) (bool, bool)) (bool, error) {
	return awaitInFlight(ctx, true, func() (bool, bool, error) {
		inv, _, err := load(ctx, h.store, domain.InvitationStream(id), domain.EvolveInvitation)
		if err != nil {
			return false, false, err
		}
		done, answer := settled(inv)
		return done, answer, nil
	})
}

// awaitInFlight gives a write another request may still be making about a
// second (inFlightHoldPolls × inFlightHoldPollDelay) to show: it calls
// read until read says the state settled, and answers what read answered
// then, or abandoned if it never did.
func awaitInFlight(ctx context.Context, abandoned bool, read func() (settled, answer bool, err error)) (bool, error) {
	for poll := 0; ; poll++ {
		done, answer, err := read()
		if err != nil {
			return false, err
		}
		if done {
			return answer, nil
		}
		if poll == inFlightHoldPolls {
			return abandoned, nil
		}
		select {
		case <-time.After(inFlightHoldPollDelay):
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

func reasonOf(err error) string {
	var de *domain.Error
	if errors.As(err, &de) {
		return de.Message
	}
	return err.Error()
}
