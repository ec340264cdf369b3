package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/ratelimit"
	"github.com/orgportal/onboarding/commands"
)

// home sends a person where they belong: admins to the Users page,
// members to their account page, everyone else to sign-in. The query
// (consistency token, notice) goes along.
func (p *Pages) home(c *gin.Context) {
	u, ok, ended, err := p.currentUser(c)
	if err != nil {
		p.fail(c, err)
		return
	}
	q := url.Values{}
	for _, key := range []string{consistencyParam, "notice"} {
		if v := c.Query(key); v != "" {
			q.Set(key, v)
		}
	}
	target := "/sign-in"
	switch {
	case ok && u.CanAdminister():
		target = "/users"
	case ok:
		target = "/account"
	case ended:
		q.Set("notice", "session_ended")
	}
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	c.Redirect(http.StatusSeeOther, target)
}

type signInData struct {
	Form *form
	Next string
}

func (p *Pages) signInPage(c *gin.Context) {
	next := safeNext(c.Query("next"))
	if _, ok, _, err := p.currentUser(c); err != nil {
		p.fail(c, err)
		return
	} else if ok {
		c.Redirect(http.StatusSeeOther, next)
		return
	}
	p.renderView(c, http.StatusOK, "sign_in", view{Title: "Sign in", Data: signInData{Form: newForm("email", "password"), Next: next}})
}

// signIn: the same answer for an unknown address and a wrong password
// (the command makes sure of that), after the per-address budget.
func (p *Pages) signIn(c *gin.Context) {
	f := newForm("email", "password")
	f.Values["email"] = strings.TrimSpace(c.PostForm("email"))
	next := safeNext(c.PostForm("next"))
	if err := p.limitSubject(ratelimit.GroupSession, ratelimit.EmailSubject(f.Values["email"])); err != nil {
		p.fail(c, err)
		return
	}
	res, err := p.cmd.SignIn(c.Request.Context(), p.request(c),
		commands.SignInInput{Email: f.Values["email"], Password: c.PostForm("password")})
	if err != nil {
		if f.absorb(err) {
			p.render(c, http.StatusUnauthorized, "sign_in", "Sign in", signInData{Form: f, Next: next})
			return
		}
		p.fail(c, err)
		return
	}
	p.setSessionCookie(c, res.Token, res.ExpiresAt)
	c.Redirect(http.StatusSeeOther, next)
}

func (p *Pages) signOutPage(c *gin.Context) {
	p.renderView(c, http.StatusOK, "sign_out", view{Title: "Sign out"})
}

// signOut ends the session: its token stops working everywhere at once.
func (p *Pages) signOut(c *gin.Context) {
	if _, err := p.cmd.SignOut(c.Request.Context(), p.request(c), c.GetString(tokenKey)); err != nil {
		p.fail(c, err)
		return
	}
	p.clearSessionCookie(c)
	c.Redirect(http.StatusSeeOther, "/sign-in?notice=signed_out")
}

// accountPage is where members (who administer nothing) land.
func (p *Pages) accountPage(c *gin.Context) {
	p.renderView(c, http.StatusOK, "account", view{Title: "Your account", Nav: "account"})
}
