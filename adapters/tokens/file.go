package tokens

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// KeyFileName is the key file inside <data dir>/keys.
const KeyFileName = "token-keys.json"

const keyFileComment = "Server keys for the tokens in mailed links (invitations, self-service link, " +
	"verification, password setup and reset). Secret: never share or commit. The newest key signs, " +
	"all keys verify; removing a key invalidates every link it signed. Restart the portal after a change."

// keyFile is the on-disk format.
type keyFile struct {
	Comment string    `json:"comment"`
	Keys    []fileKey `json:"keys"`
}

type fileKey struct {
	ID      string    `json:"id"`
	Secret  string    `json:"secret"` // hex
	Created time.Time `json:"created"`
}

// KeyFilePath is where LoadOrCreateKeyring keeps the keys of dataDir.
func KeyFilePath(dataDir string) string {
	return filepath.Join(dataDir, "keys", KeyFileName)
}

// LoadOrCreateKeyring returns the token keyring. Configured keys (hex,
// comma-separated, newest first; see ParseKeys) win and the key file is
// then neither read nor created: list the old keys after the new one to keep
// their links alive. Otherwise the keys come from KeyFilePath(dataDir),
// which is created with one random key on first start. Several processes
// starting at once on one data dir end up with the same key.
func LoadOrCreateKeyring(dataDir, configured string) (*Keyring, error) {
	if strings.TrimSpace(configured) != "" {
		keys, err := ParseKeys(configured)
		if err != nil {
			return nil, err
		}
		kr, err := NewKeyring(keys...)
		if err != nil {
			return nil, err
		}
		kr.source = "configuration"
		return kr, nil
	}
	if dataDir == "" {
		return nil, errors.New("token keys: no data directory and no configured key")
	}
	path := KeyFilePath(dataDir)
	if err := ensureKeyDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	kr, err := loadKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return kr, err
	}
	k, err := NewKey(time.Now())
	if err != nil {
		return nil, err
	}
	created, err := createKeyFile(path, []Key{k})
	if err != nil {
		return nil, err
	}
	kr, err = loadKeyFile(path)
	if err == nil && created {
		kr.source = path + " (generated now)"
	}
	return kr, err
}

// AddKey generates a new key into dataDir's key file (creating the file if
// needed) and returns its id. The new key signs from the next start on;
// the older ones keep verifying until they are removed from the file.
func AddKey(dataDir string, now time.Time) (string, error) {
	path := KeyFilePath(dataDir)
	if err := ensureKeyDir(filepath.Dir(path)); err != nil {
		return "", err
	}
	keys, err := readKeyFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	k, err := NewKey(now)
	if err != nil {
		return "", err
	}
	keys = append([]Key{k}, keys...)
	if err := replaceKeyFile(path, keys); err != nil {
		return "", err
	}
	return k.ID, nil
}

func ensureKeyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("token keys: %w", err)
	}
	return checkPrivate(dir)
}

// checkPrivate refuses a key file or directory that others may read.
func checkPrivate(path string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("token keys: %w", err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		want := "600"
		if info.IsDir() {
			want = "700"
		}
		return fmt.Errorf("token keys: %s is accessible to other users (mode %04o); run chmod %s %s", path, perm, want, path)
	}
	return nil
}

func loadKeyFile(path string) (*Keyring, error) {
	keys, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	kr, err := NewKeyring(keys...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	kr.source = path
	return kr, nil
}

// readKeyFile returns the file's keys, newest first.
func readKeyFile(path string) ([]Key, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("token keys: %w", err)
	}
	if err := checkPrivate(path); err != nil {
		return nil, err
	}
	var f keyFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("token keys: %s is not a valid key file: %s", path, jsonProblem(err))
	}
	if len(f.Keys) == 0 {
		return nil, fmt.Errorf("token keys: %s holds no key; delete it to generate one (every mailed link dies)", path)
	}
	keys := make([]Key, 0, len(f.Keys))
	for i, fk := range f.Keys {
		secret, err := hex.DecodeString(fk.Secret)
		if err != nil {
			return nil, fmt.Errorf("token keys: %s: key %d is not hex", path, i+1)
		}
		keys = append(keys, Key{ID: fk.ID, Secret: secret, Created: fk.Created})
	}
	slices.SortStableFunc(keys, func(a, b Key) int { return b.Created.Compare(a.Created) })
	return keys, nil
}

// jsonProblem says what is wrong with a key file that does not decode,
// without quoting any of it: the decoder's own errors can hold a value
// from the file (a time that does not parse, for one), and a key file's
// values may be secrets, whatever field they were put in.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var when *time.ParseError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("invalid JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		kind, _, _ := strings.Cut(typ.Value, " ") // "number 12…" quotes the number
		if typ.Field == "" {
			return fmt.Sprintf("a %s where a %s belongs", kind, typ.Type)
		}
		return fmt.Sprintf("field %s holds a %s where a %s belongs", typ.Field, kind, typ.Type)
	case errors.As(err, &when):
		return `a "created" time is not an RFC 3339 time such as 2025-01-02T03:04:05Z`
	}
	return `want {"keys": [{"id", "secret", "created"}, …]}`
}

func marshalKeys(keys []Key) ([]byte, error) {
	f := keyFile{Comment: keyFileComment}
	for _, k := range keys {
		f.Keys = append(f.Keys, fileKey{ID: KeyID(k.Secret), Secret: hex.EncodeToString(k.Secret), Created: k.Created.UTC()})
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// writeTemp writes data to a fresh 0600 file next to path and syncs it.
func writeTemp(path string, data []byte) (string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+KeyFileName+".*")
	if err != nil {
		return "", fmt.Errorf("token keys: %w", err)
	}
	name := tmp.Name()
	fail := func(err error) (string, error) {
		_ = tmp.Close()
		_ = os.Remove(name)
		return "", fmt.Errorf("token keys: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	return name, nil
}

// createKeyFile writes keys to path unless it exists; false means another
// process created it first (its keys win).
func createKeyFile(path string, keys []Key) (bool, error) {
	data, err := marshalKeys(keys)
	if err != nil {
		return false, err
	}
	tmp, err := writeTemp(path, data)
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp)
	// A hard link never replaces an existing file, so two first starts
	// cannot overwrite each other's key.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("token keys: %w", err)
	}
	syncDir(filepath.Dir(path))
	return true, nil
}

// replaceKeyFile atomically replaces path with keys.
func replaceKeyFile(path string, keys []Key) error {
	data, err := marshalKeys(keys)
	if err != nil {
		return err
	}
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("token keys: %w", err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// syncDir makes a new directory entry durable; best effort.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
