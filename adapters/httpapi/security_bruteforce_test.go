package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/httpapi"
	"github.com/orgportal/onboarding/adapters/ratelimit"
	"github.com/orgportal/onboarding/cmd/portal/config"
)

// bruteForceCeiling is what "well under 100 consecutive failures" means
// here: no series of wrong guesses gets this far before a 429.
const bruteForceCeiling = 50

// behindProxy is the env's API with the portal's default limits, behind a
// trusted reverse proxy (PORTAL_TRUSTED_PROXIES=127.0.0.1), so that each
// request can come from a client address of its own (X-Forwarded-For), as
// a distributed attacker's would.
func (e *env) behindProxy() *env {
	e.t.Helper()
	client, err := ratelimit.ParseRate(config.DefaultRateLimitClient)
	must(e.t, err)
	subject, err := ratelimit.ParseRate(config.DefaultRateLimitSubject)
	must(e.t, err)
	api, err := httpapi.New(httpapi.Deps{Commands: e.h, Clock: e.clock.Now, Logger: e.logger(),
		Limits: ratelimit.New(ratelimit.Config{Client: client, Subject: subject})})
	must(e.t, err)
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	must(e.t, r.SetTrustedProxies([]string{"127.0.0.1"}))
	api.Mount(r)
	c := *e
	c.srv = httptest.NewServer(r)
	e.t.Cleanup(c.srv.Close)
	return &c
}

// failuresUntilThrottled sends attempts until one is answered 429 and
// returns how many were refused otherwise before it; it fails the test
// when none is throttled within bruteForceCeiling, or when the 429 lacks
// a usable Retry-After.
func failuresUntilThrottled(t *testing.T, what string, attempt func(i int) reply) int {
	t.Helper()
	for i := range bruteForceCeiling {
		r := attempt(i)
		if r.Status == http.StatusTooManyRequests {
			if r.str("code") != httpapi.CodeRateLimited {
				t.Errorf("%s: 429 with code %q", what, r.str("code"))
			}
			if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 {
				t.Errorf("%s: Retry-After %q", what, r.Header.Get("Retry-After"))
			}
			// Still throttled on the next try: failures do not reset it.
			if again := attempt(i + 1); again.Status != http.StatusTooManyRequests {
				t.Errorf("%s: the attempt after a 429 answered %d", what, again.Status)
			}
			return i
		}
		if r.Status < 400 || r.Status >= 500 {
			t.Fatalf("%s: attempt %d answered %d %s; want a refusal", what, i+1, r.Status, r.Raw)
		}
	}
	t.Errorf("%s: %d wrong guesses in a row, none throttled", what, bruteForceCeiling)
	return bruteForceCeiling
}

func from(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }

func spreadIP(i int) string { return fmt.Sprintf("198.51.%d.%d", i/250, i%250+1) }

// With the portal's default limits, wrong passwords and wrong tokens are
// throttled per client address and per account (address or token), each
// well before bruteForceCeiling failures in a row.
func TestSecurityBruteForceIsThrottled(t *testing.T) {
	t.Parallel()
	e := newEnv(t).behindProxy()
	owner := e.addr("owner")
	wrongPassword := func(email, ip string) reply {
		return e.do(req{Method: "POST", Path: "/session", Header: from(ip), Body: map[string]string{"email": email, "password": "guess guess guess"}})
	}

	// One account, guesses from everywhere: the account's budget.
	n := failuresUntilThrottled(t, "passwords for one account from many addresses", func(i int) reply { return wrongPassword(owner, spreadIP(i)) })
	t.Logf("passwords per account: %d failures, then 429", n)
	// Another account is not affected.
	e.want(wrongPassword(e.addr("someone-else"), "203.0.113.200"), http.StatusUnauthorized, "invalid_credentials")

	// One client address, a different account each time: the client's budget.
	n = failuresUntilThrottled(t, "passwords from one address for many accounts", func(i int) reply {
		return wrongPassword(e.addr(fmt.Sprintf("victim%d", i)), "203.0.113.7")
	})
	t.Logf("passwords per client address: %d failures, then 429", n)

	// Tokens: every public route that takes one. Guesses of many tokens
	// from one address hit the client's budget. Routes that act on a token
	// also limit each token (one link cannot be hammered from many
	// addresses); guessing across addresses is what the 128-bit MAC is for
	// (see SECURITY.md), a per-account budget keyed by the id a forged
	// token claims would let anyone lock a person out of their link.
	for _, rt := range []struct {
		method, path string
		body         any
		perToken     bool
	}{
		{"GET", "/invitations/%s", nil, false},
		{"POST", "/invitations/%s/accept", map[string]string{"name": "Mallory", "password": goodPassword}, true},
		{"GET", "/join/%s", nil, false},
		{"POST", "/join/%s", map[string]string{"email": "m@evil.example", "name": "Mallory", "password": goodPassword}, true},
		{"POST", "/verify/%s", nil, true},
		{"POST", "/password-reset/%s", map[string]string{"password": goodPassword}, true},
		{"POST", "/set-password/%s", map[string]string{"password": goodPassword}, true},
	} {
		guess := func(token, ip string) reply {
			body := rt.body
			if m, ok := body.(map[string]string); ok && m["email"] != "" {
				// A new address each time: the address has a budget too.
				body = map[string]string{"email": randomHex(4) + "@evil.example", "name": m["name"], "password": m["password"]}
			}
			return e.do(req{Method: rt.method, Path: fmt.Sprintf(rt.path, token), Header: from(ip), Body: body})
		}
		perToken := 0
		if rt.perToken {
			fixed := forgeToken(t, "aaaaaaaa-0000-4000-8000-"+randomHex(6))
			perToken = failuresUntilThrottled(t, rt.method+" "+rt.path+" one token from many addresses", func(i int) reply { return guess(fixed, spreadIP(1000+i)) })
		}
		ip := "192.0.2." + strconv.Itoa(len(rt.path)+len(rt.method))
		n := failuresUntilThrottled(t, rt.method+" "+rt.path+" many tokens from one address", func(i int) reply {
			return guess(forgeToken(t, fmt.Sprintf("bbbbbbbb-0000-4000-8000-%012d", i)), ip)
		})
		t.Logf("%s %s: %d failures per token, %d per client address", rt.method, rt.path, perToken, n)
	}
}
