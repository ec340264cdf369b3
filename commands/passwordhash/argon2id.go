// Package passwordhash implements the command layer's PasswordHasher with
// argon2id (RFC 9106), encoded as PHC strings so that the parameters travel
// with each hash and can be raised without invalidating stored ones.
package passwordhash

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	MemoryKiB uint32 // memory per hash, in KiB
	Time      uint32 // passes over the memory
	Threads   uint8  // lanes
	SaltLen   uint32 // bytes
	KeyLen    uint32 // bytes
	// MaxConcurrent bounds how many hashes run at once, which bounds the
	// memory a burst of sign-ins can take (MaxConcurrent × MemoryKiB).
	// 0 means the number of CPUs.
	MaxConcurrent int
}

// DefaultParams follow OWASP's password storage recommendation for
// argon2id: 19 MiB, 2 passes, 1 lane (about 20–40 ms on one core).
func DefaultParams() Params {
	return Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Limits on parameters read back from a stored hash: a damaged or forged
// hash must not make one verification allocate gigabytes.
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxTime      = 16
	maxKeyLen    = 128
)

// Hasher hashes and verifies passwords with argon2id. Safe for concurrent
// use.
type Hasher struct {
	p   Params
	sem chan struct{}
}

// New returns a hasher with the given parameters.
func New(p Params) (*Hasher, error) {
	if p.MemoryKiB < 8*uint32(max(p.Threads, 1)) || p.MemoryKiB > maxMemoryKiB || p.Time < 1 || p.Time > maxTime ||
		p.Threads < 1 || p.SaltLen < 16 || p.KeyLen < 16 || p.KeyLen > maxKeyLen {
		return nil, fmt.Errorf("passwordhash: parameters out of range: %+v", p)
	}
	n := p.MaxConcurrent
	if n <= 0 {
		n = runtime.NumCPU()
	}
	return &Hasher{p: p, sem: make(chan struct{}, n)}, nil
}

var b64 = base64.RawStdEncoding.Strict()

// Hash returns the PHC string of password with a fresh random salt.
func (h *Hasher) Hash(password string) (string, error) {
	salt := make([]byte, h.p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("passwordhash: salt: %w", err)
	}
	key := h.derive(password, salt, h.p.Time, h.p.MemoryKiB, h.p.Threads, h.p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, h.p.MemoryKiB, h.p.Time, h.p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// ErrMalformedHash reports a stored hash that is not an argon2id PHC string
// this package can verify.
var ErrMalformedHash = errors.New("passwordhash: malformed argon2id hash")

// Verify reports whether password matches the PHC string encoded, using
// the parameters stored in it, and compares in constant time.
func (h *Hasher) Verify(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, ErrMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrMalformedHash
	}
	var memory, passes uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &passes, &threads); err != nil ||
		memory > maxMemoryKiB || passes < 1 || passes > maxTime || threads < 1 || memory < 8*uint32(threads) {
		return false, ErrMalformedHash
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return false, ErrMalformedHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > maxKeyLen {
		return false, ErrMalformedHash
	}
	got := h.derive(password, salt, passes, memory, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

func (h *Hasher) derive(password string, salt []byte, passes, memory uint32, threads uint8, keyLen uint32) []byte {
	h.sem <- struct{}{}
	defer func() { <-h.sem }()
	return argon2.IDKey([]byte(password), salt, passes, memory, threads, keyLen)
}

// Warm computes one hash so that the first sign-in is not slower than the
// others (and fails early if hashing cannot work at all).
func (h *Hasher) Warm(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := h.Hash("warm-up password")
	return err
}
