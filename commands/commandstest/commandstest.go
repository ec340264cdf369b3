// Package commandstest holds what the tests of the write side and of the
// layers around it share: a settable clock, token signers over a fresh key,
// a password hasher cheap enough for tests that hash hundreds of passwords
// under the race detector, the embedded event store a package's tests run
// on, and the tokens of the links the mail reactor would send.
package commandstest

import (
	"sync"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/tokens"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/commands/passwordhash"
)

// Clock is a clock tests move by hand; safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts at the current time, truncated to the second.
func NewClock() *Clock { return &Clock{now: time.Now().UTC().Truncate(time.Second)} }

func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TokenService returns signers for every purpose over a fresh key.
func TokenService(t testing.TB, now time.Time) commands.TokenService {
	t.Helper()
	key, err := tokens.NewKey(now)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := tokens.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	signers, err := kr.CommandSigners()
	if err != nil {
		t.Fatal(err)
	}
	return signers
}

// Hasher is argon2id with minimal parameters: the real algorithm, a
// fraction of the cost.
func Hasher(t testing.TB) *passwordhash.Hasher {
	t.Helper()
	h, err := passwordhash.New(passwordhash.Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	return h
}
