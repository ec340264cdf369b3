package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// sessionToken returns the caller's session token: the bearer token, or
// else the session cookie.
func sessionToken(c *gin.Context) string {
	if h := c.GetHeader("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
		return ""
	}
	if cookie, err := c.Cookie(SessionCookie); err == nil {
		return cookie
	}
	return ""
}

// authenticate resolves the session token to the signed-in user; every
// route below it has a principal.
func (a *API) authenticate(c *gin.Context) {
	token := sessionToken(c)
	if token == "" {
		a.fail(c, domain.Unauthenticated(CodeAuthRequired,
			"sign in first: send Authorization: Bearer <token> (from POST %s/session) or the session cookie", BasePath))
		return
	}
	p, err := a.cmd.Authenticate(c.Request.Context(), token)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.Set(principalKey, p)
	c.Set(tokenKey, token)
}

// requireOrg checks that the organization in the path is the signed-in
// user's. Sessions belong to one organization, so any other id (existing
// or not) gets the same 403: the answer tells nothing about other tenants.
// The commands then check the admin role on the organization's own state.
func (a *API) requireOrg(c *gin.Context) {
	p := c.MustGet(principalKey).(commands.Principal)
	if c.Param("orgId") != string(p.OrgID) {
		a.fail(c, domain.Forbidden(domain.CodeNotAnAdmin, "you are not an admin of this organization"))
		return
	}
}

func principal(c *gin.Context) commands.Principal {
	return c.MustGet(principalKey).(commands.Principal)
}

// setSessionCookie stores the session token in an HttpOnly cookie for the
// API's paths, SameSite=Lax (no cross-site POSTs carry it), Secure when
// the portal is served over https.
func (a *API) setSessionCookie(c *gin.Context, token string, expires time.Time) {
	maxAge := int(time.Until(expires).Seconds())
	if expires.IsZero() || maxAge <= 0 {
		maxAge = 0 // a browser session cookie
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: SessionCookie, Value: token, Path: "/api/", MaxAge: maxAge,
		HttpOnly: true, Secure: a.cfg.SecureCookie, SameSite: http.SameSiteLaxMode,
	})
}

func (a *API) clearSessionCookie(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: SessionCookie, Value: "", Path: "/api/", MaxAge: -1,
		HttpOnly: true, Secure: a.cfg.SecureCookie, SameSite: http.SameSiteLaxMode,
	})
}
