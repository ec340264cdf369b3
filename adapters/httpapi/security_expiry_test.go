package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orgportal/onboarding/domain"
)

// Password-reset links work once, for one hour, and only the newest one;
// every dead link answers 410 with a code saying why.
func TestSecurityPasswordResetTokensAreSingleUseAndExpire(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner := e.ownerToken()
	user := e.member(owner, "rita", "member")
	requestReset := func() string {
		e.want(e.do(req{Method: "POST", Path: "/password-reset", Body: map[string]string{"email": e.addr("rita")}}), 202, "")
		return e.passwordResetToken(user)
	}
	complete := func(token, password string) reply {
		return e.do(req{Method: "POST", Path: "/password-reset/" + token, Body: map[string]string{"password": password}})
	}

	// Used: once.
	tok := requestReset()
	e.wantWrite(complete(tok, "first new passphrase"), 200)
	e.want(complete(tok, "second new passphrase"), http.StatusGone, "password_token_used")
	e.signIn(e.addr("rita"), "first new passphrase")

	// Superseded by a newer request.
	older := requestReset()
	newer := requestReset()
	e.want(complete(older, "older link passphrase"), http.StatusGone, "password_token_superseded")

	// Expired: valid one second before the hour, dead at the hour.
	e.clock.Advance(time.Hour - time.Second)
	e.wantWrite(complete(newer, "just in time passphrase"), 200)
	late := requestReset()
	e.clock.Advance(time.Hour)
	e.want(complete(late, "too late passphrase"), http.StatusGone, "password_token_expired")
	e.signIn(e.addr("rita"), "just in time passphrase")

	// A reset link is not a set-password link, nor the other way round.
	fresh := requestReset()
	e.want(e.do(req{Method: "POST", Path: "/set-password/" + fresh, Body: map[string]string{"password": "cross purpose phrase"}}), http.StatusNotFound, "password_token_invalid")
}

// The first-password link of a manually added member works once.
func TestSecurityPasswordSetupTokensAreSingleUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner := e.ownerToken()
	dave := e.wantWrite(e.do(req{Method: "POST", Path: "/orgs/" + e.org + "/users", Token: owner, Body: map[string]string{"email": e.addr("dave"), "name": "Dave", "role": "member"}}), 201).str("userId")
	tok := e.passwordSetupToken(dave)
	e.wantWrite(e.do(req{Method: "POST", Path: "/set-password/" + tok, Body: map[string]string{"password": goodPassword}}), 200)
	e.want(e.do(req{Method: "POST", Path: "/set-password/" + tok, Body: map[string]string{"password": "someone else's phrase"}}), http.StatusGone, "password_token_used")
	e.signIn(e.addr("dave"), goodPassword)
}

// A verification link makes one member, once: used again it answers 410,
// also after the member was removed (it must not bring them back), and it
// dies when its validity ends.
func TestSecurityVerificationTokensAreSingleUseAndExpire(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner := e.ownerToken()
	link := strings.TrimPrefix(e.want(e.do(req{Method: "GET", Path: "/orgs/" + e.org + "/self-service-link", Token: owner}), 200, "").str("url"), publicURL+"/join/")
	register := func(local string) string {
		r := e.wantWrite(e.do(req{Method: "POST", Path: "/join/" + link, Body: map[string]string{"email": e.addr(local), "name": local, "password": goodPassword}}), 202)
		return e.verificationToken(r.str("registrationId"))
	}
	verify := func(token string) reply { return e.do(req{Method: "POST", Path: "/verify/" + token}) }

	tok := register("vera")
	vera := e.wantWrite(verify(tok), 201).str("userId")
	e.want(verify(tok), http.StatusGone, "verification_already_used")

	// Removed, the old link does not make her a member again.
	e.wantWrite(e.do(req{Method: "DELETE", Path: "/orgs/" + e.org + "/users/" + vera, Token: owner}), 200)
	e.want(verify(tok), http.StatusGone, "verification_already_used")
	org := domain.Fold(domain.OrganizationState{}, domain.EvolveOrganization, e.events(domain.OrganizationStream(domain.OrgID(e.org)))...)
	if _, ok := org.Member(domain.UserID(vera)); ok {
		t.Fatal("a used verification link brought a removed member back")
	}
	e.want(e.do(req{Method: "POST", Path: "/session", Body: map[string]string{"email": e.addr("vera"), "password": goodPassword}}), http.StatusUnauthorized, "invalid_credentials")

	// Expired after its validity (24 hours by default).
	late := register("late")
	e.clock.Advance(domain.DefaultVerificationTTL)
	e.want(verify(late), http.StatusGone, "verification_expired")
}

// An invitation link works once and dies when it expires.
func TestSecurityInvitationTokensAreSingleUseAndExpire(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner := e.ownerToken()
	accept := func(token string) reply {
		return e.do(req{Method: "POST", Path: "/invitations/" + token + "/accept", Body: map[string]string{"name": "N", "password": goodPassword}})
	}
	used := e.invitationToken(e.invite(owner, e.addr("once"), "")[0]["invitationId"].(string))
	e.wantWrite(accept(used), 201)
	e.want(accept(used), http.StatusGone, "invitation_already_accepted")

	expiring := e.invitationToken(e.invite(owner, e.addr("late"), "")[0]["invitationId"].(string))
	e.clock.Advance(domain.DefaultInvitationTTL)
	e.want(accept(expiring), http.StatusGone, "invitation_expired")
}
