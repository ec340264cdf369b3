package tokens

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/orgportal/onboarding/domain"
)

// MinKeyLen is the shortest server key accepted, in bytes.
const MinKeyLen = 32

// Key is one server key.
type Key struct {
	// ID names the key in tokens; derived from the secret (see KeyID).
	ID string
	// Secret is the HMAC key, at least MinKeyLen bytes.
	Secret []byte
	// Created orders keys: the newest signs. Zero for configured keys,
	// which are ordered by their position instead.
	Created time.Time
}

// KeyID derives a key's id from its secret: the first 4 bytes of a
// SHA-256, in hex. Deriving it means replicas given the same configured key
// agree on its id without configuring one; 32 bits of a hash say nothing
// useful about a 256-bit secret.
func KeyID(secret []byte) string {
	sum := sha256.Sum256(append([]byte("orgportal-token-key-id\x00"), secret...))
	return hex.EncodeToString(sum[:keyIDLen])
}

// Keyring issues and verifies tokens. It is safe for concurrent use and
// immutable once built.
type Keyring struct {
	signing key
	byID    map[[keyIDLen]byte]key
	ids     []string // newest first
	source  string
}

type key struct {
	id     [keyIDLen]byte
	secret []byte
}

// NewKeyring builds a keyring from keys given newest first: the first
// signs, all verify.
func NewKeyring(keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("token keys: no key")
	}
	k := &Keyring{byID: make(map[[keyIDLen]byte]key, len(keys)), source: "given"}
	for i, in := range keys {
		if len(in.Secret) < MinKeyLen {
			return nil, fmt.Errorf("token keys: key %d is %d bytes; at least %d are needed", i+1, len(in.Secret), MinKeyLen)
		}
		id := KeyID(in.Secret)
		if in.ID != "" && in.ID != id {
			return nil, fmt.Errorf("token keys: key %d is labelled %q but its secret has id %q; fix or drop the label", i+1, in.ID, id)
		}
		var raw [keyIDLen]byte
		if _, err := hex.Decode(raw[:], []byte(id)); err != nil {
			return nil, err
		}
		if _, dup := k.byID[raw]; dup {
			return nil, fmt.Errorf("token keys: key id %s appears twice; remove the duplicate", id)
		}
		kk := key{id: raw, secret: slices.Clone(in.Secret)}
		k.byID[raw] = kk
		k.ids = append(k.ids, id)
		if i == 0 {
			k.signing = kk
		}
	}
	return k, nil
}

// ParseKeys parses configured keys: hex secrets separated by commas,
// newest first. Errors never echo a secret.
func ParseKeys(configured string) ([]Key, error) {
	var keys []Key
	for i, part := range strings.Split(configured, ",") {
		part = strings.TrimSpace(part)
		secret, err := hex.DecodeString(part)
		if err != nil {
			return nil, fmt.Errorf("token keys: configured key %d is not hex (generate one with: openssl rand -hex 32)", i+1)
		}
		if len(secret) < MinKeyLen {
			return nil, fmt.Errorf("token keys: configured key %d is %d bytes; at least %d are needed (openssl rand -hex 32)", i+1, len(secret), MinKeyLen)
		}
		keys = append(keys, Key{Secret: secret})
	}
	return keys, nil
}

// NewKey generates a random key.
func NewKey(now time.Time) (Key, error) {
	secret := make([]byte, MinKeyLen)
	if _, err := rand.Read(secret); err != nil {
		return Key{}, fmt.Errorf("token keys: %w", err)
	}
	return Key{ID: KeyID(secret), Secret: secret, Created: now.UTC()}, nil
}

// SigningKeyID is the id of the key new tokens are signed with.
func (k *Keyring) SigningKeyID() string { return hex.EncodeToString(k.signing.id[:]) }

// KeyIDs lists the ids of every key, newest first; safe to log.
func (k *Keyring) KeyIDs() []string { return slices.Clone(k.ids) }

// Source says where the keys came from (a file path or "configuration");
// safe to log.
func (k *Keyring) Source() string { return k.source }

// Issue returns the token for purpose, aggregate id and generation. The
// token must not be logged or stored; derive it again when needed.
func (k *Keyring) Issue(purpose Purpose, aggregateID string, generation int) (string, error) {
	if !purpose.valid() {
		return "", fmt.Errorf("tokens: unknown purpose %q", purpose)
	}
	if _, err := domain.ParseID[string](aggregateID); err != nil {
		return "", fmt.Errorf("tokens: aggregate id: %w", err)
	}
	if generation < 1 || generation > maxGeneration {
		return "", fmt.Errorf("tokens: generation %d is outside 1..%d", generation, maxGeneration)
	}
	f := fields{keyID: k.signing.id, generation: uint64(generation), aggregateID: aggregateID}
	return encode(f, mac(k.signing.secret, purpose, f.body())), nil
}

// Verify checks a token from the network for purpose and returns the
// aggregate id and generation it was issued for. Whether that generation
// is still the current one is the aggregate's business. Every failure is
// ErrInvalidToken (wrapped with a reason that never contains the token).
func (k *Keyring) Verify(token string, purpose Purpose) (aggregateID string, generation int, err error) {
	if !purpose.valid() {
		return "", 0, fmt.Errorf("tokens: unknown purpose %q", purpose)
	}
	f, sum, err := parse(token)
	if err != nil {
		return "", 0, err
	}
	signer, ok := k.byID[f.keyID]
	if !ok {
		return "", 0, fmt.Errorf("%w: signed by key %s, which is not (or no longer) configured", ErrInvalidToken, hex.EncodeToString(f.keyID[:]))
	}
	if !hmac.Equal(sum, mac(signer.secret, purpose, f.body())) {
		return "", 0, fmt.Errorf("%w: signature does not match (tampered, or issued for another purpose than %s)", ErrInvalidToken, purpose)
	}
	return f.aggregateID, int(f.generation), nil
}

// For binds the keyring to one purpose. The result's methods use only
// built-in types, so the command layer can declare them as its port
// without importing this package, and the composition root decides which
// handler gets which purpose.
func (k *Keyring) For(purpose Purpose) (*Signer, error) {
	if !purpose.valid() {
		return nil, fmt.Errorf("tokens: unknown purpose %q", purpose)
	}
	return &Signer{keyring: k, purpose: purpose}, nil
}

// Signer issues and verifies tokens of one purpose.
type Signer struct {
	keyring *Keyring
	purpose Purpose
}

// Issue is Keyring.Issue for the signer's purpose.
func (s *Signer) Issue(aggregateID string, generation int) (string, error) {
	return s.keyring.Issue(s.purpose, aggregateID, generation)
}

// Verify is Keyring.Verify for the signer's purpose.
func (s *Signer) Verify(token string) (aggregateID string, generation int, err error) {
	return s.keyring.Verify(token, s.purpose)
}

// Purpose is the signer's purpose.
func (s *Signer) Purpose() Purpose { return s.purpose }
