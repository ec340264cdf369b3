package tokens

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secretsIn are the runs of hex in configured or stored key material long
// enough to matter if echoed (64 bits or more; key ids are 32-bit and
// public): an error message must contain none of them.
func secretsIn(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return !isHexDigit(r) }) {
		if len(f) >= 16 {
			out = append(out, f)
		}
	}
	return out
}

func isHexDigit(r rune) bool {
	return '0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F'
}

func noEcho(t *testing.T, err error, input string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secretsIn(input) {
		if strings.Contains(strings.ToLower(err.Error()), strings.ToLower(s)) {
			t.Fatalf("error echoes key material %q: %v", s, err)
		}
	}
}

// FuzzParseKeys feeds arbitrary PORTAL_TOKEN_KEYS values to ParseKeys and
// NewKeyring, as a misconfiguration could: no panic, no error that echoes
// a secret (it would end up in the start-up log), and what is accepted is
// exactly the hex given, each key at least MinKeyLen bytes.
func FuzzParseKeys(f *testing.F) {
	good := strings.Repeat("ab", MinKeyLen)
	f.Add(good)
	f.Add(good + "," + strings.Repeat("cd", MinKeyLen))
	f.Add(" " + strings.ToUpper(good) + " ,\t" + good)
	f.Add(good + ",")
	f.Add(good[:len(good)-1])
	f.Add(good[:len(good)-2])
	f.Add("0x" + good)
	f.Add(strings.Repeat("zz", MinKeyLen))
	f.Add("")
	f.Add(",,,")
	f.Add("\xff\xfe" + good)

	f.Fuzz(func(t *testing.T, configured string) {
		keys, err := ParseKeys(configured)
		noEcho(t, err, configured)
		if err != nil {
			return
		}
		parts := strings.Split(configured, ",")
		if len(keys) != len(parts) {
			t.Fatalf("%d parts parsed as %d keys", len(parts), len(keys))
		}
		for i, k := range keys {
			if len(k.Secret) < MinKeyLen || hex.EncodeToString(k.Secret) != strings.ToLower(strings.TrimSpace(parts[i])) {
				t.Fatalf("part %d parsed as a %d-byte key that is not its hex", i, len(k.Secret))
			}
		}
		kr, err := NewKeyring(keys...)
		noEcho(t, err, configured)
		if err == nil && kr.SigningKeyID() != KeyID(keys[0].Secret) {
			t.Fatalf("the first key does not sign")
		}
	})
}

// FuzzKeyFile feeds arbitrary contents of the key file to the loader: no
// panic, no error that echoes a secret, and a keyring only from a file
// with at least one valid key.
func FuzzKeyFile(f *testing.F) {
	secret := strings.Repeat("ab", MinKeyLen)
	f.Add(`{"keys":[{"id":"` + KeyID([]byte(strings.Repeat("\xab", MinKeyLen))) + `","secret":"` + secret + `","created":"2025-01-02T03:04:05Z"}]}`)
	f.Add(`{"keys":[{"secret":"` + secret + `"},{"secret":"` + strings.Repeat("cd", MinKeyLen) + `","created":"2030-01-01T00:00:00Z"}]}`)
	f.Add(`{"keys":[{"id":"deadbeef","secret":"` + secret + `"}]}`)
	f.Add(`{"keys":[{"secret":"` + secret[:20] + `"}]}`)
	f.Add(`{"keys":[{"secret":"` + secret + `x"}]}`)
	f.Add(`{"keys":[{"secret":` + secret[:16] + `}]}`)
	f.Add(`{"keys":[]}`)
	f.Add(`{"keys":[{"secret":"` + secret + `"},{"secret":"` + secret + `"}]}`)
	f.Add(`{"keys":[{"secret":"` + secret + `","created":"yesterday"}]}`)
	f.Add(`[]`)
	f.Add(``)
	dir := f.TempDir()
	path := filepath.Join(dir, "token-keys.json")

	f.Fuzz(func(t *testing.T, contents string) {
		if err := os.WriteFile(path, []byte(contents), 0o600); err != nil {
			t.Fatal(err)
		}
		kr, err := loadKeyFile(path)
		noEcho(t, err, contents)
		if err == nil && len(kr.KeyIDs()) == 0 {
			t.Fatal("a keyring without keys")
		}
	})
}

// A key file that does not decode is described without quoting it: a
// value in the wrong field, or of the wrong type, may be a secret.
func TestKeyFileErrorsQuoteNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, KeyFileName)
	const secretish = "0123456789abcdef0123"
	for contents, want := range map[string]string{
		`{"keys":[{"secret":"x","created":"` + secretish + `"}]}`: `"created" time`,
		`{"keys":[{"secret":` + "12345678901234567890" + `}]}`:    "field keys.secret holds a number where a string belongs",
		`{"keys":[{"secret":"` + secretish + `"`:                  "invalid JSON at byte",
		`{"keys":"` + secretish + `"}`:                            "field keys holds a string",
	} {
		if err := os.WriteFile(path, []byte(contents), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := loadKeyFile(path)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want it to say %q", contents, err, want)
			continue
		}
		for _, secret := range []string{secretish, "12345678901234567890"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: the error quotes the file: %v", contents, err)
			}
		}
	}
}
