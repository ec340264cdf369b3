package web

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/httpkit"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// Keys of values kept on the Gin context.
const (
	principalKey = "web.principal" // commands.SignedInUser
	tokenKey     = "web.session_token"
)

// maxFormBytes bounds a form body: the invitation text area of
// domain.MaxAddressesPerRequest long addresses fits several times over.
const maxFormBytes = 256 << 10

// contentSecurityPolicy allows nothing but the portal's own files: no
// inline script or style (so an injected tag does nothing), forms that post
// only back to the portal, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// signedInID names the signed-in user in the access log.
func signedInID(c *gin.Context) string {
	u, _ := signedIn(c)
	return string(u.UserID)
}

// secureHeaders sets the headers every page carries.
func (p *Pages) secureHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	// Pages carry tokens in their URLs (/invite/{token}, /join/{token}):
	// no Referer may take them to another site.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
	// Pages show member lists and links that open accounts: never cached.
	h.Set("Cache-Control", "no-store")
}

// unmatched answers a request no route (or no route with its method)
// takes: browsers get an HTML page, everything else, including all of
// /api/, goes to the fallback.
func (p *Pages) unmatched(status int) gin.HandlersChain {
	toFallback := func(c *gin.Context) {
		if !strings.HasPrefix(c.Request.URL.Path, "/api/") && acceptsHTML(c.Request) {
			return
		}
		if p.fallback != nil {
			p.fallback(c, status)
		} else {
			c.String(status, http.StatusText(status)+"\n")
		}
		c.Abort()
	}
	page := func(c *gin.Context) {
		if status == http.StatusMethodNotAllowed {
			p.fail(c, errMethodNotAllowed)
			return
		}
		p.fail(c, errNoSuchPage)
	}
	return gin.HandlersChain{toFallback, httpkit.RequestID, p.access.Handle, p.secureHeaders, page}
}

// acceptsHTML reports whether the client takes an HTML answer (browsers
// navigating; not API clients).
func acceptsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// request is what the commands need to know about this request.
func (p *Pages) request(c *gin.Context) commands.Request {
	req := commands.Request{CorrelationID: httpkit.RequestIDOf(c), Time: p.clock()}
	if u, ok := signedIn(c); ok {
		req.Actor = domain.UserActor(u.UserID)
	}
	return req
}
