package tokens_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/orgportal/onboarding/adapters/tokens"
)

func newKey(t *testing.T, fill byte) tokens.Key {
	t.Helper()
	return tokens.Key{Secret: bytes.Repeat([]byte{fill}, 32)}
}

func newKeyring(t *testing.T, keys ...tokens.Key) *tokens.Keyring {
	t.Helper()
	kr, err := tokens.NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func issue(t *testing.T, kr *tokens.Keyring, p tokens.Purpose, id string, gen int) string {
	t.Helper()
	tok, err := kr.Issue(p, id, gen)
	if err != nil {
		t.Fatalf("issue(%s, %s, %d): %v", p, id, gen, err)
	}
	return tok
}

func TestIssueAndVerifyEveryPurpose(t *testing.T) {
	kr := newKeyring(t, newKey(t, 1))
	id := uuid.NewString()
	for _, p := range tokens.Purposes() {
		for _, gen := range []int{1, 2, 127, 128, 1 << 20, 1<<31 - 1} {
			tok := issue(t, kr, p, id, gen)
			if len(tok) > 100 {
				t.Errorf("token for a UUID is %d characters, want ≤ 100", len(tok))
			}
			if strings.ContainsAny(tok, "+/=") {
				t.Errorf("token %q is not URL-safe", tok)
			}
			gotID, gotGen, err := kr.Verify(tok, p)
			if err != nil || gotID != id || gotGen != gen {
				t.Errorf("verify(%s gen %d) = %q, %d, %v", p, gen, gotID, gotGen, err)
			}
			// Deterministic: the same inputs give the same token, so a
			// mail can be re-sent without storing anything.
			if again := issue(t, kr, p, id, gen); again != tok {
				t.Errorf("issuing twice gave %q and %q", tok, again)
			}
		}
	}
	if tok := issue(t, kr, tokens.PurposeInvitation, id, 1); len(tok) != 79 {
		t.Errorf("token for a UUID at generation 1 is %d characters, documented 79", len(tok))
	}
}

func TestTokenOfOnePurposeFailsForAnother(t *testing.T) {
	kr := newKeyring(t, newKey(t, 1))
	for _, issued := range tokens.Purposes() {
		tok := issue(t, kr, issued, "org-1", 3)
		for _, other := range tokens.Purposes() {
			if other == issued {
				continue
			}
			if _, _, err := kr.Verify(tok, other); !errors.Is(err, tokens.ErrInvalidToken) {
				t.Errorf("%s token verified as %s: err = %v", issued, other, err)
			}
		}
	}
	if _, _, err := kr.Verify(issue(t, kr, tokens.PurposeInvitation, "x", 1), tokens.Purpose("admin")); err == nil {
		t.Error("verify accepted an unknown purpose")
	}
}

// Generations are what kill old tokens: each has its own token, and
// editing the generation in a token breaks it.
func TestGenerationIsBoundToTheToken(t *testing.T) {
	kr := newKeyring(t, newKey(t, 1))
	old := issue(t, kr, tokens.PurposeSelfServiceLink, "org-1", 1)
	cur := issue(t, kr, tokens.PurposeSelfServiceLink, "org-1", 2)
	if old == cur {
		t.Fatal("two generations share a token")
	}
	_, gen, err := kr.Verify(old, tokens.PurposeSelfServiceLink)
	if err != nil || gen != 1 {
		t.Fatalf("old token: gen %d, err %v; want 1 (the aggregate decides it is outdated)", gen, err)
	}
	// Rewrite the clear generation byte of the old token to 2.
	raw, _ := base64.RawURLEncoding.DecodeString(old)
	raw[5] = 2
	forged := base64.RawURLEncoding.EncodeToString(raw)
	if _, _, err := kr.Verify(forged, tokens.PurposeSelfServiceLink); !errors.Is(err, tokens.ErrInvalidToken) {
		t.Errorf("token with an edited generation verified: %v", err)
	}
	// Same for the id.
	raw, _ = base64.RawURLEncoding.DecodeString(old)
	raw[7] = 'p'
	forged = base64.RawURLEncoding.EncodeToString(raw)
	if _, _, err := kr.Verify(forged, tokens.PurposeSelfServiceLink); !errors.Is(err, tokens.ErrInvalidToken) {
		t.Errorf("token with an edited id verified: %v", err)
	}
}

func TestTamperedTokensFail(t *testing.T) {
	kr := newKeyring(t, newKey(t, 1))
	tok := issue(t, kr, tokens.PurposeInvitation, uuid.NewString(), 5)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range len(tok) {
		for _, c := range []byte{alphabet[(strings.IndexByte(alphabet, tok[i])+1)%64], alphabet[(strings.IndexByte(alphabet, tok[i])+33)%64]} {
			bad := tok[:i] + string(c) + tok[i+1:]
			if _, _, err := kr.Verify(bad, tokens.PurposeInvitation); !errors.Is(err, tokens.ErrInvalidToken) {
				t.Errorf("token changed at %d verified: %v", i, err)
			}
		}
	}
	for name, bad := range map[string]string{
		"truncated":      tok[:len(tok)-1],
		"extended":       tok + "A",
		"padded":         tok + "=",
		"with newline":   tok[:10] + "\n" + tok[10:],
		"standard b64":   strings.NewReplacer("-", "+", "_", "/").Replace(tok) + "+",
		"empty":          "",
		"huge":           strings.Repeat("A", 10_000),
		"mac only":       tok[len(tok)-22:],
		"spaces trimmed": " " + tok,
	} {
		if _, _, err := kr.Verify(bad, tokens.PurposeInvitation); !errors.Is(err, tokens.ErrInvalidToken) {
			t.Errorf("%s token verified: %v", name, err)
		}
	}
}

// Errors go into logs; the token must not.
func TestErrorsDoNotContainTheToken(t *testing.T) {
	kr := newKeyring(t, newKey(t, 1))
	tok := issue(t, kr, tokens.PurposeInvitation, "inv-1", 1)
	other := newKeyring(t, newKey(t, 2))
	for _, try := range []func() error{
		func() error { _, _, err := kr.Verify(tok, tokens.PurposeVerification); return err },
		func() error { _, _, err := other.Verify(tok, tokens.PurposeInvitation); return err },
		func() error { _, _, err := kr.Verify(tok[:30], tokens.PurposeInvitation); return err },
	} {
		err := try()
		if err == nil {
			t.Fatal("verified")
		}
		if strings.Contains(err.Error(), tok[:12]) || strings.Contains(err.Error(), tok[len(tok)-12:]) {
			t.Errorf("error %q contains the token", err)
		}
	}
}

func TestIssueRejectsBadInput(t *testing.T) {
	kr := newKeyring(t, newKey(t, 1))
	for name, try := range map[string]func() error{
		"unknown purpose": func() error { _, err := kr.Issue("api-key", "a", 1); return err },
		"empty id":        func() error { _, err := kr.Issue(tokens.PurposeInvitation, "", 1); return err },
		"long id":         func() error { _, err := kr.Issue(tokens.PurposeInvitation, strings.Repeat("a", 65), 1); return err },
		"odd id":          func() error { _, err := kr.Issue(tokens.PurposeInvitation, "a/b", 1); return err },
		"generation 0":    func() error { _, err := kr.Issue(tokens.PurposeInvitation, "a", 0); return err },
		"negative":        func() error { _, err := kr.Issue(tokens.PurposeInvitation, "a", -1); return err },
		"generation 2^31": func() error { _, err := kr.Issue(tokens.PurposeInvitation, "a", 1<<31); return err },
	} {
		if try() == nil {
			t.Errorf("%s: issued", name)
		}
	}
	if tok, err := kr.Issue(tokens.PurposeInvitation, strings.Repeat("a", 64), 1<<31-1); err != nil || len(tok) > 128 {
		t.Errorf("longest token: %d characters, err %v", len(tok), err)
	}
}

func TestKeyRotation(t *testing.T) {
	k1, k2 := newKey(t, 1), newKey(t, 2)
	before := newKeyring(t, k1)
	oldTok := issue(t, before, tokens.PurposePasswordReset, "user-1", 1)

	during := newKeyring(t, k2, k1) // newest first
	if during.SigningKeyID() != tokens.KeyID(k2.Secret) {
		t.Errorf("signing key = %s, want the newest %s", during.SigningKeyID(), tokens.KeyID(k2.Secret))
	}
	if _, _, err := during.Verify(oldTok, tokens.PurposePasswordReset); err != nil {
		t.Errorf("token of the older key no longer verifies during rotation: %v", err)
	}
	newTok := issue(t, during, tokens.PurposePasswordReset, "user-1", 1)
	if newTok == oldTok {
		t.Error("new key issued the old key's token")
	}
	if _, _, err := before.Verify(newTok, tokens.PurposePasswordReset); !errors.Is(err, tokens.ErrInvalidToken) {
		t.Errorf("keyring without the new key accepted its token: %v", err)
	}

	after := newKeyring(t, k2) // old key retired
	if _, _, err := after.Verify(oldTok, tokens.PurposePasswordReset); !errors.Is(err, tokens.ErrInvalidToken) {
		t.Errorf("retired key's token still verifies: %v", err)
	}
	if _, _, err := after.Verify(newTok, tokens.PurposePasswordReset); err != nil {
		t.Errorf("current token: %v", err)
	}
	if got := during.KeyIDs(); len(got) != 2 || got[0] != tokens.KeyID(k2.Secret) {
		t.Errorf("key ids = %v", got)
	}
}

func TestNewKeyringRejectsBadKeys(t *testing.T) {
	if _, err := tokens.NewKeyring(); err == nil {
		t.Error("empty keyring built")
	}
	if _, err := tokens.NewKeyring(tokens.Key{Secret: make([]byte, 16)}); err == nil {
		t.Error("16-byte key accepted")
	}
	if _, err := tokens.NewKeyring(newKey(t, 1), newKey(t, 1)); err == nil {
		t.Error("duplicate key accepted")
	}
	if _, err := tokens.NewKeyring(tokens.Key{ID: "00000000", Secret: newKey(t, 1).Secret}); err == nil {
		t.Error("key with a wrong id label accepted")
	}
}

func TestSignerBindsOnePurpose(t *testing.T) {
	kr := newKeyring(t, newKey(t, 1))
	inv, err := kr.For(tokens.PurposeInvitation)
	if err != nil {
		t.Fatal(err)
	}
	ver, err := kr.For(tokens.PurposeVerification)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := inv.Issue("inv-1", 4)
	if err != nil {
		t.Fatal(err)
	}
	if id, gen, err := inv.Verify(tok); err != nil || id != "inv-1" || gen != 4 {
		t.Errorf("signer verify = %q %d %v", id, gen, err)
	}
	if _, _, err := ver.Verify(tok); !errors.Is(err, tokens.ErrInvalidToken) {
		t.Errorf("verification signer accepted an invitation token: %v", err)
	}
	if _, err := kr.For("api-key"); err == nil {
		t.Error("For accepted an unknown purpose")
	}
	// The signer satisfies a port declared with built-in types only.
	var _ interface {
		Issue(aggregateID string, generation int) (string, error)
		Verify(token string) (string, int, error)
	} = inv
}

func TestCommandSignersBindEachPurpose(t *testing.T) {
	kr, err := tokens.NewKeyring(newKey(t, 7))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := kr.CommandSigners()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Invitation.Issue("inv-1", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ts.Invitation.Verify(tok); err != nil {
		t.Fatalf("invitation signer rejects its own token: %v", err)
	}
	for name, s := range map[string]interface {
		Verify(string) (string, int, error)
	}{"self-service link": ts.SelfServiceLink, "verification": ts.Verification, "password setup": ts.PasswordSetup, "password reset": ts.PasswordReset, "session": ts.Session} {
		if _, _, err := s.Verify(tok); err == nil {
			t.Errorf("%s signer accepted an invitation token", name)
		}
	}
}
