package asof_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/asof"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// roster is a membership of n people joined a minute apart, every third an
// admin, named in reverse order of their addresses.
func roster(n int) []readmodels.User {
	m := asof.New(org, at(n+1))
	for i := range n {
		role := domain.RoleMember
		if i%3 == 0 {
			role = domain.RoleAdmin
		}
		e := joined(fmt.Sprintf("u-%03d", i), fmt.Sprintf("p%03d@acme.test", i), role, domain.JoinedViaManual, "")
		e.Name = fmt.Sprintf("Name %03d", n-i)
		m.Apply(e, at(i))
	}
	return m.Members()
}

func emails(page readmodels.UsersPage) string {
	var out []string
	for _, u := range page.Items {
		out = append(out, strings.TrimSuffix(u.Email, "@acme.test"))
	}
	return strings.Join(out, ",")
}

func TestQueryFiltersAndSorts(t *testing.T) {
	t.Parallel()
	members := roster(7) // p000..p006; admins p000, p003, p006
	asOf := at(100)
	for _, tc := range []struct {
		name  string
		q     readmodels.UsersQuery
		want  string
		count int
	}{
		{"all by email", readmodels.UsersQuery{}, "p000,p001,p002,p003,p004,p005,p006", 7},
		{"email prefix, any case", readmodels.UsersQuery{Q: "P00"}, "p000,p001,p002,p003,p004,p005,p006", 7},
		{"name prefix", readmodels.UsersQuery{Q: "name 00"}, "p000,p001,p002,p003,p004,p005,p006", 7},
		{"name prefix narrows", readmodels.UsersQuery{Q: "NAME 007"}, "p000", 1},
		{"no match", readmodels.UsersQuery{Q: "zed"}, "", 0},
		{"role", readmodels.UsersQuery{Role: domain.RoleAdmin}, "p000,p003,p006", 3},
		{"by name", readmodels.UsersQuery{Sort: readmodels.SortName}, "p006,p005,p004,p003,p002,p001,p000", 7},
		{"by joinedAt, descending", readmodels.UsersQuery{Sort: readmodels.SortJoinedAt, Desc: true}, "p006,p005,p004,p003,p002,p001,p000", 7},
		{"by email, descending, admins", readmodels.UsersQuery{Desc: true, Role: domain.RoleAdmin}, "p006,p003,p000", 3},
		{"invitedAt unknown: by email", readmodels.UsersQuery{Sort: readmodels.SortInvitedAt}, "p000,p001,p002,p003,p004,p005,p006", 7},
		{"status active", readmodels.UsersQuery{Status: readmodels.StatusActive, Role: domain.RoleMember}, "p001,p002,p004,p005", 4},
		{"nobody is invited in the past roster", readmodels.UsersQuery{Status: readmodels.StatusInvited}, "", 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page, err := asof.Query(members, tc.q, asOf)
			if err != nil {
				t.Fatal(err)
			}
			if got := emails(page); got != tc.want {
				t.Errorf("items %s, want %s", got, tc.want)
			}
			if page.Counts[readmodels.StatusActive] != tc.count || len(page.Counts) != 1 {
				t.Errorf("counts %v, want active %d", page.Counts, tc.count)
			}
			if page.NextCursor != "" || page.Items == nil {
				t.Errorf("one page expected: next %q, items %v", page.NextCursor, page.Items)
			}
		})
	}
}

func TestQueryPagesWithCursors(t *testing.T) {
	t.Parallel()
	members := roster(250)
	asOf := at(1000)
	q := readmodels.UsersQuery{OrgID: org, Sort: readmodels.SortName, Limit: 100}
	var seen []string
	pages := 0
	for {
		page, err := asof.Query(members, q, asOf)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, u := range page.Items {
			seen = append(seen, u.NameFold)
		}
		if page.NextCursor == "" {
			break
		}
		if pages > 3 {
			t.Fatal("more pages than rows allow")
		}
		q.Cursor = page.NextCursor
	}
	if pages != 3 || len(seen) != 250 || seen[0] != "name 001" || seen[249] != "name 250" {
		t.Fatalf("%d pages, %d rows, first %q last %q", pages, len(seen), seen[0], seen[len(seen)-1])
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Fatalf("row %d %q not after %q: a row repeated or out of order", i, seen[i], seen[i-1])
		}
	}

	first, err := asof.Query(members, readmodels.UsersQuery{OrgID: org, Limit: 10}, asOf)
	if err != nil || first.NextCursor == "" {
		t.Fatalf("first page: %v %q", err, first.NextCursor)
	}
	for name, tc := range map[string]struct {
		q    readmodels.UsersQuery
		asOf time.Time
	}{
		"another moment":  {readmodels.UsersQuery{OrgID: org, Limit: 10, Cursor: first.NextCursor}, asOf.Add(time.Second)},
		"another order":   {readmodels.UsersQuery{OrgID: org, Limit: 10, Cursor: first.NextCursor, Desc: true}, asOf},
		"another filter":  {readmodels.UsersQuery{OrgID: org, Limit: 10, Cursor: first.NextCursor, Q: "p1"}, asOf},
		"another org":     {readmodels.UsersQuery{OrgID: "org-2", Limit: 10, Cursor: first.NextCursor}, asOf},
		"not a cursor":    {readmodels.UsersQuery{OrgID: org, Cursor: "garbage"}, asOf},
		"bad base64":      {readmodels.UsersQuery{OrgID: org, Cursor: "asof.!!"}, asOf},
		"read model's":    {readmodels.UsersQuery{OrgID: org, Cursor: "eyJpZCI6MX0"}, asOf},
		"negative offset": {readmodels.UsersQuery{OrgID: org, Cursor: "asof.eyJzIjowLCJvIjotMX0"}, asOf},
	} {
		if _, err := asof.Query(members, tc.q, tc.asOf); !errors.Is(err, readmodels.ErrBadCursor) {
			t.Errorf("%s: err = %v, want ErrBadCursor", name, err)
		}
	}
	// The limit changes nothing about where the next page starts.
	if _, err := asof.Query(members, readmodels.UsersQuery{OrgID: org, Limit: 50, Cursor: first.NextCursor}, asOf); err != nil {
		t.Errorf("same query, other limit: %v", err)
	}
}
