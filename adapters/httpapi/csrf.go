package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// CodeCrossOriginRequest is the problem code of a cookie-authenticated
// request that a browser sent on behalf of another origin.
const CodeCrossOriginRequest = "cross_origin_request"

// sameOrigin is the standard library's CSRF check (Sec-Fetch-Site, or
// Origin against Host for browsers without it). Its zero value trusts no
// other origin and holds no state.
var sameOrigin http.CrossOriginProtection

// refuseCrossOriginCookie guards the requests the session cookie
// authenticates. SameSite=Lax keeps other sites from sending the cookie
// with a POST, but a sibling subdomain is the same site, and some routes
// (rotate, resend) take no body, so the JSON-only rule does not stop a
// form either. Browsers never add a bearer token on their own, so requests
// that carry one need no such check; nor do safe methods.
func refuseCrossOriginCookie(c *gin.Context) error {
	if err := sameOrigin.Check(c.Request); err != nil {
		return &apiError{Status: http.StatusForbidden, Code: CodeCrossOriginRequest,
			Detail: "this request came from a page of another origin; use the portal's own pages, or send Authorization: Bearer"}
	}
	return nil
}
