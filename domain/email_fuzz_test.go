package domain

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// emailSeeds are addresses and near-addresses for the email fuzz targets:
// valid ones, every kind of refusal, and allowlist-bypass spellings.
var emailSeeds = []string{
	"ada@example.com",
	"  Ada.Lovelace+tag@Example.COM  ",
	"a@example.com.",
	"a@example.com..",
	"a@b.co",
	"x!#$%&'*+-/=?^_`{|}~@sub.example-domain.org",
	"a@xn--e1afmkfd.xn--p1ai",
	"a@exаmple.com", // Cyrillic а
	"a@example.com.evil.io",
	"a@evil-example.com",
	"",
	" ",
	"@",
	"a@",
	"@example.com",
	"a@@example.com",
	"a@b@example.com",
	".a@example.com",
	"a.@example.com",
	"a..b@example.com",
	"a@example",
	"a@.example.com",
	"a@example..com",
	"a@-example.com",
	"a@example-.com",
	"a@127.0.0.1",
	"a@[127.0.0.1]",
	"\"quoted\"@example.com",
	"a b@example.com",
	"a\x00@example.com",
	"a\x7f@example.com",
	"a@exam_ple.com",
	"\xff@example.com",
	strings.Repeat("l", 64) + "@example.com",
	strings.Repeat("l", 65) + "@example.com",
	"a@" + strings.Repeat("x", 63) + ".com",
	"a@" + strings.Repeat("x", 64) + ".com",
	"a@" + strings.Repeat("abcdefghi.", 25) + "com",
	strings.Repeat("l", 64) + "@" + strings.Repeat("abcdefghi.", 18) + "com",
}

// FuzzParseEmail: ParseEmail never panics; a refusal is an invalid_email
// KindInvalid error with a reason; an accepted address is ASCII, has one
// @, fits RFC 5321's limits, and parses again (display form, key and JSON)
// to the same value.
func FuzzParseEmail(f *testing.F) {
	for _, s := range emailSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		e, err := ParseEmail(raw)
		if err != nil {
			if KindOf(err) != KindInvalid || CodeOf(err) != CodeInvalidEmail {
				t.Fatalf("ParseEmail(%q): error %v has kind %q code %q, want invalid/%s", raw, err, KindOf(err), CodeOf(err), CodeInvalidEmail)
			}
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatalf("ParseEmail(%q): empty reason", raw)
			}
			if !e.IsZero() {
				t.Fatalf("ParseEmail(%q) failed but returned %#v", raw, e)
			}
			return
		}
		d, key := e.String(), e.Normalized()
		if e.IsZero() || d == "" {
			t.Fatalf("ParseEmail(%q) accepted a zero address", raw)
		}
		if len(d) > maxEmailLength {
			t.Fatalf("ParseEmail(%q) accepted %d bytes", raw, len(d))
		}
		for i := 0; i < len(d); i++ {
			if c := d[i]; c <= ' ' || c >= 0x7f {
				t.Fatalf("ParseEmail(%q) accepted byte %#x", raw, c)
			}
		}
		if strings.Count(d, "@") != 1 {
			t.Fatalf("ParseEmail(%q) = %q: not exactly one @", raw, d)
		}
		if key != strings.ToLower(d) {
			t.Fatalf("key %q is not the lower-cased display form %q", key, d)
		}
		if !strings.Contains(strings.ToLower(raw), key) {
			t.Fatalf("ParseEmail(%q) = %q: not taken from the input", raw, key)
		}
		local, dom, _ := strings.Cut(key, "@")
		if local == "" || len(local) > maxLocalPartLength {
			t.Fatalf("ParseEmail(%q): local part %q", raw, local)
		}
		if e.Domain() != dom || strings.HasSuffix(dom, ".") || !strings.Contains(dom, ".") {
			t.Fatalf("ParseEmail(%q): Domain() = %q, after the @ %q", raw, e.Domain(), dom)
		}
		// The display form and the key parse again to the same value.
		again, err := ParseEmail(d)
		if err != nil || again != e {
			t.Fatalf("display form %q of %q parses to %#v, %v; want %#v", d, raw, again, err, e)
		}
		// JSON: what is marshalled unmarshals to the same address.
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var back Email
		if err := json.Unmarshal(b, &back); err != nil || back != e {
			t.Fatalf("JSON %s of %q unmarshals to %#v, %v", b, raw, back, err)
		}
	})
}

// FuzzNormalizeEmail: a normalized address normalizes to itself, and every
// spelling that differs only in case, surrounding white space or a trailing
// dot on the domain has the same key; the raw variants the fuzzer derives
// from mask are accepted exactly when the original is.
func FuzzNormalizeEmail(f *testing.F) {
	for i, s := range emailSeeds {
		f.Add(s, uint64(i)*0x9e3779b97f4a7c15)
	}
	f.Add("MiXeD.CaSe@ExAmPlE.CoM", ^uint64(0))
	f.Fuzz(func(t *testing.T, raw string, mask uint64) {
		e, err := ParseEmail(raw)
		// A variant: case flipped by mask, white space around it, and a
		// trailing dot when there is none.
		var b strings.Builder
		if mask&1 != 0 {
			b.WriteString(" \t")
		}
		for i, r := range strings.TrimSpace(raw) {
			if mask>>(uint(i)%64)&1 != 0 && r < utf8.RuneSelf {
				r = unicode.SimpleFold(r)
				if r >= utf8.RuneSelf { // 'k' folds to the Kelvin sign
					r = unicode.SimpleFold(r)
				}
			}
			b.WriteRune(r)
		}
		if mask&2 != 0 && !strings.HasSuffix(strings.TrimSpace(raw), ".") {
			b.WriteByte('.')
		}
		if mask&4 != 0 {
			b.WriteString("\r\n")
		}
		variant := b.String()
		v, verr := ParseEmail(variant)
		if err != nil {
			// Case and surrounding space never make a refused address
			// acceptable (an added trailing dot is left out of this check).
			if verr == nil && mask&2 == 0 {
				t.Fatalf("%q is refused (%v) but its variant %q is accepted", raw, err, variant)
			}
			return
		}
		key := e.Normalized()
		n, err := ParseEmail(key)
		if err != nil {
			t.Fatalf("normalized %q of %q does not parse: %v", key, raw, err)
		}
		if n.Normalized() != key || n.String() != key {
			t.Fatalf("normalized %q normalizes to %q (display %q)", key, n.Normalized(), n.String())
		}
		if strings.ToLower(key) != key {
			t.Fatalf("normalized %q is not lower case", key)
		}
		if upper, err := ParseEmail(strings.ToUpper(key)); err != nil || upper.Normalized() != key {
			t.Fatalf("upper-case %q: %q, %v; want key %q", strings.ToUpper(key), upper.Normalized(), err, key)
		}
		if verr != nil && mask&2 == 0 {
			t.Fatalf("%q is accepted but its variant %q is refused: %v", raw, variant, verr)
		}
		if verr == nil && v.Normalized() != key {
			t.Fatalf("%q and its variant %q have keys %q and %q", raw, variant, key, v.Normalized())
		}
		if verr == nil && (LoginKey(v) != LoginKey(e) || MembershipKey("org-1", v) != MembershipKey("org-1", e)) {
			t.Fatalf("%q and %q have different login or membership keys", raw, variant)
		}
	})
}

// FuzzParseEmailList: never panics; fails only for no address or more than
// MaxAddressesPerRequest, with those codes; never returns more than that
// many addresses (valid or not); every entry's input is a piece of the
// text, valid entries are unique by key, their address is in their input
// and equals ParseEmail of the input without a mailto: (or of the
// bracketed part, for "Name <address>"), invalid ones carry an
// invalid_email error. Text without quotes or angle brackets is split
// exactly on the separators, one entry per token.
func FuzzParseEmailList(f *testing.F) {
	f.Add("ada@example.com", "")
	f.Add("ada@example.com, Ada@Example.com; bob@example.com\nnot-an-address", "carol@example.com")
	f.Add(" , ; \n\t", "")
	f.Add("", "")
	f.Add("a@x.io\u00a0b@x.io\u2028c@x.io", "\u3000d@x.io")
	f.Add("\xffa@x.io,\x00", "a@x.io")
	f.Add(`Ann Smith <ann@x.io>; "Doe, Jane" <jane@x.io>, <bob@x.io> mailto:carl@x.io`, `"unclosed <a@x.io`)
	f.Add(`a@b.io<c@d.io> <> < > <<x@y.io> "q\"uote" <q@x.io>`, `Name <MAILTO:n@x.io>`)
	many := make([]string, MaxAddressesPerRequest)
	for i := range many {
		many[i] = "u" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + "@example.com"
	}
	f.Add(strings.Join(many, ","), "")
	f.Add(strings.Join(many, ","), "one-more@example.com")
	f.Add(strings.Join(many[:250], "\n"), strings.Join(many[250:], ";"))
	f.Add(strings.Repeat("a@b.co ", MaxAddressesPerRequest+1), "")
	f.Add(strings.Repeat("A <a@b.co> ", MaxAddressesPerRequest+1), "")
	f.Fuzz(func(t *testing.T, first, second string) {
		list, err := ParseEmailList(first, second)
		tokens := len(strings.FieldsFunc(first, isListSeparator)) + len(strings.FieldsFunc(second, isListSeparator))
		plain := !strings.ContainsAny(first+second, `<"`)
		if err != nil {
			code := CodeOf(err)
			switch {
			case KindOf(err) != KindInvalid:
				t.Fatalf("error %v is not KindInvalid", err)
			case code != CodeNoAddresses && code != CodeTooManyAddresses:
				t.Fatalf("refused with %q", code)
			case tokens == 0 && code != CodeNoAddresses:
				t.Fatalf("no tokens: code %q", code)
			case plain && tokens > MaxAddressesPerRequest && code != CodeTooManyAddresses:
				t.Fatalf("%d tokens: code %q", tokens, code)
			case plain && tokens > 0 && tokens <= MaxAddressesPerRequest:
				t.Fatalf("%d tokens refused: %v", tokens, err)
			}
			if list != nil {
				t.Fatalf("error and a list of %d", len(list))
			}
			return
		}
		if tokens == 0 || (plain && tokens > MaxAddressesPerRequest) {
			t.Fatalf("%d tokens accepted", tokens)
		}
		if len(list) == 0 || len(list) > MaxAddressesPerRequest || len(list) > tokens+strings.Count(first+second, "<") {
			t.Fatalf("%d tokens gave %d entries", tokens, len(list))
		}
		seen := map[string]bool{}
		for i, entry := range list {
			if entry.Input == "" || (plain && strings.ContainsFunc(entry.Input, isListSeparator)) {
				t.Fatalf("entry %d input %q is not one token", i, entry.Input)
			}
			if !strings.Contains(first, entry.Input) && !strings.Contains(second, entry.Input) {
				t.Fatalf("entry %d input %q is not from the input", i, entry.Input)
			}
			if entry.Err != nil {
				if !entry.Email.IsZero() || CodeOf(entry.Err) != CodeInvalidEmail || KindOf(entry.Err) != KindInvalid {
					t.Fatalf("entry %d: %#v", i, entry)
				}
				continue
			}
			address := entry.Input
			if open := strings.LastIndexByte(address, '<'); open >= 0 && strings.HasSuffix(address, ">") {
				address = strings.TrimSpace(address[open+1 : len(address)-1])
			}
			want, err := ParseEmail(stripMailto(address))
			if err != nil || want != entry.Email || !strings.Contains(entry.Input, entry.Email.String()) {
				t.Fatalf("entry %d: %q listed as %#v, ParseEmail gives %#v, %v", i, entry.Input, entry.Email, want, err)
			}
			if seen[entry.Email.Normalized()] {
				t.Fatalf("entry %d: %q listed twice", i, entry.Email.Normalized())
			}
			seen[entry.Email.Normalized()] = true
		}
	})
}

// FuzzDomainAllowlist: ParseDomainPattern never panics and refuses with
// invalid_domain; an accepted pattern is canonical (its String parses to
// itself). For any valid address, matching is exact on whole labels: a
// plain pattern admits only that domain, "*.d" only proper subdomains of
// d, case and a trailing dot never matter, and no other string suffix
// ("evil-example.com", "example.com.evil.io") is admitted.
func FuzzDomainAllowlist(f *testing.F) {
	pairs := [][2]string{
		{"example.com", "a@example.com"},
		{"example.com", "a@EXAMPLE.com."},
		{"example.com", "a@evil-example.com"},
		{"example.com", "a@example.com.evil.io"},
		{"example.com", "a@sub.example.com"},
		{"*.example.com", "a@sub.example.com"},
		{"*.example.com", "a@b.sub.example.com"},
		{"*.example.com", "a@example.com"},
		{"*.example.com", "a@evilexample.com"},
		{" @Example.COM. ", "a@example.com"},
		{"exаmple.com", "a@xn--exmple-4nf.com"},
		{"xn--exmple-4nf.com", "a@xn--exmple-4nf.com"},
		{"*.*.example.com", "a@x.y.example.com"},
		{"ex*ample.com", "a@example.com"},
		{"*", "a@example.com"},
		{"*.", "a@example.com"},
		{"*.com", "a@example.com"},
		{"com", "a@com.com"},
		{"a@example.com", "a@example.com"},
		{"", ""},
		{"example..com", "a@example..com"},
		{"1.2.3.4", "a@1.2.3.4"},
		{"-x.com", "a@-x.com"},
		{strings.Repeat("a", 63) + ".com", "a@" + strings.Repeat("a", 63) + ".com"},
		{"\xff.com", "a@\xff.com"},
	}
	for _, p := range pairs {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, pattern, address string) {
		p, err := ParseDomainPattern(pattern)
		if err != nil {
			if KindOf(err) != KindInvalid || CodeOf(err) != CodeInvalidDomain {
				t.Fatalf("ParseDomainPattern(%q): %v, kind %q code %q", pattern, err, KindOf(err), CodeOf(err))
			}
			if _, lerr := ParseDomainAllowlist([]string{"example.com", pattern}); lerr == nil {
				t.Fatalf("allowlist with bad entry %q accepted", pattern)
			}
		} else {
			s := p.String()
			if again, err := ParseDomainPattern(s); err != nil || again != p || again.String() != s {
				t.Fatalf("pattern %q canonical %q parses to %#v, %v", pattern, s, again, err)
			}
			if strings.ToLower(s) != s || strings.HasSuffix(s, ".") || strings.ContainsFunc(s, func(r rune) bool { return r >= utf8.RuneSelf }) {
				t.Fatalf("pattern %q canonical %q is not lower-case ASCII without a trailing dot", pattern, s)
			}
			if strings.Contains(p.domain, "*") {
				t.Fatalf("pattern %q keeps a wildcard inside: %#v", pattern, p)
			}
			list, err := ParseDomainAllowlist([]string{pattern, s, strings.ToUpper(s)})
			if err != nil || len(list) != 1 || list[0] != p {
				t.Fatalf("allowlist of %q, %q: %v, %v", pattern, s, list, err)
			}
		}

		e, err := ParseEmail(address)
		if err != nil {
			return
		}
		dom := e.Domain()
		if (DomainAllowlist{}).Admits(e) != true {
			t.Fatal("an empty allowlist refused an address")
		}
		// The address's own domain is a valid pattern; it admits the
		// address, its wildcard does not, the parent's wildcard does.
		own, err := ParseDomainPattern(dom)
		if err != nil || !own.Matches(dom) || !(DomainAllowlist{own}).Admits(e) {
			t.Fatalf("own domain %q: %#v, %v", dom, own, err)
		}
		if w, err := ParseDomainPattern("*." + dom); err != nil || w.Matches(dom) {
			t.Fatalf("*.%s: %#v, %v, matches itself", dom, w, err)
		}
		if _, parent, _ := strings.Cut(dom, "."); strings.Contains(parent, ".") {
			if w, err := ParseDomainPattern("*." + parent); err != nil || !w.Matches(dom) {
				t.Fatalf("*.%s does not admit %q: %v", parent, dom, err)
			}
			if pp, err := ParseDomainPattern(parent); err != nil || pp.Matches(dom) {
				t.Fatalf("plain %q admits subdomain %q (%v)", parent, dom, err)
			}
		}
		if p == (DomainPattern{}) {
			return
		}
		got := p.Matches(dom)
		var want bool
		if p.wildcard {
			want = len(dom) > len(p.domain)+1 && strings.HasSuffix(dom, p.domain) && dom[len(dom)-len(p.domain)-1] == '.'
		} else {
			want = dom == p.domain
		}
		if got != want {
			t.Fatalf("pattern %q (%s) on domain %q: Matches = %v, want %v", pattern, p, dom, got, want)
		}
		if (DomainAllowlist{p}).Admits(e) != got {
			t.Fatalf("Admits and Matches disagree for %q on %q", p, dom)
		}
		for _, spelling := range []string{strings.ToUpper(dom), dom + ".", e.String()[strings.LastIndexByte(e.String(), '@')+1:]} {
			if p.Matches(spelling) != got {
				t.Fatalf("pattern %q: %q and %q match differently", p, dom, spelling)
			}
		}
	})
}
