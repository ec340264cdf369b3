package tokens

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"
)

// FuzzParseToken feeds arbitrary strings to the parser and to Verify, as a
// client on the network could: neither may panic, every failure is
// ErrInvalidToken, and whatever parses is the one canonical spelling of
// its fields.
func FuzzParseToken(f *testing.F) {
	kr, err := NewKeyring(Key{Secret: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range Purposes() {
		tok, err := kr.Issue(p, "0b6f5a3e-9d5c-4a47-8f0e-7c1d2b3a4e5f", 1)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
	}
	long, _ := kr.Issue(PurposeInvitation, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1<<31-1)
	f.Add(long)
	f.Add("")
	f.Add("A")
	f.Add("AQ")
	f.Add("AQAAAAABAQ")
	f.Add("=====")
	f.Add("\x00\xff")
	// A non-minimal varint for generation 1 (0x81 0x00).
	f.Add(base64.RawURLEncoding.EncodeToString(append([]byte{1, 0, 0, 0, 0, 0x81, 0x00, 1, 'a'}, make([]byte, macLen)...)))
	// A generation varint that overflows.
	f.Add(base64.RawURLEncoding.EncodeToString(append([]byte{1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 1, 'a'}, make([]byte, macLen)...)))

	f.Fuzz(func(t *testing.T, token string) {
		fl, sum, err := parse(token)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("parse error %v is not ErrInvalidToken", err)
			}
		} else if again := encode(fl, sum); again != token {
			t.Fatalf("parsed %q but it encodes as %q: not canonical", token, again)
		}
		for _, p := range Purposes() {
			id, gen, err := kr.Verify(token, p)
			if err != nil {
				if !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("verify error %v is not ErrInvalidToken", err)
				}
				continue
			}
			if re, _ := kr.Issue(p, id, gen); re != token {
				t.Fatalf("verified %q for (%s, %s, %d), which issues as %q", token, p, id, gen, re)
			}
		}
	})
}
