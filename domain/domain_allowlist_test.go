package domain

import (
	"strings"
	"testing"
)

func TestDomainPattern_Matches(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		domain  string
		want    bool
	}{
		{"example.com", "example.com", true},
		{"example.com", "EXAMPLE.com", true},
		{"example.com", "example.com.", true},
		{"Example.COM.", "example.com", true},
		{"example.com", "a.example.com", false},
		{"example.com", "evil-example.com", false},
		{"example.com", "example.com.evil.io", false},
		{"example.com", "example.co", false},
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "b.a.example.com", true},
		{"*.example.com", "A.Example.Com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "evil-example.com", false},
		{"*.example.com", "aexample.com", false},
		{"*.example.com", "a.example.com.evil.io", false},
		{"@example.com", "example.com", true},
		{"xn--mnchen-3ya.de", "xn--mnchen-3ya.de", true},
	} {
		p, err := ParseDomainPattern(tc.pattern)
		if err != nil {
			t.Errorf("ParseDomainPattern(%q): %v", tc.pattern, err)
			continue
		}
		if got := p.Matches(tc.domain); got != tc.want {
			t.Errorf("%q matches %q = %v, want %v", tc.pattern, tc.domain, got, tc.want)
		}
	}
}

func TestParseDomainPattern_Refuses(t *testing.T) {
	for _, tc := range []struct{ in, reason string }{
		{"", "empty"},
		{"*", "leading"},
		{"*.com", "no dot"},
		{"com", "no dot"},
		{"a.*.example.com", "leading"},
		{"*example.com", "leading"},
		{"alice@example.com", "without the part before the @"},
		{"exаmple.com", "non-ASCII"}, // Cyrillic а
		{"münchen.de", "non-ASCII"},
		{"exa mple.com", "not allowed"},
		{"https://example.com", "not allowed"},
	} {
		_, err := ParseDomainPattern(tc.in)
		if err == nil {
			t.Errorf("ParseDomainPattern(%q) accepted", tc.in)
			continue
		}
		if CodeOf(err) != CodeInvalidDomain || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("ParseDomainPattern(%q) = %v, want reason with %q", tc.in, err, tc.reason)
		}
	}
}

func TestDomainAllowlist(t *testing.T) {
	list, err := ParseDomainAllowlist([]string{"example.com", "*.corp.example.com", "EXAMPLE.com."})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(list.Strings(), ","); got != "example.com,*.corp.example.com" {
		t.Fatalf("canonical list = %s", got)
	}
	for addr, want := range map[string]bool{
		"a@example.com":         true,
		"a@eu.corp.example.com": true,
		"a@corp.example.com":    false,
		"a@sub.example.com":     false,
		"a@evil-example.com":    false,
	} {
		if got := list.Admits(MustParseEmail(addr)); got != want {
			t.Errorf("Admits(%s) = %v, want %v", addr, got, want)
		}
	}
	if !(DomainAllowlist{}).Admits(MustParseEmail("anyone@anywhere.test")) {
		t.Error("an empty allowlist must admit every domain")
	}

	_, err = ParseDomainAllowlist([]string{"ok.test", "bad", "also bad.test"})
	if got := strings.Join(fieldsOf(err), ","); got != "allowedDomains[1],allowedDomains[2]" {
		t.Fatalf("field errors = %s (%v)", got, err)
	}
	if _, err := ParseDomainAllowlist(make([]string, MaxAllowedDomains+1)); CodeOf(err) != CodeInvalidDomain {
		t.Fatalf("too many domains: %v", err)
	}
}

func TestAllowlistFromStored_KeepsEntriesVerbatim(t *testing.T) {
	list := allowlistFromStored([]string{"example.com", "*.example.org"})
	if !list.Admits(MustParseEmail("a@example.com")) || !list.Admits(MustParseEmail("a@b.example.org")) || list.Admits(MustParseEmail("a@example.org")) {
		t.Fatalf("stored allowlist rebuilt wrongly: %v", list.Strings())
	}
}

func TestSelfServiceLink_CheckToken(t *testing.T) {
	base := SelfServiceLink{Enabled: true, DefaultRole: RoleMember, Generation: 3}
	expired := base
	expired.ExpiresAt = ptr(t0)
	usedUp := base
	usedUp.MaxUses, usedUp.Uses = 5, 5
	disabledAndRotated := base
	disabledAndRotated.Enabled = false
	for _, tc := range []struct {
		name       string
		link       SelfServiceLink
		generation int
		wantCode   string
	}{
		{"current generation works", base, 3, ""},
		{"older generation was rotated away", base, 2, CodeLinkRotated},
		{"a rotated token says rotated even when the link is now disabled", disabledAndRotated, 1, CodeLinkRotated},
		{"future generation does not exist", base, 4, CodeLinkNotFound},
		{"generation zero does not exist", base, 0, CodeLinkNotFound},
		{"disabled", disabledAndRotated, 3, CodeLinkDisabled},
		{"expired at the instant of expiry", expired, 3, CodeLinkExpired},
		{"used up", usedUp, 3, CodeLinkExhausted},
	} {
		if got := CodeOf(tc.link.CheckToken(tc.generation, t0)); got != tc.wantCode {
			t.Errorf("%s: code %q, want %q", tc.name, got, tc.wantCode)
		}
	}
	notYet := base
	notYet.ExpiresAt = ptr(t0.Add(1))
	if err := notYet.CheckToken(3, t0); err != nil {
		t.Errorf("link before its expiry refused: %v", err)
	}
}
