package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"
)

// Forms carry a synchronizer token in the csrfField. Two kinds exist:
//
//   - Forms of a signed-in user carry a token derived from their session
//     token, which only the session's HttpOnly cookie holds: a page of
//     another site can neither read the cookie nor compute the token.
//   - Forms used before signing in (sign-in, join, accept, verify,
//     password links) carry a token derived from a random pre-session
//     cookie (HttpOnly, SameSite=Lax, __Host- prefixed over https, so no
//     sibling host can plant one).
//
// Both are derived, not stored, so any replica can check them. Before the
// token, a request that the browser labels cross-site (Sec-Fetch-Site) or
// whose Origin names another host is refused outright.
type csrfBinding int

const (
	preSessionBinding csrfBinding = iota
	sessionBinding
)

// csrfField is the hidden form field holding the token.
const csrfField = "csrf_token"

func deriveCSRF(kind, secret string) string {
	sum := sha256.Sum256([]byte("orgportal-page-csrf\x00" + kind + "\x00" + secret))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func sessionCSRFToken(sessionToken string) string {
	if sessionToken == "" {
		return ""
	}
	return deriveCSRF("session", sessionToken)
}

const preSessionKey = "web.pre_session"

func (p *Pages) preSessionCookieName() string {
	if p.cfg.SecureCookie {
		return "__Host-portal_form"
	}
	return "portal_form"
}

// preSessionToken returns the pre-session form token, setting the cookie
// it is derived from when the browser has none yet.
func (p *Pages) preSessionToken(c *gin.Context) string {
	if v := c.GetString(preSessionKey); v != "" {
		return deriveCSRF("pre", v)
	}
	value, err := c.Cookie(p.preSessionCookieName())
	if err != nil || len(value) < 32 {
		var b [32]byte
		_, _ = rand.Read(b[:])
		value = base64.RawURLEncoding.EncodeToString(b[:])
		http.SetCookie(c.Writer, &http.Cookie{
			Name: p.preSessionCookieName(), Value: value, Path: "/",
			HttpOnly: true, Secure: p.cfg.SecureCookie, SameSite: http.SameSiteLaxMode,
		})
	}
	c.Set(preSessionKey, value)
	return deriveCSRF("pre", value)
}

// checkCSRF refuses a form whose token is missing or wrong with a 403 page;
// nothing runs behind it.
func (p *Pages) checkCSRF(b csrfBinding) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !sameOrigin(c.Request) {
			p.fail(c, errCSRF)
			return
		}
		if err := c.Request.ParseForm(); err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				p.fail(c, errBodyTooLarge)
				return
			}
			p.fail(c, errCSRF)
			return
		}
		var want string
		switch b {
		case preSessionBinding:
			if value, err := c.Cookie(p.preSessionCookieName()); err == nil && len(value) >= 32 {
				want = deriveCSRF("pre", value)
			}
		case sessionBinding:
			want = sessionCSRFToken(c.GetString(tokenKey))
		}
		got := c.Request.PostForm.Get(csrfField)
		if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			p.fail(c, errCSRF)
			return
		}
	}
}

// sameOrigin refuses what the browser itself marks as coming from another
// site. A missing header says nothing (old browsers, non-browser clients:
// the token decides), and "Origin: null" is what browsers send for forms
// under Referrer-Policy: no-referrer.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}
