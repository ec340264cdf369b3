package domain

import "testing"

// allowlistBypasses are addresses crafted to pass an allowlist of
// example.com (and, where noted, *.example.com) without being at it. Each
// is refused: by address parsing (reason "invalid") or by the allowlist.
var allowlistBypasses = []struct {
	addr, why string
}{
	{"mallory@evil-example.com", "a domain that ends in the allowed one's text"},
	{"mallory@evilexample.com", "a domain that ends in the allowed one's text, no hyphen"},
	{"mallory@example.com.evil.io", "the allowed domain as a subdomain of another"},
	{"mallory@example.com.evil.io.", "the same, fully qualified"},
	{"mallory@example.co", "a prefix of the allowed domain"},
	{"mallory@example.com@evil.io", "two @: which one is the domain?"},
	{"example.com@evil.io", "the allowed domain as the local part"},
	{"mallory@evil.io?@example.com", "a query-looking suffix"},
	{"mallory@EVIL.IO", "upper case of another domain"},
	{"mallory@ex\u0430mple.com", "IDN look-alike: Cyrillic а"},
	{"mallory@xn--exmple-4nf.com", "the look-alike in punycode"},
	{"mallory@\uff45xample.com", "IDN look-alike: fullwidth e"},
	{"mallory@example\u3002com", "an ideographic full stop, which IDNA maps to a dot"},
	{"mallory@example.com\u200b", "a zero-width space after the domain"},
	{"mallory@example.com\x00.evil.io", "a NUL byte"},
	{"mallory@example.com..", "two trailing dots"},
	{"mallory@.example.com", "a leading dot"},
	{"mallory@example..com", "an empty label"},
	{"mallory@[93.184.216.34]", "an IP literal"},
	{"\"mallory@evil.io\"@example.com", "a quoted local part hiding an @"},
	{"mallory@example.com%evil.io", "a percent hack in the domain"},
	{"mallory@example.com/evil.io", "a slash in the domain"},
	{"mallory@example.com evil.io", "a space in the domain"},
	{"mallory@sub.example.com", "a subdomain, when only example.com is listed"},
}

func TestDomainAllowlistRefusesBypasses(t *testing.T) {
	exact, err := ParseDomainAllowlist([]string{"example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range allowlistBypasses {
		e, err := ParseEmail(tc.addr)
		if err != nil {
			if CodeOf(err) != CodeInvalidEmail {
				t.Errorf("%q (%s): refused with %v, want an invalid_email", tc.addr, tc.why, err)
			}
			continue
		}
		if exact.Admits(e) {
			t.Errorf("%q (%s) is admitted by %v", tc.addr, tc.why, exact.Strings())
		}
	}

	// What the policy admits: the domain itself in any case, with a
	// trailing dot; subdomains only through a wildcard entry, which in
	// turn does not admit the bare domain or look-alikes.
	for _, addr := range []string{"ann@example.com", "Ann@EXAMPLE.COM", "ann@Example.Com.", "ann+tag@example.com"} {
		if !exact.Admits(MustParseEmail(addr)) {
			t.Errorf("%q is refused by %v", addr, exact.Strings())
		}
	}
	wildcard, err := ParseDomainAllowlist([]string{"*.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"ann@sub.example.com":             true,
		"ann@a.b.EXAMPLE.com.":            true,
		"ann@example.com":                 false,
		"ann@sub.example.com.evil.io":     false,
		"ann@subexample.com":              false,
		"ann@xn--sub-exmple-4nf.com":      false,
		"ann@sub.xn--exmple-4nf.com":      false,
		"ann@sub-example.com":             false,
		"ann@example.com.sub.example.org": false,
	} {
		if got := wildcard.Admits(MustParseEmail(addr)); got != want {
			t.Errorf("%v admits %q = %v, want %v", wildcard.Strings(), addr, got, want)
		}
	}

	// An admin cannot list a look-alike either: patterns are ASCII, and an
	// IDN is entered in its xn-- form, which only that form matches.
	for _, p := range []string{"ex\u0430mple.com", "*.ex\u0430mple.com", "\uff45xample.com", "example\u3002com"} {
		if _, err := ParseDomainPattern(p); CodeOf(err) != CodeInvalidDomain {
			t.Errorf("pattern %q: %v, want invalid_domain", p, err)
		}
	}
	puny, err := ParseDomainAllowlist([]string{"xn--exmple-4nf.com"})
	if err != nil {
		t.Fatal(err)
	}
	if puny.Admits(MustParseEmail("ann@example.com")) || !puny.Admits(MustParseEmail("ann@XN--EXMPLE-4NF.com")) {
		t.Errorf("a punycode entry matches other than its own domain")
	}
}
