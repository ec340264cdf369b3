package httpapi

import (
	"context"
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
	if c.GetHeader("Authorization") == "" {
		if err := refuseCrossOriginCookie(c); err != nil {
			a.fail(c, err)
			return
		}
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
// user's and that they are one of its owners or admins, before any handler
// decodes, validates or reads anything: a member who is not an admin gets
// 403 on every route, never a 400 that tells how far the request got.
// Sessions belong to one organization, so any other id (existing or not)
// gets the same 403: the answer tells nothing about other tenants. The
// role is read from the organization's stream, not a read model that may
// lag behind a demotion; the commands check it again on the state they
// decide on. The state it read travels on with the request (an admin
// grant in its context), so that the command checks the role on that
// state, or a newer one, without reading the organization again.
func (a *API) requireOrg(c *gin.Context) {
	a.grantOrg(c, a.cmd.GrantAdmin)
}

// requireOrgAhead is requireOrg for a route whose use case holds back
// everything that counts until the role is confirmed (invitations: see
// commands.GrantAdminAhead). An actor these handlers saw administer the
// organization a moment ago goes on while the organization's stream is
// read; every answer, error answers included (fail), waits for that read
// and is its 403 if it refuses. Anyone else is refused here as by
// requireOrg, before anything is decoded.
func (a *API) requireOrgAhead(c *gin.Context) {
	a.grantOrg(c, a.cmd.GrantAdminAhead)
}

func (a *API) grantOrg(c *gin.Context, decide func(context.Context, domain.OrgID, domain.Actor) (commands.AdminGrant, error)) {
	p := c.MustGet(principalKey).(commands.Principal)
	if c.Param("orgId") != string(p.OrgID) {
		a.fail(c, domain.Forbidden(domain.CodeNotAnAdmin, "you are not an admin of this organization"))
		return
	}
	grant, err := decide(c.Request.Context(), p.OrgID, domain.UserActor(p.UserID))
	if err != nil {
		a.fail(c, err)
		return
	}
	c.Request = c.Request.WithContext(commands.WithAdminGrant(c.Request.Context(), grant))
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
