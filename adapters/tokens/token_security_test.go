package tokens_test

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/tokens"
)

// decoded is a token read by the layout the package documents, without
// the package's own parser: the test checks the documentation too.
type decoded struct {
	version    byte
	keyID      []byte
	generation uint64
	id         string
	mac        []byte
}

func decodeDocumented(t *testing.T, token string) decoded {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		t.Fatalf("token %q is not unpadded base64url: %v", token, err)
	}
	var d decoded
	d.version, raw = raw[0], raw[1:]
	d.keyID, raw = raw[:4], raw[4:]
	gen, n := binary.Uvarint(raw)
	if n <= 0 {
		t.Fatalf("token %q: no generation varint", token)
	}
	d.generation, raw = gen, raw[n:]
	idLen := int(raw[0])
	d.id, d.mac = string(raw[1:1+idLen]), raw[1+idLen:]
	return d
}

// Every token's secret part is an HMAC-SHA256 of at least 128 bits under a
// server key of at least 256 bits from crypto/rand: guessing one means
// guessing 2^128 values. The rest (version, key id, generation, the
// aggregate id) is public by design and counts for nothing.
func TestSecurityTokenEntropy(t *testing.T) {
	key, err := tokens.NewKey(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(key.Secret)*8 < 256 {
		t.Fatalf("a new server key has %d bits", len(key.Secret)*8)
	}
	if _, err := tokens.NewKeyring(tokens.Key{Secret: make([]byte, 31)}); err == nil {
		t.Fatal("a 248-bit key was accepted")
	}
	kr, err := tokens.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}

	// The MAC bits of many tokens: each bit is set in about half of them
	// (a constant or stuck bit would carry no entropy).
	const samples = 2000
	var ones [16 * 8]int
	for _, purpose := range tokens.Purposes() {
		for i := range samples / len(tokens.Purposes()) {
			id := fmt.Sprintf("0b6f5a3e-9d5c-4a47-8f0e-%012d", i)
			tok, err := kr.Issue(purpose, id, 1+i%3)
			if err != nil {
				t.Fatal(err)
			}
			d := decodeDocumented(t, tok)
			if d.version != 1 || d.id != id || d.generation != uint64(1+i%3) {
				t.Fatalf("token %q decodes as %+v", tok, d)
			}
			if len(d.mac)*8 < 128 {
				t.Fatalf("%s token %q: MAC of %d bits", purpose, tok, len(d.mac)*8)
			}
			for b, byt := range d.mac[:16] {
				for bit := range 8 {
					ones[b*8+bit] += int(byt>>bit) & 1
				}
			}
			// Flipping any one bit of the MAC kills the token.
			flipped := append([]byte(nil), d.mac...)
			flipped[i%len(flipped)] ^= 1 << (i % 8)
			if _, _, err := kr.Verify(reencode(tok, len(d.mac), flipped), purpose); !errors.Is(err, tokens.ErrInvalidToken) {
				t.Fatalf("a token with one MAC bit flipped verified (%v)", err)
			}
		}
	}
	n := samples / len(tokens.Purposes()) * len(tokens.Purposes())
	for i, c := range ones {
		// Binomial(n, 1/2): more than 6 standard deviations off is not chance.
		if sd := 0.5 * math.Sqrt(float64(n)); float64(c) < float64(n)/2-6*sd || float64(c) > float64(n)/2+6*sd {
			t.Errorf("MAC bit %d is set in %d of %d tokens", i, c, n)
		}
	}

	// Tokens of two keys for the same id and generation share no MAC
	// bits beyond chance: the MAC depends on the secret key.
	other, _ := tokens.NewKey(time.Now())
	kr2, err := tokens.NewKeyring(other)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := kr.Issue(tokens.PurposeInvitation, "same-id", 1)
	b, _ := kr2.Issue(tokens.PurposeInvitation, "same-id", 1)
	ma, mb := decodeDocumented(t, a).mac, decodeDocumented(t, b).mac
	same := 0
	for i := range ma {
		same += 8 - bits.OnesCount8(ma[i]^mb[i])
	}
	if same > 100 { // 64 expected of 128
		t.Errorf("MACs under two keys agree in %d of 128 bits", same)
	}
}

func reencode(token string, macLen int, mac []byte) string {
	raw, _ := base64.RawURLEncoding.DecodeString(token)
	return base64.RawURLEncoding.EncodeToString(append(raw[:len(raw)-macLen], mac...))
}
