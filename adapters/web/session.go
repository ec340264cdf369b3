package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// The pages keep their session in a cookie of their own, at path "/",
// separate from the API's (portal_session at /api/). Both hold the same
// kind of session token (commands.SignIn), but a page session never
// authorizes an API call and an API session never a page: the API relies
// on JSON bodies and SameSite against cross-site requests, the pages on
// form tokens, and keeping the cookies apart keeps each defence whole.

func (p *Pages) sessionCookieName() string {
	if p.cfg.SecureCookie {
		return "__Host-portal_page_session"
	}
	return "portal_page_session"
}

// setSessionCookie stores the session token: HttpOnly (no script reads
// it), SameSite=Lax (it goes along when a person follows a link to the
// portal from their mail, never with another site's form), Secure over
// https.
func (p *Pages) setSessionCookie(c *gin.Context, token string, expires time.Time) {
	maxAge := int(expires.Sub(p.clock()).Seconds())
	if expires.IsZero() || maxAge <= 0 {
		maxAge = 0 // a browser session cookie
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: p.sessionCookieName(), Value: token, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: p.cfg.SecureCookie, SameSite: http.SameSiteLaxMode,
	})
}

func (p *Pages) clearSessionCookie(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: p.sessionCookieName(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: p.cfg.SecureCookie, SameSite: http.SameSiteLaxMode,
	})
}

// signedIn returns the user currentUser found for this request.
func signedIn(c *gin.Context) (commands.SignedInUser, bool) {
	v, ok := c.Get(principalKey)
	if !ok {
		return commands.SignedInUser{}, false
	}
	u, ok := v.(commands.SignedInUser)
	return u, ok
}

// currentUser resolves the session cookie. A dead session (ended,
// expired, account closed, removed from the organization) clears the
// cookie and counts as signed out (ended reports it); only an unreachable
// event store is an error.
func (p *Pages) currentUser(c *gin.Context) (u commands.SignedInUser, ok, ended bool, err error) {
	if u, ok := signedIn(c); ok {
		return u, true, false, nil
	}
	token, cerr := c.Cookie(p.sessionCookieName())
	if cerr != nil || token == "" {
		return u, false, false, nil
	}
	principal, err := p.cmd.Authenticate(c.Request.Context(), token)
	if err == nil {
		u, err = p.cmd.WhoAmI(c.Request.Context(), principal)
	}
	if err != nil {
		if domain.IsKind(err, domain.KindUnauthenticated) {
			p.clearSessionCookie(c)
			return u, false, true, nil
		}
		return u, false, false, err
	}
	c.Set(principalKey, u)
	c.Set(tokenKey, token)
	return u, true, false, nil
}

// requireSignIn sends a person without a live session to the sign-in
// page, which brings them back here afterwards (for pages they read; a
// form posted with a dead session is not replayed).
func (p *Pages) requireSignIn(c *gin.Context) {
	_, ok, ended, err := p.currentUser(c)
	if err != nil {
		p.fail(c, err)
		return
	}
	if ok {
		return
	}
	q := url.Values{}
	if c.Request.Method == http.MethodGet {
		q.Set("next", c.Request.URL.RequestURI())
	}
	if ended {
		q.Set("notice", "session_ended")
	}
	target := "/sign-in"
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	c.Redirect(http.StatusSeeOther, target)
	c.Abort()
}

// requireAdmin keeps members out of the administration pages; the
// commands check the role again on every change.
func (p *Pages) requireAdmin(c *gin.Context) {
	if u, _ := signedIn(c); !u.CanAdminister() {
		p.fail(c, domain.Forbidden(domain.CodeNotAnAdmin, "only the organization's owners and admins can open this page"))
	}
}

// safeNext keeps a post-sign-in redirect on this site: a local absolute
// path, not "//host" or "/\host" (which browsers read as another host).
func safeNext(next string) string {
	if len(next) == 0 || len(next) > 2000 || next[0] != '/' || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || strings.ContainsAny(next, "\r\n\t") {
		return "/"
	}
	return next
}
