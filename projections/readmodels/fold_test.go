package readmodels

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections"
)

// The folds are pure: events in, documents out. These tests give a
// history and compare the documents it folds into.

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

const (
	org     domain.OrgID          = "org-1"
	owner   domain.UserID         = "u-owner"
	admin   domain.UserID         = "u-admin"
	ann     domain.UserID         = "u-ann"
	invAnn  domain.InvitationID   = "inv-ann"
	invAnn2 domain.InvitationID   = "inv-ann-2"
	regBob  domain.RegistrationID = "reg-bob"
)

// history builds envelopes with consecutive positions (100, 200, ...) one
// minute apart, each with its actor.
type history []projections.Envelope

func (h history) add(actor string, events ...domain.Event) history {
	h = h[:len(h):len(h)] // never share the backing array with another history
	for _, e := range events {
		n := len(h) + 1
		stream := "organization-" + string(org)
		switch e.(type) {
		case domain.UserInvited, domain.InvitationResent, domain.InvitationRevoked, domain.InvitationAccepted,
			domain.InvitationEmailSent, domain.InvitationEmailFailed:
			stream = "invitation-x"
		case domain.RegistrationStarted, domain.RegistrationRejected, domain.RegistrationEmailVerified:
			stream = "registration-x"
		case domain.AccountCreated, domain.PasswordSet:
			stream = "user-x"
		}
		h = append(h, projections.Envelope{
			EventID: "ev-" + string(rune('a'+n%26)) + "-" + time.Duration(n).String(), Type: e.EventType(), Stream: stream,
			Position: uint64(n * 100), Created: t0.Add(time.Duration(n)*time.Minute + time.Second), Event: e,
			Meta: commands.Metadata{Actor: actor, CorrelationID: "corr-" + time.Duration(n).String(), RequestTime: t0.Add(time.Duration(n) * time.Minute)},
		})
	}
	return h
}

// at is the request time of the n-th event (1-based).
func at(n int) *time.Time { t := t0.Add(time.Duration(n) * time.Minute); return &t }

func bootstrapped() history {
	return history{}.add("system",
		domain.OrganizationCreated{OrgID: org, Name: "Acme", LinkGeneration: 1},
		domain.MemberJoined{OrgID: org, UserID: owner, Email: "Owner@Acme.example", NormalizedEmail: "owner@acme.example", Name: "Olga Owner", Role: domain.RoleOwner, Via: domain.JoinedViaBootstrap},
	)
}

func invite(id domain.InvitationID, email string, by domain.UserID, gen int) domain.UserInvited {
	return domain.UserInvited{InvitationID: id, OrgID: org, Email: email, NormalizedEmail: strings.ToLower(email), Role: domain.RoleMember,
		InvitedBy: by, Generation: gen, ExpiresAt: t0.Add(7 * 24 * time.Hour)}
}

func foldAllUsers(t *testing.T, h history) (memTable[User], memTable[ref]) {
	t.Helper()
	rows, refs := memTable[User]{}, memTable[ref]{}
	for _, e := range h {
		if err := foldUsers(rows, refs, e); err != nil {
			t.Fatalf("fold %s at %d: %v", e.Type, e.Position, err)
		}
	}
	return rows, refs
}

func ownerRow() User {
	return User{ID: "org-1/owner@acme.example", OrgID: org, UserID: owner, Email: "Owner@Acme.example", NormalizedEmail: "owner@acme.example",
		Name: "Olga Owner", NameFold: "olga owner", Status: StatusActive, Role: domain.RoleOwner, JoinedVia: domain.JoinedViaBootstrap,
		JoinedAt: at(2), UpdatedAt: *at(2), Position: 200}
}

func TestFoldUsers(t *testing.T) {
	annID := UserDocID(org, "ann@example.org")
	ownerRef := &Ref{UserID: owner, Email: "Owner@Acme.example"}
	annInvited := User{ID: annID, OrgID: org, Email: "Ann@Example.org", NormalizedEmail: "ann@example.org", Status: StatusInvited,
		Role: domain.RoleMember, InvitedBy: ownerRef, InvitedAt: at(3), InvitationID: invAnn, ExpiresAt: timePtr(t0.Add(7 * 24 * time.Hour)),
		UpdatedAt: *at(3), Position: 300}
	annActive := User{ID: annID, OrgID: org, UserID: ann, Email: "Ann@Example.org", NormalizedEmail: "ann@example.org", Name: "Ann Example",
		NameFold: "ann example", Status: StatusActive, Role: domain.RoleMember, JoinedVia: domain.JoinedViaInvitation,
		InvitedBy: ownerRef, InvitedAt: at(3), JoinedAt: at(5), InvitationID: invAnn, UpdatedAt: *at(5), Position: 500}
	joinAnn := domain.MemberJoined{OrgID: org, UserID: ann, Email: "Ann@Example.org", NormalizedEmail: "ann@example.org", Name: "Ann Example",
		Role: domain.RoleMember, Via: domain.JoinedViaInvitation, InvitedBy: owner, InvitationID: invAnn}

	tests := []struct {
		name string
		h    history
		want []User
	}{
		{"bootstrap owner", bootstrapped(), []User{ownerRow()}},
		{"invited: inviter by id and email", bootstrapped().add(string(owner), invite(invAnn, "Ann@Example.org", owner, 1)),
			[]User{ownerRow(), annInvited}},
		{"invited with the inviter's name for them: shown and searched until they join with their own",
			bootstrapped().add(string(owner), func() domain.UserInvited {
				ev := invite(invAnn, "Ann@Example.org", owner, 1)
				ev.Name = "Ann from Sales"
				return ev
			}()),
			[]User{ownerRow(), func() User {
				u := annInvited
				u.Name, u.NameFold = "Ann from Sales", "ann from sales"
				return u
			}()}},
		{"invited with a name, then joined: their own name wins",
			bootstrapped().add(string(owner), func() domain.UserInvited {
				ev := invite(invAnn, "Ann@Example.org", owner, 1)
				ev.Name = "Ann from Sales"
				return ev
			}()).add(string(ann), domain.InvitationAccepted{InvitationID: invAnn, OrgID: org, UserID: ann, Generation: 1}, joinAnn),
			[]User{ownerRow(), annActive}},
		{"invited then joined keeps the invitation time",
			bootstrapped().add(string(owner), invite(invAnn, "Ann@Example.org", owner, 1)).
				add(string(ann), domain.InvitationAccepted{InvitationID: invAnn, OrgID: org, UserID: ann, Generation: 1}, joinAnn),
			[]User{ownerRow(), annActive}},
		{"revoked before joining: the row goes",
			bootstrapped().add(string(owner), invite(invAnn, "Ann@Example.org", owner, 1), domain.InvitationRevoked{InvitationID: invAnn, OrgID: org}),
			[]User{ownerRow()}},
		{"resend moves the expiry",
			bootstrapped().add(string(owner), invite(invAnn, "Ann@Example.org", owner, 1),
				domain.InvitationResent{InvitationID: invAnn, OrgID: org, Generation: 2, ExpiresAt: t0.Add(9 * 24 * time.Hour)}),
			[]User{ownerRow(), func() User {
				u := annInvited
				u.ExpiresAt, u.UpdatedAt, u.Position = timePtr(t0.Add(9*24*time.Hour)), *at(4), 400
				return u
			}()}},
		{"role change and removal",
			bootstrapped().add(string(owner), invite(invAnn, "Ann@Example.org", owner, 1)).
				add(string(ann), domain.InvitationAccepted{InvitationID: invAnn, OrgID: org, UserID: ann, Generation: 1}, joinAnn).
				add(string(owner), domain.MemberRoleChanged{OrgID: org, UserID: ann, From: domain.RoleMember, To: domain.RoleAdmin},
					domain.MemberRemoved{OrgID: org, UserID: ann, NormalizedEmail: "ann@example.org"}),
			[]User{ownerRow(), func() User {
				u := annActive
				u.Role, u.Status, u.RemovedAt, u.InvitationID, u.UpdatedAt, u.Position = domain.RoleAdmin, StatusRemoved, at(7), "", *at(7), 700
				return u
			}()}},
		{"a former member invited again, then revoked, is removed again",
			bootstrapped().add(string(owner), invite(invAnn, "Ann@Example.org", owner, 1)).
				add(string(ann), domain.InvitationAccepted{InvitationID: invAnn, OrgID: org, UserID: ann, Generation: 1}, joinAnn).
				add(string(owner), domain.MemberRemoved{OrgID: org, UserID: ann, NormalizedEmail: "ann@example.org"},
					invite(invAnn2, "ann@example.org", owner, 1), domain.InvitationRevoked{InvitationID: invAnn2, OrgID: org}),
			[]User{ownerRow(), func() User {
				u := annActive
				u.Email, u.Status, u.RemovedAt, u.InvitationID = "ann@example.org", StatusRemoved, at(6), ""
				u.InvitedAt, u.ExpiresAt, u.UpdatedAt, u.Position = at(7), nil, *at(8), 800
				return u
			}()}},
		{"self-service: pending verification, then active without inviter",
			bootstrapped().add("self-service-link",
				domain.RegistrationStarted{RegistrationID: regBob, OrgID: org, Email: "bob@example.org", NormalizedEmail: "bob@example.org",
					Name: "Bob", PasswordHash: "$argon2id$secret", LinkGeneration: 1, Generation: 1, ExpiresAt: t0.Add(time.Hour)}).
				add("u-bob", domain.MemberJoined{OrgID: org, UserID: "u-bob", Email: "bob@example.org", NormalizedEmail: "bob@example.org", Name: "Bob",
					Role: domain.RoleMember, Via: domain.JoinedViaSelfServiceLink, RegistrationID: regBob, LinkGeneration: 1}),
			[]User{ownerRow(), {ID: "org-1/bob@example.org", OrgID: org, UserID: "u-bob", Email: "bob@example.org", NormalizedEmail: "bob@example.org",
				Name: "Bob", NameFold: "bob", Status: StatusActive, Role: domain.RoleMember, JoinedVia: domain.JoinedViaSelfServiceLink,
				JoinedAt: at(4), UpdatedAt: *at(4), Position: 400}}},
		{"self-service registration rejected: the row goes",
			bootstrapped().add("self-service-link",
				domain.RegistrationStarted{RegistrationID: regBob, OrgID: org, Email: "bob@example.org", NormalizedEmail: "bob@example.org", Name: "Bob"},
				domain.RegistrationRejected{RegistrationID: regBob, OrgID: org, Code: "link_rotated"}),
			[]User{ownerRow()}},
		{"pending verification shows",
			bootstrapped().add("self-service-link",
				domain.RegistrationStarted{RegistrationID: regBob, OrgID: org, Email: "Bob@example.org", NormalizedEmail: "bob@example.org", Name: "Bob B",
					ExpiresAt: t0.Add(time.Hour)}),
			[]User{ownerRow(), {ID: "org-1/bob@example.org", OrgID: org, Email: "Bob@example.org", NormalizedEmail: "bob@example.org", Name: "Bob B",
				NameFold: "bob b", Status: StatusPendingVerification, RegistrationID: regBob, ExpiresAt: timePtr(t0.Add(time.Hour)),
				UpdatedAt: *at(3), Position: 300}}},
		{"manual add: invited and joined at once, by the admin",
			bootstrapped().add(string(owner), domain.MemberJoined{OrgID: org, UserID: admin, Email: "ada@example.org", NormalizedEmail: "ada@example.org",
				Name: "Ada", Role: domain.RoleAdmin, Via: domain.JoinedViaManual, InvitedBy: owner}),
			[]User{ownerRow(), {ID: "org-1/ada@example.org", OrgID: org, UserID: admin, Email: "ada@example.org", NormalizedEmail: "ada@example.org",
				Name: "Ada", NameFold: "ada", Status: StatusActive, Role: domain.RoleAdmin, JoinedVia: domain.JoinedViaManual, InvitedBy: ownerRef,
				InvitedAt: at(3), JoinedAt: at(3), UpdatedAt: *at(3), Position: 300}}},
		{"events the Users page does not show change nothing",
			bootstrapped().add(string(owner), domain.SessionStarted{SessionID: "s", UserID: owner, OrgID: org},
				domain.SelfServiceLinkRotated{OrgID: org, Generation: 2}),
			[]User{ownerRow()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, refs := foldAllUsers(t, tt.h)
			assertRows(t, rows, tt.want)
			if stamp := refs[orgKey(org)]; stamp.Position < 200 {
				t.Errorf("org stamp at %d, want at least the last change", stamp.Position)
			}

			// Redelivery: every suffix of the history applied again
			// (at-least-once from any checkpoint) changes nothing.
			for from := range tt.h {
				for _, e := range tt.h[from:] {
					if err := foldUsers(rows, refs, e); err != nil {
						t.Fatalf("redeliver %s at %d: %v", e.Type, e.Position, err)
					}
				}
				assertRows(t, rows, tt.want)
			}
		})
	}
}

func assertRows(t *testing.T, rows memTable[User], want []User) {
	t.Helper()
	if len(rows) != len(want) {
		t.Errorf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for _, w := range want {
		got, ok := rows[w.ID]
		if !ok {
			t.Errorf("row %s missing", w.ID)
			continue
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("row %s\n got %s\nwant %s", w.ID, show(got), show(w))
		}
	}
}

func show(u User) string {
	s := func(p *time.Time) string {
		if p == nil {
			return "nil"
		}
		return p.Format(time.TimeOnly)
	}
	return strings.Join([]string{string(u.UserID), u.Email, u.Name, string(u.Status), string(u.Role), string(u.JoinedVia),
		"invitedBy=" + func() string {
			if u.InvitedBy == nil {
				return "nil"
			}
			return string(u.InvitedBy.UserID) + "/" + u.InvitedBy.Email
		}(), "invitedAt=" + s(u.InvitedAt), "joinedAt=" + s(u.JoinedAt), "expires=" + s(u.ExpiresAt), "removed=" + s(u.RemovedAt),
		"inv=" + string(u.InvitationID), "reg=" + string(u.RegistrationID), "updated=" + u.UpdatedAt.Format(time.TimeOnly),
		"pos=" + time.Duration(u.Position).String()}, " ")
}

func TestFoldUsersRefusesEventsAboutStrangers(t *testing.T) {
	rows, refs := memTable[User]{}, memTable[ref]{}
	for _, e := range bootstrapped().add(string(owner), domain.MemberRoleChanged{OrgID: org, UserID: "u-nobody", To: domain.RoleAdmin}) {
		err := foldUsers(rows, refs, e)
		if e.Type == domain.TypeMemberRoleChanged && (err == nil || !strings.Contains(err.Error(), "u-nobody")) {
			t.Errorf("role change of a user who never joined: err = %v, want one naming the user", err)
		}
	}
}
