package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// dateLayout is what an <input type="date"> sends; days are UTC days.
const dateLayout = "2006-01-02"

type auditFilter struct {
	Person, Action, From, To, Cursor string
}

func (f auditFilter) url(keepCursor bool) string {
	q := url.Values{}
	for k, v := range map[string]string{"person": f.Person, "action": f.Action, "from": f.From, "to": f.To} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return listURL("/audit", q, keepCursor, f.Cursor)
}

type personOption struct {
	Value, Label string
}

type auditData struct {
	Form      *form
	Filter    auditFilter
	People    []personOption
	Actions   []struct{ Type, Label string }
	Entries   []readmodels.AuditEntry
	NextHref  string
	FirstHref string
	// InvitedHref filters the trail down to who invited whom.
	InvitedHref string
}

// auditPage is the organization's audit trail, oldest first, filtered by
// the person who acted, the action and a range of days.
func (p *Pages) auditPage(c *gin.Context) {
	if p.reader == nil {
		p.fail(c, errReadModelsUnavailable)
		return
	}
	behind := p.awaitReadModels(c, readmodels.AuditBase)
	u, _ := signedIn(c)
	ctx := c.Request.Context()
	f := auditFilter{Person: c.Query("person"), Action: c.Query("action"), From: c.Query("from"), To: c.Query("to")}
	if cur := c.Query("cursor"); len(cur) <= 1000 {
		f.Cursor = cur
	}
	form := newForm("person", "action", "from", "to")
	form.Values["person"], form.Values["action"], form.Values["from"], form.Values["to"] = f.Person, f.Action, f.From, f.To
	q := readmodels.AuditQuery{OrgID: u.OrgID, Limit: p.cfg.PageSize, Cursor: f.Cursor}
	if f.Person != "" {
		if _, err := domain.ParseID[domain.UserID](f.Person); err == nil || f.Person == string(domain.ActorSystem) || f.Person == string(domain.ActorSelfServiceLink) {
			q.Actor = f.Person
		} else {
			form.Errors["person"] = "Choose a person from the list."
		}
	}
	if f.Action != "" {
		if !slices.ContainsFunc(actions, func(a struct{ Type, Label string }) bool { return a.Type == f.Action }) {
			form.Errors["action"] = "Choose an action from the list."
		}
		q.Action = f.Action
	}
	if f.From != "" {
		t, err := time.Parse(dateLayout, f.From)
		if err != nil {
			form.Errors["from"] = "Enter a date like 2030-01-31."
		}
		q.From = t
	}
	if f.To != "" {
		t, err := time.Parse(dateLayout, f.To)
		if err != nil {
			form.Errors["to"] = "Enter a date like 2030-01-31."
		}
		q.To = t.Add(24 * time.Hour) // the whole day; To is exclusive
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		form.Errors["to"] = "The end date must not be before the start date."
	}
	d := auditData{Form: form, Filter: f, Actions: actions,
		InvitedHref: auditFilter{Action: domain.TypeUserInvited}.url(false)}
	people, err := p.reader.Users(ctx, readmodels.UsersQuery{OrgID: u.OrgID, Sort: readmodels.SortEmail, Limit: readmodels.MaxLimit})
	if err != nil {
		p.fail(c, err)
		return
	}
	for _, row := range people.Items {
		if row.UserID != "" {
			d.People = append(d.People, personOption{Value: string(row.UserID), Label: row.Email})
		}
	}
	d.People = append(d.People, personOption{Value: string(domain.ActorSystem), Label: "The portal itself"},
		personOption{Value: string(domain.ActorSelfServiceLink), Label: "The self-service link"})
	status := http.StatusOK
	notice := ""
	if form.Failed() {
		form.Summary = "Some filters need attention; see below."
		status = http.StatusBadRequest
	} else {
		page, err := p.reader.Audit(ctx, q)
		if errors.Is(err, readmodels.ErrBadCursor) {
			notice = "That page of the trail no longer exists; here is the first page."
			f.Cursor, q.Cursor = "", ""
			page, err = p.reader.Audit(ctx, q)
		}
		if err != nil {
			p.fail(c, err)
			return
		}
		d.Entries = page.Items
		if page.NextCursor != "" {
			next := f
			next.Cursor = page.NextCursor
			d.NextHref = next.url(true)
		}
		if f.Cursor != "" {
			d.FirstHref = f.url(false)
		}
	}
	d.Filter = f
	p.renderView(c, status, "audit", view{Title: "Audit", Nav: "audit", Behind: behind, Notice: notice, Data: d})
}

// maxLineage bounds the walk up the chain of inviters (and stops a cycle
// a broken read model could hold).
const maxLineage = 50

type lineageData struct {
	Member readmodels.User
	// Chain runs from the member's inviter up to the first person who was
	// not invited (the founder, or someone who joined by link).
	Chain    []readmodels.User
	Invitees []readmodels.User
	Activity []readmodels.AuditEntry
}

// lineagePage shows who invited a member, who invited them, and so on,
// and whom the member invited.
func (p *Pages) lineagePage(c *gin.Context) {
	if p.reader == nil {
		p.fail(c, errReadModelsUnavailable)
		return
	}
	u, _ := signedIn(c)
	ctx := c.Request.Context()
	id, err := domain.ParseID[domain.UserID](c.Param("userId"))
	if err != nil {
		p.fail(c, err)
		return
	}
	notFound := domain.NotFound(domain.CodeMemberNotFound, "there is no member with this id in the organization")
	row, ok, err := p.reader.User(ctx, u.OrgID, id)
	if err != nil {
		p.fail(c, err)
		return
	}
	if !ok {
		p.fail(c, notFound)
		return
	}
	d := lineageData{Member: row}
	seen := map[domain.UserID]bool{id: true}
	for cur := row; cur.InvitedBy != nil && cur.InvitedBy.UserID != "" && len(d.Chain) < maxLineage; {
		next := cur.InvitedBy.UserID
		if seen[next] {
			break
		}
		seen[next] = true
		parent, ok, err := p.reader.User(ctx, u.OrgID, next)
		if err != nil {
			p.fail(c, err)
			return
		}
		if !ok {
			// Known by the reference alone.
			parent = readmodels.User{UserID: next, Email: cur.InvitedBy.Email}
		}
		d.Chain = append(d.Chain, parent)
		cur = parent
	}
	if d.Invitees, err = p.reader.InvitedBy(ctx, u.OrgID, id); err != nil {
		p.fail(c, err)
		return
	}
	activity, err := p.reader.Audit(ctx, readmodels.AuditQuery{OrgID: u.OrgID, Subject: string(id), Limit: readmodels.MaxLimit})
	if err != nil {
		p.fail(c, err)
		return
	}
	d.Activity = activity.Items
	title := "Lineage of " + strings.TrimSpace(row.Email)
	p.renderView(c, http.StatusOK, "lineage", view{Title: title, Nav: "audit", Data: d})
}
