package asof_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/asof"
	"github.com/orgportal/onboarding/projections/readmodels"
)

const org domain.OrgID = "org-1"

var t0 = time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)

func at(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

type recorded struct {
	event domain.Event
	at    time.Time
}

func joined(id, email string, role domain.Role, via domain.JoinedVia, invitedBy string) domain.MemberJoined {
	return domain.MemberJoined{OrgID: org, UserID: domain.UserID(id), Email: email, NormalizedEmail: strings.ToLower(email),
		Name: strings.Split(email, "@")[0], Role: role, Via: via, InvitedBy: domain.UserID(invitedBy)}
}

// history is an organization's life, minute by minute.
var history = []recorded{
	{domain.OrganizationCreated{OrgID: org, Name: "Acme", LinkGeneration: 1}, at(0)},
	{joined("u-owner", "Owner@acme.test", domain.RoleOwner, domain.JoinedViaBootstrap, ""), at(0)},
	{joined("u-ann", "ann@acme.test", domain.RoleMember, domain.JoinedViaInvitation, "u-owner"), at(10)},
	{joined("u-bob", "bob@acme.test", domain.RoleMember, domain.JoinedViaManual, "u-ann"), at(20)},
	{domain.MemberRoleChanged{OrgID: org, UserID: "u-ann", From: domain.RoleMember, To: domain.RoleAdmin}, at(30)},
	{domain.SelfServiceLinkRotated{OrgID: org, Generation: 2}, at(35)},
	{domain.MemberRemoved{OrgID: org, UserID: "u-ann", NormalizedEmail: "ann@acme.test"}, at(40)},
	{joined("u-cat", "cat@acme.test", domain.RoleMember, domain.JoinedViaSelfServiceLink, ""), at(50)},
	// Ann comes back with a new account, invited by Bob.
	{joined("u-ann2", "ann@acme.test", domain.RoleAdmin, domain.JoinedViaInvitation, "u-bob"), at(60)},
	// Another organization's event in the stream is no member of this one.
	{domain.MemberJoined{OrgID: "org-2", UserID: "u-x", Email: "x@acme.test", NormalizedEmail: "x@acme.test", Role: domain.RoleOwner}, at(61)},
	{domain.MemberRemoved{OrgID: org, UserID: "u-bob", NormalizedEmail: "bob@acme.test"}, at(70)},
}

// row renders what an access review reads of a member.
func row(u readmodels.User) string {
	by := "-"
	if u.InvitedBy != nil {
		by = string(u.InvitedBy.UserID) + "/" + u.InvitedBy.Email
	}
	joined := "?"
	if u.JoinedAt != nil {
		joined = fmt.Sprint(int(u.JoinedAt.Sub(t0).Minutes()))
	}
	return fmt.Sprintf("%s %s %s %s %s by %s at %s", u.UserID, u.Email, u.Status, u.Role, u.JoinedVia, by, joined)
}

func TestMembershipAsOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		asOf time.Time
		want []string
	}{
		{"before the organization", at(-1), nil},
		{"at creation", at(0), []string{
			"u-owner Owner@acme.test active owner bootstrap by - at 0"}},
		{"after an invitation was accepted", at(15), []string{
			"u-ann ann@acme.test active member invitation by u-owner/Owner@acme.test at 10",
			"u-owner Owner@acme.test active owner bootstrap by - at 0"}},
		{"the instant of a change includes it", at(30), []string{
			"u-ann ann@acme.test active admin invitation by u-owner/Owner@acme.test at 10",
			"u-bob bob@acme.test active member manual by u-ann/ann@acme.test at 20",
			"u-owner Owner@acme.test active owner bootstrap by - at 0"}},
		{"a second before a removal", at(40).Add(-time.Second), []string{
			"u-ann ann@acme.test active admin invitation by u-owner/Owner@acme.test at 10",
			"u-bob bob@acme.test active member manual by u-ann/ann@acme.test at 20",
			"u-owner Owner@acme.test active owner bootstrap by - at 0"}},
		{"a removed inviter is still named", at(55), []string{
			"u-bob bob@acme.test active member manual by u-ann/ann@acme.test at 20",
			"u-cat cat@acme.test active member self_service_link by - at 50",
			"u-owner Owner@acme.test active owner bootstrap by - at 0"}},
		{"rejoined under a new account", at(65), []string{
			"u-ann2 ann@acme.test active admin invitation by u-bob/bob@acme.test at 60",
			"u-bob bob@acme.test active member manual by u-ann/ann@acme.test at 20",
			"u-cat cat@acme.test active member self_service_link by - at 50",
			"u-owner Owner@acme.test active owner bootstrap by - at 0"}},
		{"now", at(1000), []string{
			"u-ann2 ann@acme.test active admin invitation by u-bob/bob@acme.test at 60",
			"u-cat cat@acme.test active member self_service_link by - at 50",
			"u-owner Owner@acme.test active owner bootstrap by - at 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := asof.New(org, tc.asOf)
			applied := 0
			for _, r := range history {
				if !m.Apply(r.event, r.at) {
					break
				}
				applied++
			}
			var got []string
			for _, u := range m.Members() {
				got = append(got, row(u))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("members as of %s:\n%s\nwant:\n%s", tc.asOf.Format(time.RFC3339), strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			for _, r := range history[:applied] {
				if r.at.After(tc.asOf) {
					t.Errorf("applied an event of %s, after the moment", r.at)
				}
			}
			if applied < len(history) && !history[applied].at.After(tc.asOf) {
				t.Errorf("stopped at an event of %s, not after the moment", history[applied].at)
			}
		})
	}
}

// The past is the stream's prefix: once an event after the moment is seen,
// a later event stamped earlier (a request that arrived first but
// committed last) is not folded, so the answer is a state that existed.
func TestMembershipIsAPrefixOfTheStream(t *testing.T) {
	t.Parallel()
	m := asof.New(org, at(30))
	steps := []recorded{
		{joined("u-owner", "owner@acme.test", domain.RoleOwner, domain.JoinedViaBootstrap, ""), at(0)},
		{joined("u-late", "late@acme.test", domain.RoleMember, domain.JoinedViaManual, "u-owner"), at(31)},
		{joined("u-early", "early@acme.test", domain.RoleMember, domain.JoinedViaManual, "u-owner"), at(29)},
	}
	var goOn []bool
	for _, s := range steps {
		goOn = append(goOn, m.Apply(s.event, s.at))
	}
	if fmt.Sprint(goOn) != "[true false false]" {
		t.Errorf("Apply answered %v, want [true false false]", goOn)
	}
	if got := m.Members(); len(got) != 1 || got[0].UserID != "u-owner" {
		t.Errorf("members %v, want the owner only", got)
	}
}

func TestMembershipRowsHaveTheUsersPageShape(t *testing.T) {
	t.Parallel()
	m := asof.New(org, at(100))
	for _, r := range history {
		m.Apply(r.event, r.at)
	}
	for _, u := range m.Members() {
		if u.ID != readmodels.UserDocID(org, u.NormalizedEmail) || u.OrgID != org || u.NameFold != strings.ToLower(u.Name) ||
			u.InvitedAt != nil || u.JoinedAt == nil || u.JoinedAt.Location() != time.UTC {
			t.Errorf("row %+v", u)
		}
	}
}
