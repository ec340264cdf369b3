package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// Through the public join route, with a link restricted to the
// organization's domain, no crafted address gets a registration started:
// each is refused as invalid (400) or not allowed (403), and nothing is
// written (no position).
func TestSecurityJoinAllowlistBypassesRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner := e.ownerToken()
	d := e.domain // e.g. "d1a2b3c4d5e6.test"
	label, tld, _ := strings.Cut(d, ".")
	r := e.wantWrite(e.do(req{Method: "PUT", Path: "/orgs/" + e.org + "/self-service-link", Token: owner,
		Body: map[string]any{"enabled": true, "allowedDomains": []string{strings.ToUpper(d) + "."}}}), 200)
	if got := r.Body["allowedDomains"].([]any); len(got) != 1 || got[0] != d {
		t.Fatalf("allowlist stored as %v", got)
	}
	link := strings.TrimPrefix(r.str("url"), publicURL+"/join/")
	join := func(email string) reply {
		return e.do(req{Method: "POST", Path: "/join/" + link, Body: map[string]string{"email": email, "name": "Mallory", "password": goodPassword}})
	}

	cyrillic := strings.Replace(label, "d", "\u0501", 1) // Cyrillic ԁ
	for _, addr := range []string{
		"mallory@evil-" + d,
		"mallory@evil" + d,
		"mallory@" + d + ".evil.io",
		"mallory@" + d + ".evil.io.",
		"mallory@" + d + "@evil.io",
		d + "@evil.io",
		"mallory@EVIL.IO",
		"mallory@" + cyrillic + "." + tld,
		"mallory@xn--" + label + "-4nf." + tld,
		"mallory@" + label + "\u3002" + tld,
		"mallory@" + d + "\u200b",
		"mallory@" + d + "..",
		"mallory@sub." + d,
		"\"mallory@evil.io\"@" + d,
		"mallory@" + d + "%evil.io",
	} {
		r := join(addr)
		switch {
		case r.Status == http.StatusForbidden && r.str("code") == "email_domain_not_allowed":
		case r.Status == http.StatusBadRequest && (r.str("code") == "invalid_email" || r.str("code") == "validation_failed"):
		default:
			t.Errorf("join as %q: %d %s; want 403 email_domain_not_allowed or 400", addr, r.Status, r.Raw)
		}
		if r.Header.Get("X-Consistency-Token") != "" {
			t.Errorf("join as %q wrote something", addr)
		}
	}
	// The organization's own domain, in any case and fully qualified.
	for _, addr := range []string{"ann@" + d, "Bob@" + strings.ToUpper(d), "cy@" + d + "."} {
		e.wantWrite(join(addr), http.StatusAccepted)
	}
}
