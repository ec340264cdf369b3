package readmodels

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections"
)

// readFixture is two organizations' read models, built and switched to
// version 1, and the history they came from.
type readFixture struct {
	db   *mongo.Database
	h    history
	rows memTable[User]
}

func newReadFixture(t *testing.T, ctx context.Context) readFixture {
	t.Helper()
	db := srv.DB(t)
	h := renumber(orgHistory("org-a", 120, 11), orgHistory("org-b", 40, 12))
	versions := mongodb.NewVersions(db, time.Now)
	for _, p := range Projections(db, Options{PrepareCollection: srv.PrepareCollection()}) {
		rebuild(t, ctx, p, 1, h)
		if err := versions.Switch(ctx, p.Base(), 1); err != nil {
			t.Fatal(err)
		}
	}
	rows, _ := foldAllUsers(t, h)
	return readFixture{db: db, h: h, rows: rows}
}

// expectUsers is the Users query answered the slow, obvious way.
func (f readFixture) expectUsers(q UsersQuery) ([]User, map[UserStatus]int) {
	counts := zeroCounts()
	var out []User
	for _, u := range f.rows {
		p := strings.ToLower(q.Q)
		if u.OrgID != q.OrgID || q.Role != "" && u.Role != q.Role ||
			p != "" && !strings.HasPrefix(strings.ToLower(u.Email), p) && !strings.HasPrefix(strings.ToLower(u.Name), p) {
			continue
		}
		counts[u.Status]++
		if q.Status == "" || u.Status == q.Status {
			out = append(out, u)
		}
	}
	key := func(u User) (string, bool) {
		switch q.Sort {
		case SortName:
			return u.NameFold, true
		case SortInvitedAt:
			if u.InvitedAt == nil {
				return "", false
			}
			return u.InvitedAt.Format(time.RFC3339Nano), true
		case SortJoinedAt:
			if u.JoinedAt == nil {
				return "", false
			}
			return u.JoinedAt.Format(time.RFC3339Nano), true
		}
		return u.NormalizedEmail, true
	}
	slices.SortFunc(out, func(a, b User) int {
		ka, oka := key(a)
		kb, okb := key(b)
		c := 0
		switch {
		case !oka && okb:
			c = -1
		case oka && !okb:
			c = 1
		default:
			c = strings.Compare(ka, kb)
		}
		if c == 0 {
			c = strings.Compare(a.ID, b.ID)
		}
		if q.Desc {
			c = -c
		}
		return c
	})
	return out, counts
}

// allPages follows the cursors to the end.
func allPages(t *testing.T, ctx context.Context, r Reader, q UsersQuery) ([]User, map[UserStatus]int) {
	t.Helper()
	var got []User
	var counts map[UserStatus]int
	for page := 0; ; page++ {
		res, err := r.Users(ctx, q)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		if len(res.Items) > limitOf(q.Limit) {
			t.Fatalf("page of %d rows, limit %d", len(res.Items), q.Limit)
		}
		if page == 0 {
			counts = res.Counts
		} else if !reflect.DeepEqual(counts, res.Counts) {
			t.Errorf("counts changed between pages: %v then %v", counts, res.Counts)
		}
		got = append(got, res.Items...)
		if res.NextCursor == "" {
			return got, counts
		}
		if page > 100 {
			t.Fatal("more than 100 pages: the cursor does not advance")
		}
		q.Cursor = res.NextCursor
	}
}

func TestReaderUsers(t *testing.T) {
	ctx := testContext(t)
	f := newReadFixture(t, ctx)
	readers := map[string]Reader{
		"indexed": NewReader(f.db, ReaderOptions{Strategy: StrategyIndexed}),
		"cached":  NewReader(f.db, ReaderOptions{Strategy: StrategyCached}),
	}
	filters := []UsersQuery{
		{},
		{Status: StatusInvited},
		{Q: "ANN", Role: domain.RoleMember},
		{Q: "é"},
		{Status: StatusActive, Role: domain.RoleAdmin},
	}
	for _, sort := range []string{SortEmail, SortName, SortInvitedAt, SortJoinedAt} {
		for _, desc := range []bool{false, true} {
			for _, filter := range filters {
				q := filter
				q.OrgID, q.Sort, q.Desc, q.Limit = "org-a", sort, desc, 17
				want, wantCounts := f.expectUsers(q)
				for name, r := range readers {
					got, counts := allPages(t, ctx, r, q)
					if ids(got) != ids(want) {
						t.Errorf("%s %+v:\n got %s\nwant %s", name, q, ids(got), ids(want))
					}
					if !reflect.DeepEqual(counts, wantCounts) {
						t.Errorf("%s %+v: counts %v, want %v", name, q, counts, wantCounts)
					}
				}
			}
		}
	}
	// Documents come back whole: the first page equals the fold's rows.
	for name, r := range readers {
		page, err := r.Users(ctx, UsersQuery{OrgID: "org-b"})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := f.expectUsers(UsersQuery{OrgID: "org-b"})
		if !reflect.DeepEqual(page.Items, want[:min(len(want), DefaultLimit)]) {
			t.Errorf("%s: org-b's first page differs from the folded rows", name)
		}
		if page.Counts[StatusActive] == 0 || page.Counts[StatusInvited]+page.Counts[StatusPendingVerification] == 0 {
			t.Errorf("%s: the fixture should have active and pending rows: %v", name, page.Counts)
		}
	}
}

func ids(us []User) string {
	var b strings.Builder
	for _, u := range us {
		b.WriteString(u.ID)
		b.WriteByte(' ')
	}
	return b.String()
}

func TestReaderUsersCursors(t *testing.T) {
	ctx := testContext(t)
	f := newReadFixture(t, ctx)
	r := NewReader(f.db, ReaderOptions{})
	first, err := r.Users(ctx, UsersQuery{OrgID: "org-a", Limit: 5})
	if err != nil || first.NextCursor == "" {
		t.Fatalf("first page: %v, cursor %q", err, first.NextCursor)
	}
	for name, q := range map[string]UsersQuery{
		"garbage":            {OrgID: "org-a", Cursor: "%%%not base64"},
		"not json":           {OrgID: "org-a", Cursor: "bm90IGpzb24"},
		"other sort":         {OrgID: "org-a", Sort: SortName, Cursor: first.NextCursor},
		"other filter":       {OrgID: "org-a", Status: StatusActive, Cursor: first.NextCursor},
		"other org":          {OrgID: "org-b", Cursor: first.NextCursor},
		"other order":        {OrgID: "org-a", Desc: true, Cursor: first.NextCursor},
		"way too long":       {OrgID: "org-a", Cursor: strings.Repeat("A", 5000)},
		"json without an id": {OrgID: "org-a", Cursor: cursor{Query: "x"}.encode()},
	} {
		if _, err := r.Users(ctx, q); !errors.Is(err, ErrBadCursor) {
			t.Errorf("%s: err = %v, want ErrBadCursor", name, err)
		}
	}
	if _, err := r.Users(ctx, UsersQuery{OrgID: "org-a", Sort: "age"}); err == nil || errors.Is(err, ErrBadCursor) {
		t.Errorf("unknown sort: err = %v", err)
	}
	if page, err := r.Users(ctx, UsersQuery{OrgID: "org-a", Limit: 1000}); err != nil || len(page.Items) != MaxLimit && page.NextCursor != "" {
		t.Errorf("limit above the bound: %d items, %v", len(page.Items), err)
	}
}

func TestReaderUserAndInvitedBy(t *testing.T) {
	ctx := testContext(t)
	f := newReadFixture(t, ctx)
	for _, r := range []Reader{NewReader(f.db, ReaderOptions{Strategy: StrategyIndexed}), NewReader(f.db, ReaderOptions{Strategy: StrategyCached})} {
		owner := domain.UserID("org-a-owner")
		u, ok, err := r.User(ctx, "org-a", owner)
		if err != nil || !ok || u.Email != "owner@org-a.example" || u.JoinedVia != domain.JoinedViaBootstrap {
			t.Fatalf("owner: %+v %v %v", u, ok, err)
		}
		if _, ok, err := r.User(ctx, "org-b", owner); ok || err != nil {
			t.Errorf("org-a's owner found in org-b: %v %v", ok, err)
		}
		if _, ok, err := r.User(ctx, "org-a", "nobody"); ok || err != nil {
			t.Errorf("unknown user found: %v %v", ok, err)
		}
		invited, err := r.InvitedBy(ctx, "org-a", owner)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, row := range f.rows {
			if row.OrgID == "org-a" && row.InvitedBy != nil && row.InvitedBy.UserID == owner {
				want = append(want, row.NormalizedEmail)
			}
		}
		slices.Sort(want)
		var got []string
		for _, row := range invited {
			got = append(got, row.NormalizedEmail)
			if row.InvitedBy.Email != "owner@org-a.example" {
				t.Errorf("inviter email of %s: %q", row.Email, row.InvitedBy.Email)
			}
		}
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("invited by the owner:\n got %v\nwant %v", got, want)
		}
	}
}

func TestReaderInvitations(t *testing.T) {
	ctx := testContext(t)
	f := newReadFixture(t, ctx)
	r := NewReader(f.db, ReaderOptions{})
	invs := memTable[Invitation]{}
	refs := memTable[ref]{}
	for _, e := range f.h {
		if NewInvitations(nil, Options{}).Handles(e.Type) {
			if err := foldInvitations(invs, refs, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	now := t0.Add(24 * time.Hour) // some invitations have expired by then
	for _, status := range []InvitationStatus{"", InvitationPending, InvitationExpired, InvitationAccepted, InvitationRevoked} {
		var want []Invitation
		for _, inv := range invs {
			inv.Status = inv.StatusAt(now)
			if inv.OrgID == "org-a" && (status == "" || inv.Status == status) {
				want = append(want, inv)
			}
		}
		slices.SortFunc(want, func(a, b Invitation) int {
			if c := b.InvitedAt.Compare(a.InvitedAt); c != 0 {
				return c
			}
			return strings.Compare(string(b.ID), string(a.ID))
		})
		var got []Invitation
		q := InvitationsQuery{OrgID: "org-a", Status: status, Now: now, Limit: 7}
		for {
			page, err := r.Invitations(ctx, q)
			if err != nil {
				t.Fatalf("%s: %v", status, err)
			}
			got = append(got, page.Items...)
			if page.NextCursor == "" {
				break
			}
			q.Cursor = page.NextCursor
		}
		if len(want) == 0 && status != "" {
			t.Errorf("the fixture has no %s invitation", status)
		}
		if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("status %q: got %d invitations, want %d", status, len(got), len(want))
		}
	}
	if _, err := r.Invitations(ctx, InvitationsQuery{OrgID: "org-a", Status: "lost"}); err == nil {
		t.Error("unknown status: no error")
	}
}

func TestReaderAudit(t *testing.T) {
	ctx := testContext(t)
	f := newReadFixture(t, ctx)
	r := NewReader(f.db, ReaderOptions{})
	all := func(q AuditQuery) []AuditEntry {
		t.Helper()
		var out []AuditEntry
		for {
			page, err := r.Audit(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, page.Items...)
			if page.NextCursor == "" {
				return out
			}
			q.Cursor = page.NextCursor
		}
	}
	entries := all(AuditQuery{OrgID: "org-b", Limit: 13})
	var want int
	for _, e := range f.h {
		if !auditSkipped[e.Type] && orgOf(e) == "org-b" {
			want++
		}
	}
	if len(entries) != want {
		t.Errorf("%d entries for org-b, want %d", len(entries), want)
	}
	for i := 1; i < len(entries); i++ {
		if entries[i].Position <= entries[i-1].Position {
			t.Fatalf("not in commit order at %d", i)
		}
	}
	owner := all(AuditQuery{OrgID: "org-b", Actor: "org-b-owner"})
	invites := all(AuditQuery{OrgID: "org-b", Action: domain.TypeUserInvited})
	window := all(AuditQuery{OrgID: "org-b", From: entries[3].At, To: entries[6].At})
	if len(owner) == 0 || len(invites) == 0 {
		t.Fatalf("filters found nothing: %d by the owner, %d invitations", len(owner), len(invites))
	}
	for _, e := range owner {
		if e.Actor != "org-b-owner" || e.ActorEmail != "owner@org-b.example" {
			t.Errorf("actor filter: %+v", e)
		}
	}
	for _, e := range invites {
		if e.Action != domain.TypeUserInvited || e.SubjectEmail == "" {
			t.Errorf("action filter: %+v", e)
		}
	}
	for _, e := range window {
		if e.At.Before(entries[3].At) || !e.At.Before(entries[6].At) {
			t.Errorf("time window: %v outside [%v, %v)", e.At, entries[3].At, entries[6].At)
		}
	}
	if len(window) != 3 {
		t.Errorf("time window: %d entries, want 3 (one event a minute)", len(window))
	}
	subject := all(AuditQuery{OrgID: "org-b", Subject: invites[0].Subject})
	if len(subject) == 0 || subject[0].ID != invites[0].ID {
		t.Errorf("subject filter: %+v", subject)
	}
}

func orgOf(e projections.Envelope) domain.OrgID {
	d, _ := auditDetails(e.Event)
	s, _ := d["orgId"].(string)
	return domain.OrgID(s)
}

func TestReaderPosition(t *testing.T) {
	ctx := testContext(t)
	db := srv.DB(t)
	r := NewReader(db, ReaderOptions{PositionTTL: time.Nanosecond})
	if pos, err := r.Position(ctx); err != nil || pos != 0 {
		t.Fatalf("before anything: %d %v", pos, err)
	}
	versions := mongodb.NewVersions(db, time.Now)
	checkpoints := mongodb.NewCheckpointStore(db)
	for i, name := range Names() {
		if err := versions.Switch(ctx, name, 2); err != nil {
			t.Fatal(err)
		}
		// The old version's checkpoint does not count.
		if err := checkpoints.Save(ctx, projections.CheckpointName(name, name, 1), 9_999); err != nil {
			t.Fatal(err)
		}
		if err := checkpoints.Save(ctx, projections.CheckpointName(name, name, 2), uint64(500+i*100)); err != nil {
			t.Fatal(err)
		}
	}
	if pos, err := r.Position(ctx); err != nil || pos != 500 {
		t.Errorf("position = %d, %v; want the lowest active checkpoint, 500", pos, err)
	}
}

func TestReaderUnavailable(t *testing.T) {
	ctx := testContext(t)
	client, err := mongo.Connect(ctx, options.Client().ApplyURI("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200&connectTimeoutMS=200"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	r := NewReader(client.Database("portal"), ReaderOptions{})
	if _, err := r.Users(ctx, UsersQuery{OrgID: "org-a"}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Users: %v, want ErrUnavailable", err)
	}
	if _, err := r.Position(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Position: %v, want ErrUnavailable", err)
	}
	if _, err := r.Audit(ctx, AuditQuery{OrgID: "org-a"}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Audit: %v, want ErrUnavailable", err)
	}
}

// The cached strategy notices a change through the org stamp.
func TestReaderCachedSeesLiveChanges(t *testing.T) {
	ctx := testContext(t)
	f := newReadFixture(t, ctx)
	r := NewReader(f.db, ReaderOptions{Strategy: StrategyCached})
	before, err := r.Users(ctx, UsersQuery{OrgID: "org-b", Status: StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	next := history{}.add("org-b-owner", domain.MemberJoined{OrgID: "org-b", UserID: "u-new", Email: "new@example.org",
		NormalizedEmail: "new@example.org", Name: "New", Role: domain.RoleMember, Via: domain.JoinedViaManual, InvitedBy: "org-b-owner"})
	next[0].Position = uint64(len(f.h)+1) * 100
	applyLive(t, ctx, NewUsers(f.db, Options{PrepareCollection: srv.PrepareCollection()}), 1, next)
	after, err := r.Users(ctx, UsersQuery{OrgID: "org-b", Status: StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	if after.Counts[StatusActive] != before.Counts[StatusActive]+1 {
		t.Errorf("active: %d before, %d after a join", before.Counts[StatusActive], after.Counts[StatusActive])
	}
}
