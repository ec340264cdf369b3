package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// The form's fields carry the names the domain reports problems under, so
// that a refusal lands next to its field.
var linkFields = []string{"enabled", "allowedDomains", "defaultRole", "expiresAt", "maxUses"}

// expiryLayout is what an <input type="datetime-local"> sends; the page
// labels the field as UTC.
const expiryLayout = "2006-01-02T15:04"

type selfServiceData struct {
	Form  *form
	Link  commands.LinkView
	Roles []domain.Role
}

func (d selfServiceData) Enabled() bool { return d.Form.Values["enabled"] != "" }

func linkForm(v commands.LinkView) *form {
	f := newForm(linkFields...)
	if v.Enabled {
		f.Values["enabled"] = "on"
	}
	f.Values["allowedDomains"] = strings.Join(v.AllowedDomains, "\n")
	f.Values["defaultRole"] = string(v.DefaultRole)
	if v.ExpiresAt != nil {
		f.Values["expiresAt"] = v.ExpiresAt.UTC().Format(expiryLayout)
	}
	if v.MaxUses > 0 {
		f.Values["maxUses"] = strconv.Itoa(v.MaxUses)
	}
	return f
}

// selfServicePage is Identity Configuration → Provisioning → Self Service:
// the link, its Copy button, its settings and the way to rotate it. It
// reads the write side, so it shows the link as it is this instant.
func (p *Pages) selfServicePage(c *gin.Context) {
	u, _ := signedIn(c)
	v, err := p.cmd.GetSelfServiceLink(c.Request.Context(), p.request(c), u.OrgID)
	if err != nil {
		p.fail(c, err)
		return
	}
	p.renderSelfService(c, http.StatusOK, selfServiceData{Form: linkForm(v), Link: v})
}

func (p *Pages) renderSelfService(c *gin.Context, status int, d selfServiceData) {
	d.Roles = []domain.Role{domain.RoleMember, domain.RoleAdmin}
	p.renderView(c, status, "self_service", view{Title: "Self Service", Nav: "identity", Data: d})
}

func (p *Pages) configureSelfService(c *gin.Context) {
	u, _ := signedIn(c)
	f := newForm(linkFields...)
	for _, name := range linkFields {
		f.Values[name] = strings.TrimSpace(c.PostForm(name))
	}
	in := commands.ConfigureLinkInput{
		Enabled:        f.Values["enabled"] != "",
		AllowedDomains: splitList(f.Values["allowedDomains"]),
		DefaultRole:    f.Values["defaultRole"],
	}
	if s := f.Values["expiresAt"]; s != "" {
		t, err := parseExpiry(s)
		if err != nil {
			f.Errors["expiresAt"] = "Enter a date and time in UTC, like 2030-12-31T17:00, or leave it empty for a link that does not expire."
		} else {
			in.ExpiresAt = &t
		}
	}
	if s := f.Values["maxUses"]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			f.Errors["maxUses"] = "Enter a whole number, or leave it empty (or 0) for no limit."
		}
		in.MaxUses = n
	}
	ctx := c.Request.Context()
	if f.Failed() {
		f.Summary = "Some fields need attention; see below."
		v, err := p.cmd.GetSelfServiceLink(ctx, p.request(c), u.OrgID)
		if err != nil {
			p.fail(c, err)
			return
		}
		p.renderSelfService(c, http.StatusBadRequest, selfServiceData{Form: f, Link: v})
		return
	}
	res, err := p.cmd.ConfigureSelfServiceLink(ctx, p.request(c), u.OrgID, in)
	if err != nil {
		v, gerr := p.cmd.GetSelfServiceLink(ctx, p.request(c), u.OrgID)
		if gerr == nil && f.absorb(err) {
			p.renderSelfService(c, http.StatusBadRequest, selfServiceData{Form: f, Link: v})
			return
		}
		p.fail(c, err)
		return
	}
	notice := "link_saved"
	if res.Position == 0 {
		notice = "link_unchanged"
	}
	c.Redirect(http.StatusSeeOther, "/settings/self-service?notice="+notice)
}

func parseExpiry(s string) (time.Time, error) {
	for _, layout := range []string{expiryLayout, expiryLayout + ":05", time.RFC3339} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	_, err := time.Parse(expiryLayout, s)
	return time.Time{}, err
}

// splitList splits the allowed-domains text on commas, semicolons and any
// white space, like the invitation list.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || unicode.IsSpace(r) })
}

// rotatePage asks before rotating: the URL people have stops working.
func (p *Pages) rotatePage(c *gin.Context) {
	u, _ := signedIn(c)
	v, err := p.cmd.GetSelfServiceLink(c.Request.Context(), p.request(c), u.OrgID)
	if err != nil {
		p.fail(c, err)
		return
	}
	p.renderView(c, http.StatusOK, "rotate", view{Title: "Rotate the self-service link", Nav: "identity", Data: v})
}

func (p *Pages) rotateLink(c *gin.Context) {
	u, _ := signedIn(c)
	if _, err := p.cmd.RotateSelfServiceLink(c.Request.Context(), p.request(c), u.OrgID); err != nil {
		p.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/settings/self-service?notice=link_rotated")
}
