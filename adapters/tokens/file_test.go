package tokens_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/tokens"
)

func TestKeyFileIsCreatedPrivateOnFirstStart(t *testing.T) {
	dir := t.TempDir()
	kr, err := tokens.LoadOrCreateKeyring(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	path := tokens.KeyFilePath(dir)
	if kr.Source() != path+" (generated now)" {
		t.Errorf("source = %q", kr.Source())
	}
	if runtime.GOOS != "windows" {
		assertMode(t, path, 0o600)
		assertMode(t, filepath.Dir(path), 0o700)
	}
	var f struct {
		Keys []struct {
			ID      string    `json:"id"`
			Secret  string    `json:"secret"`
			Created time.Time `json:"created"`
		} `json:"keys"`
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Keys) != 1 || len(f.Keys[0].Secret) != 64 || f.Keys[0].ID != kr.SigningKeyID() || f.Keys[0].Created.IsZero() {
		t.Errorf("key file = %s", raw)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*")); len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}

	// The next start loads the same key: links mailed before still work.
	tok, err := kr.Issue(tokens.PurposeInvitation, "inv-1", 1)
	if err != nil {
		t.Fatal(err)
	}
	again, err := tokens.LoadOrCreateKeyring(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if again.Source() != path {
		t.Errorf("source = %q, want %q", again.Source(), path)
	}
	if _, _, err := again.Verify(tok, tokens.PurposeInvitation); err != nil {
		t.Errorf("token from before the restart: %v", err)
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s has mode %04o, want %04o", path, got, want)
	}
}

func TestKeyFileReadableByOthersIsRefused(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no POSIX permissions")
	}
	dir := t.TempDir()
	if _, err := tokens.LoadOrCreateKeyring(dir, ""); err != nil {
		t.Fatal(err)
	}
	path := tokens.KeyFilePath(dir)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := tokens.LoadOrCreateKeyring(dir, "")
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key file: err = %v, want a refusal that says how to fix it", err)
	}
}

// Replicas starting together on one data directory agree on one key.
func TestConcurrentFirstStartsShareOneKey(t *testing.T) {
	dir := t.TempDir()
	const starts = 8
	ids := make([]string, starts)
	var wg sync.WaitGroup
	for i := range starts {
		wg.Go(func() {
			kr, err := tokens.LoadOrCreateKeyring(dir, "")
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = kr.SigningKeyID()
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("starts ended with different keys: %v", ids)
		}
	}
}

func TestConfiguredKeysOverrideTheFile(t *testing.T) {
	dir := t.TempDir()
	newHex := strings.Repeat("ab", 32)
	oldHex := strings.Repeat("cd", 32)
	kr, err := tokens.LoadOrCreateKeyring(dir, newHex+", "+oldHex)
	if err != nil {
		t.Fatal(err)
	}
	if kr.Source() != "configuration" || len(kr.KeyIDs()) != 2 {
		t.Errorf("source %q, keys %v", kr.Source(), kr.KeyIDs())
	}
	if _, err := os.Stat(tokens.KeyFilePath(dir)); !os.IsNotExist(err) {
		t.Errorf("key file created although keys were configured: %v", err)
	}
	keys, _ := tokens.ParseKeys(newHex)
	if kr.SigningKeyID() != tokens.KeyID(keys[0].Secret) {
		t.Error("the first configured key does not sign")
	}
	// Two replicas given the same key issue the same tokens.
	other, err := tokens.LoadOrCreateKeyring(t.TempDir(), newHex)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := kr.Issue(tokens.PurposeInvitation, "inv-1", 1)
	b, _ := other.Issue(tokens.PurposeInvitation, "inv-1", 1)
	if a != b {
		t.Error("replicas with the same configured key disagree")
	}
}

func TestBadConfiguredKeysAreRefusedWithoutEchoingThem(t *testing.T) {
	secretish := "zz" + strings.Repeat("ab", 31)
	for _, configured := range []string{secretish, strings.Repeat("ab", 16), strings.Repeat("ab", 32) + ",", "nothex!"} {
		_, err := tokens.LoadOrCreateKeyring(t.TempDir(), configured)
		if err == nil {
			t.Errorf("configured %q accepted", configured)
			continue
		}
		if strings.Contains(err.Error(), "abab") {
			t.Errorf("error echoes the key: %v", err)
		}
	}
}

func TestAddKeyRotatesTheFile(t *testing.T) {
	dir := t.TempDir()
	first, err := tokens.LoadOrCreateKeyring(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	oldTok, _ := first.Issue(tokens.PurposeVerification, "reg-1", 1)

	newID, err := tokens.AddKey(dir, time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := tokens.LoadOrCreateKeyring(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if rotated.SigningKeyID() != newID || len(rotated.KeyIDs()) != 2 {
		t.Errorf("after AddKey: signing %s, keys %v; want %s to sign", rotated.SigningKeyID(), rotated.KeyIDs(), newID)
	}
	if _, _, err := rotated.Verify(oldTok, tokens.PurposeVerification); err != nil {
		t.Errorf("token of the previous key after rotation: %v", err)
	}
	if runtime.GOOS != "windows" {
		assertMode(t, tokens.KeyFilePath(dir), 0o600)
	}
}

func TestBrokenKeyFileIsAnError(t *testing.T) {
	for name, content := range map[string]string{
		"not json":   "{",
		"no keys":    `{"keys":[]}`,
		"short key":  `{"keys":[{"secret":"abcd"}]}`,
		"not hex":    `{"keys":[{"secret":"xyz"}]}`,
		"wrong id":   `{"keys":[{"id":"00000000","secret":"` + strings.Repeat("ab", 32) + `"}]}`,
		"duplicates": `{"keys":[{"secret":"` + strings.Repeat("ab", 32) + `"},{"secret":"` + strings.Repeat("ab", 32) + `"}]}`,
	} {
		dir := t.TempDir()
		path := tokens.KeyFilePath(dir)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := tokens.LoadOrCreateKeyring(dir, ""); err == nil {
			t.Errorf("%s: loaded", name)
		}
		// The broken file is left alone, never replaced by a new key.
		if raw, _ := os.ReadFile(path); string(raw) != content {
			t.Errorf("%s: file was rewritten", name)
		}
	}
	if _, err := tokens.LoadOrCreateKeyring("", ""); err == nil {
		t.Error("no data dir and no key: loaded")
	}
}
