package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/httpkit"
	"github.com/orgportal/onboarding/adapters/ratelimit"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// usersFilter is the Users page's query string, checked: unknown values
// fall back to the defaults rather than failing the page.
type usersFilter struct {
	Q      string
	Status readmodels.UserStatus
	Role   domain.Role
	Sort   string
	Desc   bool
	Cursor string
}

const maxSearchLength = 100

var sortKeys = []string{readmodels.SortEmail, readmodels.SortName, readmodels.SortInvitedAt, readmodels.SortJoinedAt}

func parseUsersFilter(c *gin.Context) usersFilter {
	f := usersFilter{Q: strings.TrimSpace(c.Query("q")), Sort: readmodels.SortEmail}
	if len([]rune(f.Q)) > maxSearchLength {
		f.Q = string([]rune(f.Q)[:maxSearchLength])
	}
	if s := readmodels.UserStatus(c.Query("status")); slices.Contains(readmodels.UserStatuses, s) {
		f.Status = s
	}
	if r, err := domain.ParseRole(c.Query("role")); err == nil {
		f.Role = r
	}
	if s := c.Query("sort"); slices.Contains(sortKeys, s) {
		f.Sort = s
	}
	f.Desc = c.Query("dir") == "desc"
	if cur := c.Query("cursor"); len(cur) <= 1000 {
		f.Cursor = cur
	}
	return f
}

// url is the Users page with this filter; cursor is dropped unless kept.
func (f usersFilter) url(keepCursor bool) string {
	q := url.Values{}
	if f.Q != "" {
		q.Set("q", f.Q)
	}
	if f.Status != "" {
		q.Set("status", string(f.Status))
	}
	if f.Role != "" {
		q.Set("role", string(f.Role))
	}
	if f.Sort != readmodels.SortEmail {
		q.Set("sort", f.Sort)
	}
	if f.Desc {
		q.Set("dir", "desc")
	}
	return listURL("/users", q, keepCursor, f.Cursor)
}

type tab struct {
	Label   string
	Count   int
	Href    string
	Current bool
}

type column struct {
	Label string
	Href  string
	// AriaSort is ascending or descending on the sorted column.
	AriaSort string
}

type usersData struct {
	Filter      usersFilter
	Statuses    []readmodels.UserStatus
	Roles       []domain.Role
	Tabs        []tab
	Columns     []column
	Users       []readmodels.User
	NextHref    string
	FirstHref   string
	Invitations []readmodels.Invitation
	Self        domain.UserID
}

// usersPage is the members table with its filters, and the invitations
// that can still be resent or withdrawn.
func (p *Pages) usersPage(c *gin.Context) {
	if p.reader == nil {
		p.fail(c, errReadModelsUnavailable)
		return
	}
	behind := p.awaitReadModels(c, readmodels.UsersBase)
	u, _ := signedIn(c)
	ctx := c.Request.Context()
	f := parseUsersFilter(c)
	notice := ""
	query := readmodels.UsersQuery{OrgID: u.OrgID, Q: f.Q, Status: f.Status, Role: f.Role, Sort: f.Sort, Desc: f.Desc,
		Limit: p.cfg.PageSize, Cursor: f.Cursor}
	page, err := p.reader.Users(ctx, query)
	if errors.Is(err, readmodels.ErrBadCursor) {
		notice = "That page of the list no longer exists; here is the first page."
		f.Cursor, query.Cursor = "", ""
		page, err = p.reader.Users(ctx, query)
	}
	if err != nil {
		p.fail(c, err)
		return
	}
	invitations, err := p.reader.Invitations(ctx, readmodels.InvitationsQuery{OrgID: u.OrgID, Now: p.clock(), Limit: readmodels.MaxLimit})
	if err != nil {
		p.fail(c, err)
		return
	}
	d := usersData{
		Filter: f, Statuses: readmodels.UserStatuses, Roles: []domain.Role{domain.RoleOwner, domain.RoleAdmin, domain.RoleMember},
		Users: page.Items, Self: u.UserID,
	}
	for _, inv := range invitations.Items {
		if s := inv.Status; s == readmodels.InvitationPending || s == readmodels.InvitationExpired {
			d.Invitations = append(d.Invitations, inv)
		}
	}
	all := f
	all.Status, all.Cursor = "", ""
	total := 0
	for _, s := range readmodels.UserStatuses {
		total += page.Counts[s]
	}
	d.Tabs = append(d.Tabs, tab{Label: "All", Count: total, Href: all.url(false), Current: f.Status == ""})
	for _, s := range readmodels.UserStatuses {
		t := all
		t.Status = s
		d.Tabs = append(d.Tabs, tab{Label: statusLabel(s), Count: page.Counts[s], Href: t.url(false), Current: f.Status == s})
	}
	for _, col := range []struct{ label, key string }{{"Name", readmodels.SortName}, {"Email", readmodels.SortEmail},
		{"Invited", readmodels.SortInvitedAt}, {"Joined", readmodels.SortJoinedAt}} {
		s := f
		s.Cursor = ""
		s.Sort = col.key
		s.Desc = f.Sort == col.key && !f.Desc
		cl := column{Label: col.label, Href: s.url(false)}
		if f.Sort == col.key {
			cl.AriaSort = "ascending"
			if f.Desc {
				cl.AriaSort = "descending"
			}
		}
		d.Columns = append(d.Columns, cl)
	}
	if page.NextCursor != "" {
		next := f
		next.Cursor = page.NextCursor
		d.NextHref = next.url(true)
	}
	if f.Cursor != "" {
		d.FirstHref = f.url(false)
	}
	p.renderView(c, http.StatusOK, "users", view{Title: "Users", Nav: "users", Behind: behind, Notice: notice, Data: d})
}

type inviteData struct {
	Form    *form
	Results []inviteRow
	// DoneHref leads back to the Users page, waiting for the new rows.
	DoneHref string
	Max      int
}

type inviteRow struct {
	Email, Name, Outcome, Detail string
	OK                           bool
}

func (p *Pages) inviteFormPage(c *gin.Context) {
	f := newForm("emails", "role")
	f.Values["role"] = string(domain.RoleMember)
	p.renderView(c, http.StatusOK, "invite", view{Title: "Invite users", Nav: "users",
		Data: inviteData{Form: f, Max: domain.MaxAddressesPerRequest}})
}

// invite sends the invitations and shows the outcome per address. The
// addresses count against the organization's daily budget; those not
// invited are given back.
func (p *Pages) invite(c *gin.Context) {
	u, _ := signedIn(c)
	f := newForm("emails", "role")
	f.Values["emails"] = c.PostForm("emails")
	f.Values["role"] = c.PostForm("role")
	data := inviteData{Form: f, Max: domain.MaxAddressesPerRequest}
	budget := ratelimit.InvitationCost(f.Values["emails"])
	if ok, wait := p.limits.TakeInvitations(u.OrgID, budget, p.clock()); !ok {
		p.fail(c, rateLimited(wait))
		return
	}
	res, err := p.cmd.InviteUsers(c.Request.Context(), p.request(c), commands.InviteUsersInput{
		OrgID: u.OrgID, Emails: []string{f.Values["emails"]}, Role: f.Values["role"]})
	if err != nil {
		p.limits.GiveInvitations(u.OrgID, budget, p.clock())
		if f.absorb(err) {
			p.renderView(c, http.StatusBadRequest, "invite", view{Title: "Invite users", Nav: "users", Data: data})
			return
		}
		p.fail(c, err)
		return
	}
	for _, r := range res.Results {
		row := inviteRow{Email: r.Email, Name: r.Name}
		switch r.Status {
		case commands.InviteInvited:
			budget--
			row.OK, row.Outcome, row.Detail = true, "Invited", "An invitation email is on its way."
		case commands.InviteAlreadyMember:
			row.Outcome, row.Detail = "Already a member", "Nothing was sent."
		case commands.InviteAlreadyInvited:
			row.Outcome, row.Detail = "Already invited", "An invitation is pending; resend it from the Users page if it got lost."
		default:
			row.Outcome, row.Detail = "Not a valid address", sentence(r.Reason)
		}
		data.Results = append(data.Results, row)
	}
	p.limits.GiveInvitations(u.OrgID, budget, p.clock())
	data.DoneHref = withConsistency("/users", res.Position)
	data.Form = newForm("emails", "role")
	data.Form.Values["role"] = f.Values["role"]
	p.renderView(c, http.StatusOK, "invite", view{Title: "Invitations sent", Nav: "users", Data: data})
}

// resendInvitation issues a new link (the old one dies) and restarts the
// expiry; it counts against the daily budget.
func (p *Pages) resendInvitation(c *gin.Context) {
	u, _ := signedIn(c)
	if ok, wait := p.limits.TakeInvitations(u.OrgID, 1, p.clock()); !ok {
		p.fail(c, rateLimited(wait))
		return
	}
	res, err := p.cmd.ResendInvitation(c.Request.Context(), p.request(c), u.OrgID, domain.InvitationID(c.Param("id")))
	if err != nil {
		p.limits.GiveInvitations(u.OrgID, 1, p.clock())
		p.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, withConsistency("/users?notice=resent", res.Position))
}

func (p *Pages) revokeInvitation(c *gin.Context) {
	u, _ := signedIn(c)
	res, err := p.cmd.RevokeInvitation(c.Request.Context(), p.request(c), u.OrgID, domain.InvitationID(c.Param("id")))
	if err != nil {
		p.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, withConsistency("/users?notice=revoked", res.Position))
}

type memberData struct {
	Form   *form
	Member domain.Member
	Roles  []domain.Role
}

func (p *Pages) memberData(c *gin.Context, f *form) (memberData, error) {
	u, _ := signedIn(c)
	m, err := p.cmd.DescribeMember(c.Request.Context(), p.request(c), u.OrgID, domain.UserID(c.Param("userId")))
	if err != nil {
		return memberData{}, err
	}
	roles := []domain.Role{domain.RoleAdmin, domain.RoleMember}
	if u.Role == domain.RoleOwner {
		// Only owners grant or take ownership (the domain's rule).
		roles = append([]domain.Role{domain.RoleOwner}, roles...)
	}
	if _, ok := f.Values["role"]; !ok {
		f.Values["role"] = string(m.Role)
	}
	return memberData{Form: f, Member: m, Roles: roles}, nil
}

// roleChangePage is the confirmation step of a role change.
func (p *Pages) roleChangePage(c *gin.Context) {
	d, err := p.memberData(c, newForm("role"))
	if err != nil {
		p.fail(c, err)
		return
	}
	p.renderView(c, http.StatusOK, "member_role", view{Title: "Change role", Nav: "users", Data: d})
}

func (p *Pages) changeRole(c *gin.Context) {
	u, _ := signedIn(c)
	f := newForm("role")
	f.Values["role"] = c.PostForm("role")
	res, err := p.cmd.ChangeMemberRole(c.Request.Context(), p.request(c), u.OrgID, domain.UserID(c.Param("userId")), f.Values["role"])
	if err != nil {
		p.refuseOnPage(c, err, f, "member_role", "Change role")
		return
	}
	c.Redirect(http.StatusSeeOther, withConsistency("/users?notice=role_changed", res.Position))
}

// removalPage is the confirmation step of a removal.
func (p *Pages) removalPage(c *gin.Context) {
	d, err := p.memberData(c, newForm())
	if err != nil {
		p.fail(c, err)
		return
	}
	p.renderView(c, http.StatusOK, "member_remove", view{Title: "Remove member", Nav: "users", Data: d})
}

func (p *Pages) removeMember(c *gin.Context) {
	u, _ := signedIn(c)
	res, err := p.cmd.RemoveMember(c.Request.Context(), p.request(c), u.OrgID, domain.UserID(c.Param("userId")))
	if err != nil {
		p.refuseOnPage(c, err, newForm(), "member_remove", "Remove member")
		return
	}
	c.Redirect(http.StatusSeeOther, withConsistency("/users?notice=removed", res.Position))
}

// refuseOnPage shows a refusal the rules of the organization make (last
// owner, owner required, an invalid role) on the confirmation page itself;
// anything else (an unknown member, an outage) gets a page of its own.
func (p *Pages) refuseOnPage(c *gin.Context, err error, f *form, page, title string) {
	kind := domain.KindOf(err)
	if kind == "" || kind == domain.KindNotFound || kind == domain.KindUnauthenticated {
		p.fail(c, err)
		return
	}
	if !f.absorb(err) {
		var de *domain.Error
		errors.As(err, &de) // a kind means a domain error
		f.Summary = sentence(de.Message)
	}
	d, derr := p.memberData(c, f)
	if derr != nil {
		p.fail(c, derr)
		return
	}
	httpkit.SetLogCode(c, domain.CodeOf(err))
	status, _ := httpkit.StatusOf(kind)
	p.renderView(c, status, page, view{Title: title, Nav: "users", Data: d})
}

// listURL is path with the list filters q, plus the page cursor when the
// link keeps the page (pagination) rather than starting over (a new
// filter or sort).
func listURL(path string, q url.Values, keepCursor bool, cursor string) string {
	if keepCursor && cursor != "" {
		q.Set("cursor", cursor)
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}
