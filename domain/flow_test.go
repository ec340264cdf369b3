package domain

import (
	"fmt"
	"testing"
	"time"
)

// memStore is the smallest event store with optimistic concurrency: enough
// to show that the aggregates, appended with the expected revision of what
// was loaded, keep the cross-stream invariants when writers race.
type memStore map[StreamName][]Event

func (m memStore) append(stream StreamName, expectedRevision int, events ...Event) error {
	if len(m[stream]) != expectedRevision {
		return fmt.Errorf("wrong expected version on %s: want %d, at %d", stream, expectedRevision, len(m[stream]))
	}
	m[stream] = append(m[stream], events...)
	return nil
}

func TestFlow_TwentyConcurrentInvitationsOfOneAddressGiveOneInvitation(t *testing.T) {
	store := memStore{}
	nina := MustParseEmail("nina@acme.test")
	guard := MembershipStream(orgID, nina)

	// All twenty load the same (empty) guard before any of them appends.
	loaded := Fold(MembershipState{}, EvolveMembership, store[guard]...)
	revision := len(store[guard])
	invitations, conflicts := 0, 0
	for i := range 20 {
		id := InvitationID(fmt.Sprintf("inv-%d", i))
		events, err := DecideMembership(loaded, HoldForInvitation{OrgID: orgID, InvitationID: id}, t0)
		if err != nil {
			t.Fatal(err)
		}
		if store.append(guard, revision, events...) != nil {
			// The command layer reloads and decides again.
			reloaded := Fold(MembershipState{}, EvolveMembership, store[guard]...)
			_, err := DecideMembership(reloaded, HoldForInvitation{OrgID: orgID, InvitationID: id}, t0)
			if CodeOf(err) != CodeAlreadyInvited {
				t.Fatalf("retry after conflict: %v", err)
			}
			conflicts++
			continue
		}
		invEvents, err := DecideInvitation(InvitationState{}, InviteUser{InvitationID: id, OrgID: orgID, Email: nina, InvitedBy: adminID}, t0)
		if err != nil || store.append(InvitationStream(id), 0, invEvents...) != nil {
			t.Fatalf("invite: %v", err)
		}
		invitations++
	}
	if invitations != 1 || conflicts != 19 {
		t.Fatalf("%d invitations, %d already_invited", invitations, conflicts)
	}
}

func TestFlow_TwentyConcurrentAcceptsGiveOneMember(t *testing.T) {
	store := memStore{}
	nina := MustParseEmail("nina@acme.test")
	guard := MembershipStream(orgID, nina)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(store.append(OrganizationStream(orgID), 0, acme()...))
	must(store.append(guard, 0, MembershipInvitationHeld{OrgID: orgID, InvitationID: invID}))
	must(store.append(InvitationStream(invID), 0, invited()...))

	type loadedState struct {
		inv      InvitationState
		invRev   int
		guard    MembershipState
		guardRev int
	}
	load := func() loadedState {
		return loadedState{
			inv: Fold(InvitationState{}, EvolveInvitation, store[InvitationStream(invID)]...), invRev: len(store[InvitationStream(invID)]),
			guard: Fold(MembershipState{}, EvolveMembership, store[guard]...), guardRev: len(store[guard]),
		}
	}
	// accept follows the order the command layer uses: decide on the
	// invitation, claim the address, then use the invitation up.
	accept := func(s loadedState, user UserID, now time.Time) error {
		accepted, err := DecideInvitation(s.inv, AcceptInvitation{Generation: 1, UserID: user}, now)
		if err != nil {
			return err
		}
		reserved, err := DecideMembership(s.guard, ReserveMembership{OrgID: orgID, UserID: user, Via: JoinedViaInvitation, InvitationID: invID}, now)
		if err != nil {
			return err
		}
		if err := store.append(guard, s.guardRev, reserved...); err != nil {
			return err
		}
		return store.append(InvitationStream(invID), s.invRev, accepted...)
	}

	snapshot := load() // everyone read before anyone wrote
	members := 0
	for i := range 20 {
		user := UserID(fmt.Sprintf("u-%d", i))
		if err := accept(snapshot, user, t0); err != nil {
			if err := accept(load(), user, t0); !IsKind(err, KindGone) && !IsKind(err, KindConflict) {
				t.Fatalf("retry of accept %d: %v", i, err)
			}
			continue
		}
		members++
	}
	if members != 1 {
		t.Fatalf("%d members from one invitation", members)
	}
	final := load()
	if final.inv.Status != InvitationStatusAccepted || final.guard.Status != MembershipActive || final.guard.UserID != final.inv.AcceptedBy {
		t.Fatalf("inconsistent end state: %+v %+v", final.inv, final.guard)
	}
}

func TestFlow_RotateRacingARegistration(t *testing.T) {
	org := Fold(OrganizationState{}, EvolveOrganization, acme()...)
	nina := MustParseEmail("nina@acme.test")

	// The registration starts under generation 1 …
	started, err := DecideRegistration(RegistrationState{}, StartRegistration{
		RegistrationID: regID, OrgID: orgID, Email: nina, Name: "Nina", PasswordHash: hash1,
		LinkGeneration: 1, Link: org.Link,
	}, t0)
	if err != nil {
		t.Fatal(err)
	}
	// … then the admin rotates, so the old URL dies at once …
	rotated, err := DecideOrganization(org, RotateSelfServiceLink{Actor: ownerID}, t0)
	if err != nil {
		t.Fatal(err)
	}
	org = Fold(org, EvolveOrganization, rotated...)
	if _, err := DecideRegistration(RegistrationState{}, StartRegistration{
		RegistrationID: "reg-2", OrgID: orgID, Email: MustParseEmail("late@acme.test"), Name: "Late", PasswordHash: hash1,
		LinkGeneration: 1, Link: org.Link,
	}, t0); CodeOf(err) != CodeLinkRotated {
		t.Fatalf("a registration on the old link after rotation: %v", err)
	}
	// … and the registration started before it verifies its address but
	// cannot join under the dead link.
	reg := Fold(RegistrationState{}, EvolveRegistration, started...)
	if _, err := DecideRegistration(reg, VerifyRegistrationEmail{Generation: 1, UserID: newcomerID}, t0); err != nil {
		t.Fatal(err)
	}
	_, err = DecideOrganization(org, AdmitSelfServiceMember{UserID: newcomerID, Email: nina, Name: "Nina", RegistrationID: regID, LinkGeneration: reg.LinkGeneration}, t0)
	if CodeOf(err) != CodeLinkRotated {
		t.Fatalf("joining under a rotated link: %v", err)
	}
}
