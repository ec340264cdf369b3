package web

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/ratelimit"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

type joinData struct {
	Form   *form
	Link   commands.JoinLinkView
	Action string
	// SentTo is set once the registration is recorded: the page then says
	// to check the mail.
	SentTo string
}

// AllowedDomainsText lists the allowed domains for the page's text and for
// the script that checks the address as it is typed.
func (d joinData) AllowedDomainsText() string { return strings.Join(d.Link.AllowedDomains, ", ") }

// joinPage is the registration page the self-service URL opens, or the
// page that says the link no longer works.
func (p *Pages) joinPage(c *gin.Context) {
	token := c.Param("token")
	v, err := p.cmd.DescribeJoinLink(c.Request.Context(), token)
	if err != nil {
		p.fail(c, err)
		return
	}
	p.render(c, http.StatusOK, "join", "Join "+v.OrganizationName,
		joinData{Form: newForm("name", "email", "password"), Link: v, Action: "/join/" + token})
}

// register records the registration and has the verification mail sent.
// The answer is the same whether or not the address is a member already
// (the command makes sure of that): "check your email".
func (p *Pages) register(c *gin.Context) {
	token := c.Param("token")
	ctx := c.Request.Context()
	f := newForm("name", "email", "password")
	f.Values["name"] = c.PostForm("name")
	f.Values["email"] = strings.TrimSpace(c.PostForm("email"))
	if err := p.limitSubject(ratelimit.GroupJoin, ratelimit.TokenSubject(token)); err != nil {
		p.fail(c, err)
		return
	}
	// Per address too, so that a public link cannot flood one inbox.
	if err := p.limitSubject(ratelimit.GroupJoin, ratelimit.EmailSubject(f.Values["email"])); err != nil {
		p.fail(c, err)
		return
	}
	v, err := p.cmd.DescribeJoinLink(ctx, token)
	if err != nil {
		p.fail(c, err)
		return
	}
	data := joinData{Form: f, Link: v, Action: "/join/" + token}
	password := c.PostForm("password")
	// The command stops at the first bad field; checking all of them
	// here lists every problem at once.
	email, err := domain.ParseEmail(f.Values["email"])
	noteProblem(f, "email", err)
	_, err = domain.ParsePersonName(f.Values["name"])
	noteProblem(f, "name", err)
	noteProblem(f, "password", domain.CheckPassword(password, email))
	err = nil
	if !f.Failed() {
		_, err = p.cmd.RegisterViaLink(ctx, p.request(c), commands.RegisterInput{
			Token: token, Email: f.Values["email"], Name: f.Values["name"], Password: password})
	}
	if f.Failed() || err != nil {
		if f.Failed() || f.absorb(err) {
			p.render(c, http.StatusBadRequest, "join", "Join "+v.OrganizationName, data)
			return
		}
		p.fail(c, err)
		return
	}
	data.SentTo = f.Values["email"]
	p.render(c, http.StatusOK, "join", "Check your email", data)
}

type verifyData struct {
	Verification commands.VerificationView
	Action       string
}

// verifyPage is where the verification mail leads. It asks for one click
// rather than verifying on GET: mail scanners open links by themselves,
// and would otherwise complete registrations nobody confirmed.
func (p *Pages) verifyPage(c *gin.Context) {
	token := c.Param("token")
	v, err := p.cmd.DescribeVerification(c.Request.Context(), token)
	if err != nil {
		p.fail(c, err)
		return
	}
	p.render(c, http.StatusOK, "verify", "Confirm your email address", verifyData{Verification: v, Action: "/verify/" + token})
}

// verify makes the member; they then sign in with the password they chose
// when registering.
func (p *Pages) verify(c *gin.Context) {
	token := c.Param("token")
	if err := p.limitSubject(ratelimit.GroupVerify, ratelimit.TokenSubject(token)); err != nil {
		p.fail(c, err)
		return
	}
	if _, err := p.cmd.VerifyRegistration(c.Request.Context(), p.request(c), token); err != nil {
		p.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/sign-in?notice=verified")
}
