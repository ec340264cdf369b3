package readmodels

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/orgportal/onboarding/domain"
)

// BenchmarkUsersPageAfterChange is the Users page under an admin who
// invites people one after the other, each invitation followed by a read
// of the page at the new stamp, as a client with a consistency token
// does: one UserInvited through the live applier and a flush (as before a
// checkpoint), then the first page of an organization of 5,000 rows.
//
// The two sub-benchmarks differ only in how the reader refreshes its copy
// of the organization: "incremental" fetches the changed row by _id and
// patches the copy, "full" reloads the organization (what the reader did
// before the stamps listed changed rows). They run on the same data in
// the same run, so the ratio of their read-ms/op is what to compare
// across runs on this noisy machine; change-ms/op is the applier's share,
// the same in both. "unchanged" is the floor: a read while the stamp
// stands still.
//
//	go test -run '^$' -bench BenchmarkUsersPageAfterChange -benchtime 20x ./projections/readmodels/
func BenchmarkUsersPageAfterChange(b *testing.B) {
	ctx := context.Background()
	const org domain.OrgID = "org-bench"
	const rows = 5_000
	owner := domain.UserID(string(org) + "-owner")
	h := history{}.add("system",
		domain.OrganizationCreated{OrgID: org, Name: "Bench", LinkGeneration: 1},
		domain.MemberJoined{OrgID: org, UserID: owner, Email: "owner@bench.example", NormalizedEmail: "owner@bench.example",
			Name: "Owner", Role: domain.RoleOwner, Via: domain.JoinedViaBootstrap})
	for i := range rows - 1 {
		email := fmt.Sprintf("person.%05d@example.org", i)
		h = h.add(string(owner), domain.UserInvited{InvitationID: domain.InvitationID(fmt.Sprintf("inv-%05d", i)), OrgID: org,
			Email: email, NormalizedEmail: email, Role: domain.RoleMember, InvitedBy: owner, Generation: 1, ExpiresAt: t0.Add(48 * time.Hour)})
	}
	l := newLiveOrgFrom(b, ctx, org, renumber(h))
	l.owner = owner

	// The floor: the same page read while nothing changes (a stamp read
	// and the page from memory), as a client without a token polls it.
	b.Run("unchanged", func(b *testing.B) {
		r := NewReader(l.db, ReaderOptions{Strategy: StrategyCached})
		if _, err := r.Users(ctx, UsersQuery{OrgID: org}); err != nil { // the first load, not measured
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := r.Users(ctx, UsersQuery{OrgID: org}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
	})
	for _, mode := range []string{"incremental", "full"} {
		b.Run(mode, func(b *testing.B) {
			r := NewReader(l.db, ReaderOptions{Strategy: StrategyCached})
			r.cache.fullOnly = mode == "full"
			if _, err := r.Users(ctx, UsersQuery{OrgID: org}); err != nil { // the first load, not measured
				b.Fatal(err)
			}
			var changing, reading time.Duration
			for b.Loop() {
				start := time.Now()
				l.invite(l.newPerson())
				changing += time.Since(start)
				start = time.Now()
				page, err := r.Users(ctx, UsersQuery{OrgID: org})
				reading += time.Since(start)
				if err != nil || page.Counts[StatusInvited] < rows-1 {
					b.Fatalf("page: %v, counts %v", err, page.Counts)
				}
			}
			full, patched := r.refreshes()
			if mode == "incremental" && full != 1 || mode == "full" && patched != 0 {
				b.Fatalf("%s: %d full loads, %d patches", mode, full, patched)
			}
			n := float64(b.N)
			b.ReportMetric(reading.Seconds()*1000/n, "read-ms/op")
			b.ReportMetric(n/reading.Seconds(), "reads/s")
			b.ReportMetric(changing.Seconds()*1000/n, "change-ms/op")
		})
	}
}
