package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/ratelimit"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

type invitationData struct {
	Form       *form
	Invitation commands.InvitationView
	Action     string
}

// invitationPage is where the invitation mail leads: the invited address
// and a form for name and password, or the page that says why the link no
// longer works (410) and what to do instead.
func (p *Pages) invitationPage(c *gin.Context) {
	token := c.Param("token")
	v, err := p.cmd.DescribeInvitation(c.Request.Context(), token)
	if err != nil {
		p.fail(c, err)
		return
	}
	if v.Code != "" {
		p.fail(c, goneInvitation(v))
		return
	}
	f := newForm("name", "password")
	f.Values["name"] = v.Name // the inviter's name for them, if they gave one
	p.render(c, http.StatusOK, "invitation", "Join "+v.OrganizationName,
		invitationData{Form: f, Invitation: v, Action: "/invite/" + token})
}

// acceptInvitation makes the member, then signs them in.
func (p *Pages) acceptInvitation(c *gin.Context) {
	token := c.Param("token")
	if err := p.limitSubject(ratelimit.GroupAccept, ratelimit.TokenSubject(token)); err != nil {
		p.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	v, err := p.cmd.DescribeInvitation(ctx, token)
	if err != nil {
		p.fail(c, err)
		return
	}
	if v.Code != "" {
		p.fail(c, goneInvitation(v))
		return
	}
	f := newForm("name", "password")
	f.Values["name"] = c.PostForm("name")
	password := c.PostForm("password")
	email, _ := domain.ParseEmail(v.Email)
	_, err = domain.ParsePersonName(f.Values["name"])
	noteProblem(f, "name", err)
	noteProblem(f, "password", domain.CheckPassword(password, email))
	var res commands.JoinResult
	if !f.Failed() {
		res, err = p.cmd.AcceptInvitation(ctx, p.request(c), commands.AcceptInput{Token: token, Name: f.Values["name"], Password: password})
	}
	if f.Failed() || err != nil {
		if f.Failed() || f.absorb(err) {
			p.render(c, http.StatusBadRequest, "invitation", "Join "+v.OrganizationName,
				invitationData{Form: f, Invitation: v, Action: "/invite/" + token})
			return
		}
		p.fail(c, err)
		return
	}
	p.signInAfterJoin(c, v.Email, password, res.OrgID, res.Position, "welcome")
}

// goneInvitation explains a dead invitation link with what to do next.
func goneInvitation(v commands.InvitationView) error {
	var msg string
	switch v.Code {
	case domain.CodeInvitationUsed:
		msg = "this invitation to " + v.OrganizationName + " has already been accepted; sign in with the password chosen then, or ask for a new invitation"
	case domain.CodeInvitationRevoked:
		msg = "this invitation to " + v.OrganizationName + " was withdrawn; if you still want to join, ask the person who invited you for a new invitation"
	case domain.CodeInvitationSuperseded:
		msg = "a newer invitation to " + v.OrganizationName + " was sent to you; use the link in the most recent invitation email, or ask for a new one"
	case domain.CodeInvitationExpired:
		msg = "this invitation to " + v.OrganizationName + " expired on " + formatTime(v.ExpiresAt) + "; ask the person who invited you to send it again"
	default:
		msg = "this invitation can no longer be accepted; ask the organization for a new invitation"
	}
	return domain.Gone(v.Code, "%s", msg)
}
