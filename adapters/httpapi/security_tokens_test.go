package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/mail"
)

var mailLink = regexp.MustCompile(regexp.QuoteMeta(publicURL) + `(/[a-z-]+)/([A-Za-z0-9_-]+)`)

// linkIn returns the token of the one link to path in the mails (text and
// HTML parts must agree), failing the test when there is not exactly one.
func linkIn(t *testing.T, mails []mail.Message, path string) string {
	t.Helper()
	found := map[string]bool{}
	for _, m := range mails {
		for _, part := range []string{m.Text, m.HTML} {
			for _, sub := range mailLink.FindAllStringSubmatch(part, -1) {
				if sub[1] == path {
					found[sub[2]] = true
				}
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s link in %d mails, found %d: %+v", path, len(mails), len(found), mails)
	}
	for tok := range found {
		return tok
	}
	return ""
}

// needles are the forms a leaked token could take: the token, and its MAC
// (the secret part) as raw bytes, base64 and hex.
func needles(token string) (text []string, binary [][]byte) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < 16 {
		return []string{token}, nil
	}
	mac := raw[len(raw)-16:]
	return []string{token, base64.RawURLEncoding.EncodeToString(mac), base64.StdEncoding.EncodeToString(mac), hex.EncodeToString(mac)}, [][]byte{mac}
}

// After every flow that hands out a token (invitation and its resend,
// acceptance, self-service link and its rotation, registration and
// verification, manual add and first password, password reset, sign-in),
// with the real mail reactor rendering the mails, none of the tokens from
// the mails and the API's answers appears anywhere in the event store
// ($all, read through the official client: data, metadata, types, stream
// names), nor in the log of the API and the reactor; nor do the passwords.
func TestSecurityNoRawTokensStoredOrLogged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reactor, out := e.mailer()
	var tokens []string
	keep := func(tok string) string { tokens = append(tokens, tok); return tok }
	owner := keep(e.ownerToken())

	// Invitation, resent (the first link dies), accepted from the mail.
	invitation := e.invite(owner, e.addr("ivy"), "admin")[0]["invitationId"].(string)
	first := keep(linkIn(t, e.deliver(reactor, out, domain.InvitationStream(domain.InvitationID(invitation))), "/invite"))
	e.wantWrite(e.do(req{Method: "POST", Path: "/orgs/" + e.org + "/invitations/" + invitation + "/resend", Token: owner}), 200)
	second := keep(linkIn(t, e.deliver(reactor, out, domain.InvitationStream(domain.InvitationID(invitation))), "/invite"))
	if first == second {
		t.Fatal("the resend mailed the same link")
	}
	e.want(e.do(req{Method: "POST", Path: "/invitations/" + first + "/accept", Body: map[string]string{"name": "Ivy", "password": goodPassword}}), 410, "invitation_superseded")
	ivy := e.wantWrite(e.do(req{Method: "POST", Path: "/invitations/" + second + "/accept", Body: map[string]string{"name": "Ivy", "password": goodPassword}}), 201).str("userId")

	// Self-service: the link's URL, a rotation, a registration verified
	// from its mail.
	link := e.want(e.do(req{Method: "GET", Path: "/orgs/" + e.org + "/self-service-link", Token: owner}), 200, "").str("url")
	keep(strings.TrimPrefix(link, publicURL+"/join/"))
	link = e.wantWrite(e.do(req{Method: "POST", Path: "/orgs/" + e.org + "/self-service-link/rotate", Token: owner}), 200).str("url")
	joinToken := keep(strings.TrimPrefix(link, publicURL+"/join/"))
	reg := e.wantWrite(e.do(req{Method: "POST", Path: "/join/" + joinToken, Body: map[string]string{"email": e.addr("reg"), "name": "Reg", "password": goodPassword}}), 202).str("registrationId")
	verification := keep(linkIn(t, e.deliver(reactor, out, domain.RegistrationStream(domain.RegistrationID(reg))), "/verify"))
	e.wantWrite(e.do(req{Method: "POST", Path: "/verify/" + verification}), 201)

	// Manual add: the first password through the mailed link.
	dave := e.wantWrite(e.do(req{Method: "POST", Path: "/orgs/" + e.org + "/users", Token: owner, Body: map[string]string{"email": e.addr("dave"), "name": "Dave", "role": "member"}}), 201).str("userId")
	setup := keep(linkIn(t, e.deliver(reactor, out, domain.UserStream(domain.UserID(dave))), "/set-password"))
	e.wantWrite(e.do(req{Method: "POST", Path: "/set-password/" + setup, Body: map[string]string{"password": goodPassword}}), 200)

	// Password reset from the mail, then sign-in with the new password.
	e.want(e.do(req{Method: "POST", Path: "/password-reset", Body: map[string]string{"email": e.addr("ivy")}}), 202, "")
	reset := keep(linkIn(t, e.deliver(reactor, out, domain.UserStream(domain.UserID(ivy))), "/reset-password"))
	e.wantWrite(e.do(req{Method: "POST", Path: "/password-reset/" + reset, Body: map[string]string{"password": "a brand new passphrase"}}), 200)
	keep(e.signIn(e.addr("ivy"), "a brand new passphrase"))
	keep(e.signIn(e.addr("reg"), goodPassword))
	keep(e.signIn(e.addr("dave"), goodPassword))
	if len(tokens) != 11 {
		t.Fatalf("%d tokens collected", len(tokens))
	}
	// Passwords are secrets too: only their hashes may be stored.
	passwords := []string{ownerPassword, goodPassword, "a brand new passphrase"}

	// The event store: every event of $all.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream, err := sharedConn.Client().ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Forwards, From: esdb.Start{}}, 1<<40)
	must(t, err)
	defer stream.Close()
	events, ours := 0, 0
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		must(t, err)
		rec := ev.Event
		if rec == nil {
			continue
		}
		events++
		if bytes.Contains(rec.Data, []byte(e.org)) {
			ours++
		}
		for _, pw := range passwords {
			for _, field := range [][]byte{rec.Data, rec.UserMetadata} {
				if bytes.Contains(field, []byte(pw)) {
					t.Errorf("event %d of %s (%s) contains a password", rec.EventNumber, rec.StreamID, rec.EventType)
				}
			}
		}
		for _, tok := range tokens {
			text, binary := needles(tok)
			for _, field := range [][]byte{rec.Data, rec.UserMetadata, []byte(rec.EventType), []byte(rec.StreamID)} {
				for _, n := range text {
					if bytes.Contains(field, []byte(n)) {
						t.Errorf("event %d of %s (%s) contains a token: %s", rec.EventNumber, rec.StreamID, rec.EventType, field)
					}
				}
				for _, n := range binary {
					if bytes.Contains(field, n) {
						t.Errorf("event %d of %s (%s) contains a token's MAC bytes", rec.EventNumber, rec.StreamID, rec.EventType)
					}
				}
			}
		}
	}
	if ours < 20 {
		t.Fatalf("read %d events, only %d of this organization: the search looked in the wrong place", events, ours)
	}

	// The log of the API and the mail reactor.
	logs := e.logs.String()
	if !strings.Contains(logs, `"route":"/api/v1/verify/:token"`) {
		t.Fatalf("the log is not the API's: %.500s", logs)
	}
	for _, tok := range tokens {
		text, _ := needles(tok)
		for _, n := range text {
			if strings.Contains(logs, n) {
				t.Errorf("the log contains a token (%.8s…)", n)
			}
		}
	}
	for _, pw := range passwords {
		if strings.Contains(logs, pw) {
			t.Errorf("the log contains a password")
		}
	}
	// Nor do the mails' stable keys and Message-IDs, which the outbox uses
	// as file names and the SMTP server logs.
	for _, m := range out.all() {
		for _, tok := range tokens {
			if strings.Contains(m.Key, tok) || strings.Contains(m.MessageID, tok) {
				t.Errorf("mail %s carries a token in its key or Message-ID", m.Key)
			}
		}
	}
}
