package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/mail"
)

// forgedHost is what an attacker puts in every header that some frameworks
// build absolute URLs from.
var forgedHost = map[string]string{
	"Host":               "evil.example",
	"X-Forwarded-Host":   "evil.example",
	"X-Forwarded-Proto":  "http",
	"X-Forwarded-Prefix": "/evil",
	"Forwarded":          "host=evil.example;proto=http",
	"X-Original-URL":     "https://evil.example/",
	"Origin":             "https://evil.example",
	"Referer":            "https://evil.example/",
}

// Links in mail and in answers are built only from the configured public
// URL: requests with forged Host and forwarding headers (also from a proxy
// the portal trusts) that cause an invitation, a resend, a set-password
// mail, a password reset and a registration yield mails whose every link
// starts with PORTAL_PUBLIC_URL.
func TestSecurityLinksIgnoreForgedHost(t *testing.T) {
	t.Parallel()
	for name, e := range map[string]*env{"direct": newEnv(t), "behind a trusted proxy": newEnv(t).behindProxy()} {
		t.Run(name, func(t *testing.T) {
			e.sendHostHeader()
			reactor, out := e.mailer()
			owner := e.ownerToken()
			forged := func(r req) reply {
				r.Header = forgedHost
				return e.do(r)
			}
			var mails []mail.Message

			inv := forged(req{Method: "POST", Path: "/orgs/" + e.org + "/invitations", Token: owner, Body: map[string]any{"emails": []string{e.addr("ivy")}}})
			invitation := domain.InvitationID(e.want(inv, 200, "").Body["results"].([]any)[0].(map[string]any)["invitationId"].(string))
			mails = append(mails, e.deliver(reactor, out, domain.InvitationStream(invitation))...)
			e.wantWrite(forged(req{Method: "POST", Path: "/orgs/" + e.org + "/invitations/" + string(invitation) + "/resend", Token: owner}), 200)
			mails = append(mails, e.deliver(reactor, out, domain.InvitationStream(invitation))...)

			dave := e.wantWrite(forged(req{Method: "POST", Path: "/orgs/" + e.org + "/users", Token: owner, Body: map[string]string{"email": e.addr("dave"), "name": "Dave", "role": "member"}}), 201).str("userId")
			mails = append(mails, e.deliver(reactor, out, domain.UserStream(domain.UserID(dave)))...)
			e.want(forged(req{Method: "POST", Path: "/password-reset", Body: map[string]string{"email": e.addr("owner")}}), 202, "")
			mails = append(mails, e.deliver(reactor, out, domain.UserStream(domain.UserID(e.owner)))...)

			for _, r := range []reply{
				e.want(forged(req{Method: "GET", Path: "/orgs/" + e.org + "/self-service-link", Token: owner}), 200, ""),
				e.wantWrite(forged(req{Method: "POST", Path: "/orgs/" + e.org + "/self-service-link/rotate", Token: owner}), 200),
			} {
				if !strings.HasPrefix(r.str("url"), publicURL+"/join/") {
					t.Errorf("self-service link %q is not under %s", r.str("url"), publicURL)
				}
			}
			link := strings.TrimPrefix(e.want(e.do(req{Method: "GET", Path: "/orgs/" + e.org + "/self-service-link", Token: owner}), 200, "").str("url"), publicURL+"/join/")
			reg := e.wantWrite(forged(req{Method: "POST", Path: "/join/" + link, Body: map[string]string{"email": e.addr("reg"), "name": "Reg", "password": goodPassword}}), 202).str("registrationId")
			mails = append(mails, e.deliver(reactor, out, domain.RegistrationStream(domain.RegistrationID(reg)))...)
			member := e.wantWrite(forged(req{Method: "POST", Path: "/join/" + link, Body: map[string]string{"email": e.addr("owner"), "name": "Olivia", "password": goodPassword}}), 202).str("registrationId")
			mails = append(mails, e.deliver(reactor, out, domain.RegistrationStream(domain.RegistrationID(member)))...)

			kinds := map[string]bool{}
			for _, m := range mails {
				kinds[strings.SplitN(m.Key, "-", 2)[0]] = true
				for _, part := range []string{m.Text, m.HTML} {
					if strings.Contains(part, "evil") {
						t.Errorf("mail %s mentions the forged host:\n%s", m.Key, part)
					}
					for _, u := range urlsIn(part) {
						if !strings.HasPrefix(u, publicURL+"/") {
							t.Errorf("mail %s links to %q, outside %s", m.Key, u, publicURL)
						}
					}
				}
			}
			if len(mails) != 6 || len(urlsIn(mails[0].Text)) == 0 {
				t.Fatalf("%d mails (%v), want 6 with links", len(mails), kinds)
			}
		})
	}
}

// urlsIn finds the absolute http(s) URLs in a mail part (text or HTML).
func urlsIn(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(" \t\r\n\"'<>()", r) }) {
		if i := strings.Index(f, "http://"); i >= 0 {
			out = append(out, f[i:])
		} else if i := strings.Index(f, "https://"); i >= 0 {
			out = append(out, f[i:])
		}
	}
	return out
}

// Sign-in has no redirect target: a next/redirect/return_to parameter is
// ignored (query) or refused (body), the answer is never a redirect and
// names no other site. (The sign-in page, built with the portal pages,
// must keep its own redirect after sign-in to local paths; see SECURITY.md.)
func TestSecuritySignInHasNoOpenRedirect(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.sendHostHeader()
	creds := map[string]string{"email": e.addr("owner"), "password": ownerPassword}
	for _, q := range []string{"?next=https://evil.example/", "?redirect=//evil.example", "?return_to=https:%2F%2Fevil.example", "?redirect_uri=javascript:alert(1)"} {
		r := e.wantWrite(e.do(req{Method: "POST", Path: "/session" + q, Body: creds, Header: forgedHost}), 200)
		if loc := r.Header.Get("Location"); loc != "" || strings.Contains(string(r.Raw), "evil") {
			t.Errorf("sign-in %s: Location %q, body %s", q, loc, r.Raw)
		}
	}
	for _, field := range []string{"next", "redirect", "returnTo"} {
		body := map[string]string{"email": e.addr("owner"), "password": ownerPassword, field: "https://evil.example/"}
		r := e.want(e.do(req{Method: "POST", Path: "/session", Body: body}), http.StatusBadRequest, "malformed_json")
		if r.Header.Get("Location") != "" || r.Header.Get("Set-Cookie") != "" {
			t.Errorf("sign-in with %s: %v", field, r.Header)
		}
	}
}
