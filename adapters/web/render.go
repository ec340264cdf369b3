package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/httpkit"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/readmodels"
)

//go:embed templates/*.html
var templateFiles embed.FS

// view is what every page template receives.
type view struct {
	Title string
	// User is the signed-in person; nil on the public pages.
	User *commands.SignedInUser
	// CSRF is the pre-session token for the public forms; SessionCSRF the
	// token bound to the session, for every form of a signed-in user.
	CSRF        string
	SessionCSRF string
	// Nav names the active navigation entry.
	Nav    string
	Notice string
	// Behind says the read models had not caught up with the change that
	// led here when the page was rendered.
	Behind bool
	Data   any
}

// parseTemplates parses every page together with the layout and the shared
// partials, once, at start: a template that does not parse stops New.
func parseTemplates(funcs template.FuncMap) (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, file := range names {
		name := strings.TrimSuffix(path.Base(file), ".html")
		if name == "layout" || name == "partials" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/partials.html", file)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// render executes page into a buffer first, so that a template error
// becomes a clean 500 rather than half a page.
func (p *Pages) render(c *gin.Context, status int, page, title string, data any) {
	p.renderView(c, status, page, view{Title: title, Data: data})
}

func (p *Pages) renderView(c *gin.Context, status int, page string, v view) {
	t, ok := p.pages[page]
	if !ok {
		p.renderBroken(c, fmt.Errorf("web: no template %q", page))
		return
	}
	if u, ok := signedIn(c); ok {
		v.User = &u
		v.SessionCSRF = sessionCSRFToken(c.GetString(tokenKey))
	}
	v.CSRF = p.preSessionToken(c)
	if v.Notice == "" {
		v.Notice = notices[c.Query("notice")]
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		p.renderBroken(c, err)
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// renderBroken is the last resort when a template fails: a plain page, so
// that the failure cannot recurse.
func (p *Pages) renderBroken(c *gin.Context, err error) {
	httpkit.LogError(p.log, c, slog.LevelError, "page template failed", err)
	httpkit.SetLogCode(c, codeInternal)
	c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8",
		[]byte("Something went wrong on our side. Reference: "+httpkit.RequestIDOf(c)+"\n"))
	c.Abort()
}

// notices are the confirmations a redirect can ask a page to show
// (?notice=...): fixed texts, so nothing from the URL is echoed.
var notices = map[string]string{
	"signed_out":     "You are signed out.",
	"session_ended":  "Your session has ended. Sign in again.",
	"signed_in":      "You are signed in.",
	"welcome":        "Welcome! You have joined the organization and are signed in.",
	"verified":       "Your email address is confirmed and you have joined. Sign in with the password you chose.",
	"password_set":   "Your password is set and you are signed in.",
	"ready":          "You are all set. Sign in with your email address and new password.",
	"resent":         "The invitation was sent again. The previous link no longer works.",
	"revoked":        "The invitation was withdrawn. Its link no longer works.",
	"role_changed":   "The role was changed.",
	"removed":        "The member was removed. Their sessions have ended.",
	"link_saved":     "The self-service link settings are saved.",
	"link_unchanged": "Nothing changed: the settings were already so.",
	"link_rotated":   "The self-service link was replaced. The previous URL no longer works.",
}

func (p *Pages) funcs() template.FuncMap {
	return template.FuncMap{
		"asset":      p.assets.url,
		"date":       formatTime,
		"datePtr":    formatTimePtr,
		"role":       roleLabel,
		"via":        viaLabel,
		"status":     statusLabel,
		"action":     actionLabel,
		"invStatus":  invitationStatusLabel,
		"delivery":   deliveryLabel,
		"humanActor": humanActor,
	}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2 Jan 2006, 15:04 UTC")
}

func formatTimePtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return formatTime(*t)
}

func roleLabel(r domain.Role) string {
	switch r {
	case domain.RoleOwner:
		return "Owner"
	case domain.RoleAdmin:
		return "Admin"
	case domain.RoleMember:
		return "Member"
	}
	return string(r)
}

func viaLabel(v domain.JoinedVia) string {
	switch v {
	case domain.JoinedViaBootstrap:
		return "Founder"
	case domain.JoinedViaInvitation:
		return "Invitation"
	case domain.JoinedViaSelfServiceLink:
		return "Self-service link"
	case domain.JoinedViaManual:
		return "Added by an admin"
	}
	return string(v)
}

func statusLabel(s readmodels.UserStatus) string {
	switch s {
	case readmodels.StatusInvited:
		return "Invited"
	case readmodels.StatusPendingVerification:
		return "Pending verification"
	case readmodels.StatusActive:
		return "Active"
	case readmodels.StatusRemoved:
		return "Removed"
	}
	return string(s)
}

func invitationStatusLabel(s readmodels.InvitationStatus) string {
	switch s {
	case readmodels.InvitationPending:
		return "Pending"
	case readmodels.InvitationAccepted:
		return "Accepted"
	case readmodels.InvitationRevoked:
		return "Withdrawn"
	case readmodels.InvitationExpired:
		return "Expired"
	}
	return string(s)
}

func deliveryLabel(d readmodels.Delivery) string {
	switch d.State {
	case readmodels.DeliveryPending:
		return "Sending"
	case readmodels.DeliverySent:
		return "Delivered to the mail server"
	case readmodels.DeliveryFailed:
		if d.Reason != "" {
			return "Failed: " + d.Reason
		}
		return "Failed"
	}
	return string(d.State)
}

// actions are the event types the audit page lists, with their labels, in
// the order of its action filter.
var actions = []struct{ Type, Label string }{
	{domain.TypeUserInvited, "Invited"},
	{domain.TypeInvitationResent, "Invitation resent"},
	{domain.TypeInvitationRevoked, "Invitation withdrawn"},
	{domain.TypeInvitationAccepted, "Invitation accepted"},
	{domain.TypeInvitationEmailSent, "Invitation mailed"},
	{domain.TypeInvitationEmailFailed, "Invitation mail failed"},
	{domain.TypeRegistrationStarted, "Registration started"},
	{domain.TypeRegistrationEmailVerified, "Address verified"},
	{domain.TypeRegistrationRejected, "Registration rejected"},
	{domain.TypeMemberJoined, "Joined"},
	{domain.TypeMemberRoleChanged, "Role changed"},
	{domain.TypeMemberRemoved, "Removed"},
	{domain.TypeSelfServiceLinkConfigured, "Self-service link changed"},
	{domain.TypeSelfServiceLinkRotated, "Self-service link rotated"},
	{domain.TypeOrganizationCreated, "Organization created"},
	{domain.TypeRegistrationAttemptedByMember, "Registration by a member"},
	{domain.TypeVerificationEmailSent, "Verification mailed"},
	{domain.TypeVerificationEmailFailed, "Verification mail failed"},
	{domain.TypeAlreadyMemberEmailSent, "Already-a-member notice mailed"},
	{domain.TypeAlreadyMemberEmailFailed, "Already-a-member mail failed"},
	{domain.TypeAccountCreated, "Account created"},
	{domain.TypeAccountClosed, "Account closed"},
	{domain.TypePasswordSetupRequested, "Password setup requested"},
	{domain.TypeSetPasswordEmailSent, "Password setup mailed"},
	{domain.TypeSetPasswordEmailFailed, "Password setup mail failed"},
	{domain.TypePasswordSet, "Password set"},
	{domain.TypePasswordResetRequested, "Password reset requested"},
	{domain.TypePasswordResetEmailSent, "Password reset mailed"},
	{domain.TypePasswordResetEmailFailed, "Password reset mail failed"},
	{domain.TypePasswordResetCompleted, "Password reset"},
	{domain.TypeSessionStarted, "Signed in"},
	{domain.TypeSessionEnded, "Signed out"},
}

func actionLabel(t string) string {
	for _, a := range actions {
		if a.Type == t {
			return a.Label
		}
	}
	return t
}

// humanActor names the non-person actors of the audit trail.
func humanActor(actor, email string) string {
	switch {
	case email != "":
		return email
	case actor == string(domain.ActorSystem):
		return "the portal"
	case actor == string(domain.ActorSelfServiceLink):
		return "self-service link"
	}
	return actor
}
