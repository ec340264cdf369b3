package web

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/httpkit"
	"github.com/orgportal/onboarding/adapters/ratelimit"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// The two mailed password links: a first password for a member an admin
// added (/set-password/{token}), and a reset (/reset-password/{token}).
const (
	setupLink = domain.PasswordTokenSetup
	resetLink = domain.PasswordTokenReset
)

type passwordData struct {
	Form    *form
	Purpose domain.PasswordTokenPurpose
	Email   string
	Action  string
}

func (d passwordData) Setup() bool { return d.Purpose == setupLink }

func passwordTitle(purpose domain.PasswordTokenPurpose) string {
	if purpose == setupLink {
		return "Set your password"
	}
	return "Choose a new password"
}

func passwordPath(purpose domain.PasswordTokenPurpose) string {
	if purpose == setupLink {
		return "/set-password/"
	}
	return "/reset-password/"
}

// passwordLinkPage shows the form when the link still works, and the page
// that says why not (404 unknown, 410 used, outdated, expired) otherwise.
func (p *Pages) passwordLinkPage(purpose domain.PasswordTokenPurpose) gin.HandlerFunc {
	return func(c *gin.Context) {
		token := c.Param("token")
		v, err := p.cmd.DescribePasswordLink(c.Request.Context(), purpose, token)
		if err != nil {
			p.fail(c, err)
			return
		}
		p.render(c, http.StatusOK, "password", passwordTitle(purpose), passwordData{
			Form: newForm("password"), Purpose: purpose, Email: v.Email, Action: passwordPath(purpose) + token})
	}
}

// completePasswordLink sets the password, then signs the person in with
// it, so that the link leads straight into the portal.
func (p *Pages) completePasswordLink(purpose domain.PasswordTokenPurpose) gin.HandlerFunc {
	complete := p.cmd.CompletePasswordReset
	if purpose == setupLink {
		complete = p.cmd.CompletePasswordSetup
	}
	return func(c *gin.Context) {
		token := c.Param("token")
		if err := p.limitSubject(ratelimit.GroupPasswordLink, ratelimit.TokenSubject(token)); err != nil {
			p.fail(c, err)
			return
		}
		ctx := c.Request.Context()
		v, err := p.cmd.DescribePasswordLink(ctx, purpose, token)
		if err != nil {
			p.fail(c, err)
			return
		}
		password := c.PostForm("password")
		res, err := complete(ctx, p.request(c), token, password)
		if err != nil {
			f := newForm("password")
			if f.absorb(err) {
				p.render(c, http.StatusBadRequest, "password", passwordTitle(purpose), passwordData{
					Form: f, Purpose: purpose, Email: v.Email, Action: passwordPath(purpose) + token})
				return
			}
			p.fail(c, err)
			return
		}
		p.signInAfterJoin(c, v.Email, password, res.OrgID, res.Position, "password_set")
	}
}

// signInAfterJoin starts a session for someone who just proved who they
// are (accepted an invitation, set a password). Should that fail, the
// change stands and they sign in by hand.
func (p *Pages) signInAfterJoin(c *gin.Context, email, password string, org domain.OrgID, pos commands.Position, notice string) {
	res, err := p.cmd.SignIn(context.WithoutCancel(c.Request.Context()), p.request(c),
		commands.SignInInput{Email: email, Password: password, OrgID: org})
	if err != nil {
		httpkit.LogError(p.log, c, slog.LevelWarn, "sign-in after joining failed", err)
		c.Redirect(http.StatusSeeOther, "/sign-in?notice=ready")
		return
	}
	p.setSessionCookie(c, res.Token, res.ExpiresAt)
	c.Redirect(http.StatusSeeOther, withConsistency("/?notice="+notice, pos))
}

type forgotData struct {
	Form *form
	Sent bool
}

func (p *Pages) forgotPasswordPage(c *gin.Context) {
	p.render(c, http.StatusOK, "forgot_password", "Forgotten password", forgotData{Form: newForm("email")})
}

// requestPasswordReset answers the same whether or not the address has an
// account; only a malformed address is refused.
func (p *Pages) requestPasswordReset(c *gin.Context) {
	f := newForm("email")
	f.Values["email"] = strings.TrimSpace(c.PostForm("email"))
	if err := p.limitSubject(ratelimit.GroupPasswordReset, ratelimit.EmailSubject(f.Values["email"])); err != nil {
		p.fail(c, err)
		return
	}
	if err := p.cmd.RequestPasswordReset(c.Request.Context(), p.request(c), f.Values["email"]); err != nil {
		if f.absorb(err) {
			p.render(c, http.StatusBadRequest, "forgot_password", "Forgotten password", forgotData{Form: f})
			return
		}
		p.fail(c, err)
		return
	}
	p.render(c, http.StatusOK, "forgot_password", "Check your email", forgotData{Form: f, Sent: true})
}
