package passwordhash_test

import (
	"strings"
	"testing"

	"github.com/orgportal/onboarding/commands/passwordhash"
)

func TestHashAndVerify_DefaultParams(t *testing.T) {
	h, err := passwordhash.New(passwordhash.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	hash, err := h.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(hash, "horse") {
		t.Fatalf("hash %q", hash)
	}
	if ok, err := h.Verify(hash, "correct horse battery staple"); !ok || err != nil {
		t.Fatalf("right password: %v %v", ok, err)
	}
	if ok, err := h.Verify(hash, "correct horse battery stapler"); ok || err != nil {
		t.Fatalf("wrong password: %v %v", ok, err)
	}
	again, _ := h.Hash("correct horse battery staple")
	if again == hash {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
}

func TestVerify_UsesTheStoredParameters(t *testing.T) {
	cheap, err := passwordhash.New(passwordhash.Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := cheap.Hash("a long enough password")
	strong, _ := passwordhash.New(passwordhash.DefaultParams())
	if ok, err := strong.Verify(hash, "a long enough password"); !ok || err != nil {
		t.Fatalf("a hash made with other parameters did not verify: %v %v", ok, err)
	}
}

func TestVerify_RefusesMalformedHashes(t *testing.T) {
	h, _ := passwordhash.New(passwordhash.Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	for _, bad := range []string{
		"", "plain", "$2a$10$abcdefghijklmnopqrstuv", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		if ok, err := h.Verify(bad, "whatever password"); ok || err == nil {
			t.Errorf("%q: %v %v", bad, ok, err)
		}
	}
	if _, err := passwordhash.New(passwordhash.Params{MemoryKiB: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32}); err == nil {
		t.Error("zero passes accepted")
	}
}
