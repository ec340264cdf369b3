package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/orgportal/onboarding/adapters/httpapi"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/readmodels"
)

func emailsOf(list any) string {
	var out []string
	for _, x := range list.([]any) {
		out = append(out, strings.Split(field(x.(map[string]any), "email"), "@")[0])
	}
	return strings.Join(out, ",")
}

func TestLineageWalksInvitersAndListsInvitees(t *testing.T) {
	t.Parallel()
	e, r := queryEnv(t)
	owner := e.ownerToken()
	row := func(id, local string, status readmodels.UserStatus, by *readmodels.Ref) readmodels.User {
		return userRow(e.org, id, e.addr(local), status, domain.RoleMember, by)
	}
	by := func(id, local string) *readmodels.Ref { return ref(id, e.addr(local)) }
	rows := []readmodels.User{
		row(e.owner, "owner", readmodels.StatusActive, nil),
		row("u-ann", "ann", readmodels.StatusActive, by(e.owner, "owner")),
		row("u-bob", "bob", readmodels.StatusRemoved, by("u-ann", "ann")), // left, still in the chain
		row("u-cat", "cat", readmodels.StatusActive, by("u-bob", "bob")),
		row("u-dan", "dan", readmodels.StatusActive, by("u-bob", "bob")),
		row("", "eve", readmodels.StatusInvited, by("u-bob", "bob")),
		// A corrupt pair that invited each other.
		row("u-x", "x", readmodels.StatusActive, by("u-y", "y")),
		row("u-y", "y", readmodels.StatusActive, by("u-x", "x")),
		// An inviter with no row.
		row("u-orphan", "orphan", readmodels.StatusActive, by("u-ghost", "ghost")),
	}
	// A chain longer than the walk goes.
	for i := range httpapi.MaxLineageDepth + 5 {
		inviter := by(fmt.Sprintf("u-deep%d", i+1), fmt.Sprintf("deep%d", i+1))
		rows = append(rows, row(fmt.Sprintf("u-deep%d", i), fmt.Sprintf("deep%d", i), readmodels.StatusActive, inviter))
	}
	r.set(func(m *memReader) { m.users = rows })

	res := e.want(e.get(owner, "/users/u-bob/lineage"), 200, "")
	if got := field(res.Body["member"].(map[string]any), "email"); got != e.addr("bob") {
		t.Errorf("member %q", got)
	}
	if got := emailsOf(res.Body["inviters"]); got != "ann,owner" || res.str("chainEnd") != "root" {
		t.Errorf("inviters %s, end %s", got, res.str("chainEnd"))
	}
	if got := emailsOf(res.Body["invitees"]); got != "cat,dan,eve" {
		t.Errorf("invitees %s", got)
	}

	res = e.want(e.get(owner, "/users/u-cat/lineage"), 200, "")
	if got := emailsOf(res.Body["inviters"]); got != "bob,ann,owner" || res.str("chainEnd") != "root" || emailsOf(res.Body["invitees"]) != "" {
		t.Errorf("cat: %s", res.Raw)
	}
	res = e.want(e.get(owner, "/users/"+e.owner+"/lineage"), 200, "")
	if got := emailsOf(res.Body["inviters"]); got != "" || res.str("chainEnd") != "root" || emailsOf(res.Body["invitees"]) != "ann" {
		t.Errorf("owner: %s", res.Raw)
	}

	res = e.want(e.get(owner, "/users/u-x/lineage"), 200, "")
	if got := emailsOf(res.Body["inviters"]); got != "y" || res.str("chainEnd") != "cycle" {
		t.Errorf("cycle: %s", res.Raw)
	}
	res = e.want(e.get(owner, "/users/u-orphan/lineage"), 200, "")
	unknown, _ := res.Body["unknownInviter"].(map[string]any)
	if emailsOf(res.Body["inviters"]) != "" || res.str("chainEnd") != "unknown_inviter" || field(unknown, "userId") != "u-ghost" {
		t.Errorf("unknown inviter: %s", res.Raw)
	}
	res = e.want(e.get(owner, "/users/u-deep0/lineage"), 200, "")
	if n := len(res.Body["inviters"].([]any)); n != httpapi.MaxLineageDepth || res.str("chainEnd") != "depth_limit" {
		t.Errorf("deep chain: %d inviters, end %s", n, res.str("chainEnd"))
	}

	e.want(e.get(owner, "/users/u-nobody/lineage"), 404, domain.CodeMemberNotFound)
}
