package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/readmodels"
)

func invitationRow(e *env, id domain.InvitationID, email string) readmodels.Invitation {
	now := e.clock.Now()
	return readmodels.Invitation{ID: id, OrgID: e.org, Email: email, Role: domain.RoleMember,
		InvitedBy: readmodels.Ref{UserID: e.owner, Email: e.addr("owner")}, InvitedAt: now, ExpiresAt: now.Add(time.Hour),
		Status: readmodels.InvitationPending, Generation: 1, Delivery: readmodels.Delivery{State: readmodels.DeliverySent}, TimesSent: 1}
}

func userRow(e *env, id domain.UserID, email string, status readmodels.UserStatus, role domain.Role, invitedBy *readmodels.Ref) readmodels.User {
	now := e.clock.Now()
	u := readmodels.User{ID: readmodels.UserDocID(e.org, email), OrgID: e.org, UserID: id, Email: email, NormalizedEmail: email,
		Name: strings.Split(email, "@")[0], Status: status, Role: role, InvitedBy: invitedBy}
	if invitedBy != nil {
		u.InvitedAt = &now
	}
	if status == readmodels.StatusActive {
		u.JoinedAt = &now
		u.JoinedVia = domain.JoinedViaInvitation
		if invitedBy == nil {
			u.JoinedVia = domain.JoinedViaBootstrap
		}
	}
	return u
}

// The Users page shows the rows with their badges, inviter and way of
// joining, passes the filters to the read models, and offers the actions
// each row allows.
func TestUsersPage(t *testing.T) {
	e := newEnv(t)
	owner := &readmodels.Ref{UserID: e.owner, Email: e.addr("owner")}
	e.reader.set(func(s *stubReader) {
		s.users = []readmodels.User{
			userRow(e, e.owner, e.addr("owner"), readmodels.StatusActive, domain.RoleOwner, nil),
			userRow(e, "u-ann", e.addr("ann"), readmodels.StatusActive, domain.RoleAdmin, owner),
			userRow(e, "", e.addr("bob"), readmodels.StatusInvited, domain.RoleMember, owner),
		}
	})
	b := e.ownerBrowser()
	p := b.get("/users").want(t, http.StatusOK, "+ Invite users", e.addr("ann"), "Active", "Invited", "Invitation", "Founder", "All 3")
	if !strings.Contains(p.Body, `data-email="`+e.addr("ann")+`"`) || !strings.Contains(p.Body, `data-status="active"`) {
		t.Error("rows do not carry their status badge")
	}
	if !strings.Contains(p.Body, `href="/users/u-ann/role"`) || !strings.Contains(p.Body, `href="/users/u-ann/remove"`) {
		t.Error("an active member has no role change or removal")
	}
	if strings.Contains(p.Body, `href="/users/`+string(e.owner)+`/remove"`) {
		t.Error("the signed-in admin is offered to remove themselves")
	}
	if !strings.Contains(p.Body, `href="/users?cursor=next-page"`) {
		t.Error("no link to the next page")
	}

	b.get("/users?q=an&status=active&role=admin&sort=joinedAt&dir=desc&cursor=c1").want(t, http.StatusOK)
	q := e.reader.lastUsersQuery()
	if q.OrgID != e.org || q.Q != "an" || q.Status != readmodels.StatusActive || q.Role != domain.RoleAdmin ||
		q.Sort != readmodels.SortJoinedAt || !q.Desc || q.Cursor != "c1" || q.Limit != 25 {
		t.Fatalf("query: %+v", q)
	}
	// Nonsense filters fall back to the defaults instead of failing.
	b.get("/users?status=bogus&role=god&sort=password").want(t, http.StatusOK)
	if q := e.reader.lastUsersQuery(); q.Status != "" || q.Role != "" || q.Sort != readmodels.SortEmail {
		t.Fatalf("query with nonsense filters: %+v", q)
	}
	// A stale cursor: the first page, with a note.
	b.get("/users?cursor=bad").want(t, http.StatusOK, "here is the first page")
	// The column headers sort, and say how they sort.
	sorted := b.get("/users?sort=name")
	if !strings.Contains(sorted.Body, `aria-sort="ascending"><a href="/users?dir=desc&amp;sort=name"`) {
		t.Errorf("the sorted column is not marked or does not toggle:\n%s", regexpFind(sorted.Body, `(?s)<thead>.*?</thead>`))
	}
}

// After a change the page waits for the read models to show it; when they
// stay behind, it says so instead of silently showing old data.
func TestUsersPageWaitsForTheChange(t *testing.T) {
	// A wait far longer than the test needs: the page must come back as
	// soon as the read models catch up, not at the deadline.
	cfg := baseConfig
	cfg.ConsistencyWait = time.Minute
	e := newEnv(t, withConfig(cfg))
	e.reader.set(func(s *stubReader) { s.position = 100 })
	b := e.ownerBrowser()
	caughtUp := b.get("/users?consistency=100").want(t, http.StatusOK)
	if strings.Contains(caughtUp.Body, "still-updating") {
		t.Error("a page that caught up says it is still updating")
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		e.reader.set(func(s *stubReader) { s.position = 150 })
	}()
	waited := b.get("/users?consistency=150").want(t, http.StatusOK)
	if strings.Contains(waited.Body, "still-updating") {
		t.Error("the page did not wait for the read models to catch up")
	}
	e.reader.set(func(s *stubReader) {
		if s.queriedAt != 150 {
			t.Errorf("the page read the Users at position %d, before the read models reached the change", s.queriedAt)
		}
	})
}

// When the read models stay behind, the page says so instead of silently
// showing old data.
func TestUsersPageSaysWhenBehind(t *testing.T) {
	cfg := baseConfig
	cfg.ConsistencyWait = 50 * time.Millisecond
	e := newEnv(t, withConfig(cfg))
	b := e.ownerBrowser()
	behind := b.get("/users?consistency=999").want(t, http.StatusOK, "Still updating")
	if !strings.Contains(behind.Body, `id="still-updating"`) {
		t.Error("no visible note")
	}
	// A malformed token is no token.
	if p := b.get("/users?consistency=abc"); strings.Contains(p.Body, "still-updating") {
		t.Error("a malformed token made the page wait")
	}
}

func TestReadPagesWithoutReadModels(t *testing.T) {
	e := newEnv(t, withoutReader())
	b := e.ownerBrowser()
	for _, path := range []string{"/users", "/audit", "/audit/lineage/u-1"} {
		p := b.get(path).want(t, http.StatusServiceUnavailable, "Lists unavailable", "Inviting people, the self-service link and registration still work")
		if p.Header.Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", path)
		}
	}
	// What needs only the write side keeps working.
	b.get("/settings/self-service").want(t, http.StatusOK)
	b.get("/users/invite").want(t, http.StatusOK)

	e2 := setupEnv(t)
	e2.reader.set(func(s *stubReader) { s.unavailable = true })
	e2.ownerBrowser().get("/users").want(t, http.StatusServiceUnavailable, "Lists unavailable")
}

func TestAuditAndLineage(t *testing.T) {
	e := newEnv(t)
	owner := &readmodels.Ref{UserID: e.owner, Email: e.addr("owner")}
	ann := &readmodels.Ref{UserID: "u-ann", Email: e.addr("ann")}
	at := e.clock.Now()
	e.reader.set(func(s *stubReader) {
		s.users = []readmodels.User{
			userRow(e, e.owner, e.addr("owner"), readmodels.StatusActive, domain.RoleOwner, nil),
			userRow(e, "u-ann", e.addr("ann"), readmodels.StatusActive, domain.RoleAdmin, owner),
			userRow(e, "u-cy", e.addr("cy"), readmodels.StatusActive, domain.RoleMember, ann),
			userRow(e, "", e.addr("dan"), readmodels.StatusInvited, domain.RoleMember, ann),
		}
		s.audit = []readmodels.AuditEntry{
			{ID: "1", OrgID: e.org, At: at, Actor: string(e.owner), ActorEmail: e.addr("owner"), Action: domain.TypeUserInvited, Subject: "inv-1", SubjectEmail: e.addr("ann")},
			{ID: "2", OrgID: e.org, At: at, Actor: "u-ann", ActorEmail: e.addr("ann"), Action: domain.TypeMemberJoined, Subject: "u-ann", SubjectEmail: e.addr("ann")},
			{ID: "3", OrgID: e.org, At: at, Actor: "u-ann", ActorEmail: e.addr("ann"), Action: domain.TypeUserInvited, Subject: "inv-2", SubjectEmail: e.addr("cy")},
			{ID: "4", OrgID: e.org, At: at, Actor: string(domain.ActorSelfServiceLink), Action: domain.TypeRegistrationStarted, Subject: "reg-1", SubjectEmail: e.addr("eve")},
		}
	})
	b := e.ownerBrowser()
	all := b.get("/audit").want(t, http.StatusOK, "Audit", "Invited", "Joined", "self-service link", "Show who invited whom")
	if !strings.Contains(all.Body, `<option value="u-ann">`+e.addr("ann")+`</option>`) {
		t.Error("the person filter does not list members")
	}
	b.get("/audit?person=u-ann&action=UserInvited&from=2020-01-01&to=2020-01-31").want(t, http.StatusOK)
	q := e.reader.lastAuditQuery()
	if q.Actor != "u-ann" || q.Action != domain.TypeUserInvited || q.From.Format(dateLayout) != "2020-01-01" ||
		q.To.Format(dateLayout) != "2020-02-01" || q.OrgID != e.org {
		t.Fatalf("audit query: %+v", q)
	}
	bad := b.get("/audit?from=last+week&to=2020-01-01&action=DropTables")
	bad.want(t, http.StatusBadRequest, "Enter a date like", "Choose an action from the list")
	wantFieldError(t, bad, "from")
	wantFieldError(t, bad, "action")

	lineage := b.get("/audit/lineage/u-cy").want(t, http.StatusOK, "Lineage of "+e.addr("cy"), "Invited by", e.addr("ann"), e.addr("owner"))
	chain := regexpFind(lineage.Body, `(?s)<ol class="lineage".*?</ol>`)
	if strings.Index(chain, e.addr("ann")) > strings.Index(chain, e.addr("owner")) || !strings.Contains(chain, e.addr("owner")) {
		t.Errorf("the chain is not cy ← ann ← owner:\n%s", chain)
	}
	annPage := b.get("/audit/lineage/u-ann").want(t, http.StatusOK, e.addr("cy"), e.addr("dan"), "Joined")
	if !strings.Contains(annPage.Body, `href="/audit/lineage/u-cy"`) {
		t.Error("the invitees do not link to their lineage")
	}
	b.get("/audit/lineage/u-nobody").want(t, http.StatusNotFound, "No such member")
}

const dateLayout = "2006-01-02"
