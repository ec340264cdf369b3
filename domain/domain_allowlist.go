package domain

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxAllowedDomains bounds the self-service link's allowlist.
const MaxAllowedDomains = 100

// DomainPattern is one allowlist entry: either an exact domain
// ("example.com") or a wildcard for its subdomains ("*.example.com").
//
// Matching is on whole labels, case-insensitive, against the part after the
// @: "example.com" admits neither "a.example.com" nor "evil-example.com";
// "*.example.com" admits "a.example.com" and "b.a.example.com" but not
// "example.com" itself (list both when both are meant) and never
// "example.com.evil.io". Like addresses, patterns must be ASCII; an
// internationalized domain is listed in its xn-- form, which is the form
// an address must use too, so look-alike characters can never match.
type DomainPattern struct {
	domain   string // lower-case, no trailing dot, no "*." prefix
	wildcard bool
}

// ParseDomainPattern accepts "example.com", "*.example.com", and forgives
// surrounding spaces, upper case, a leading "@" and a trailing dot.
func ParseDomainPattern(raw string) (DomainPattern, error) {
	s := strings.ToLower(strings.TrimSpace(raw))
	s = strings.TrimPrefix(s, "@")
	s = strings.TrimSuffix(s, ".")
	invalid := func(format string, args ...any) (DomainPattern, error) {
		return DomainPattern{}, Invalid(CodeInvalidDomain, "%q: %s", raw, fmt.Sprintf(format, args...))
	}
	if s == "" {
		return invalid("the domain is empty")
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r >= utf8.RuneSelf }) {
		return invalid("non-ASCII domains are not supported; enter the xn-- form")
	}
	if strings.Contains(s, "@") {
		return invalid("enter only the domain, without the part before the @")
	}
	p := DomainPattern{domain: s}
	if rest, ok := strings.CutPrefix(s, "*."); ok {
		p = DomainPattern{domain: rest, wildcard: true}
	}
	if strings.Contains(p.domain, "*") {
		return invalid("a wildcard is only allowed as a leading \"*.\"")
	}
	if problem := hostnameProblem(p.domain, "the domain"); problem != "" {
		return invalid("%s", problem)
	}
	return p, nil
}

// Matches reports whether the (lower-case, ASCII) domain of an address is
// admitted by this pattern.
func (p DomainPattern) Matches(domain string) bool {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	if p.wildcard {
		return strings.HasSuffix(domain, "."+p.domain)
	}
	return domain == p.domain
}

// String returns the canonical form, as stored in events.
func (p DomainPattern) String() string {
	if p.wildcard {
		return "*." + p.domain
	}
	return p.domain
}

// DomainAllowlist is the self-service link's list of admitted domains. An
// empty list admits every domain: the link itself is then the only secret,
// which is what an organization gets by default when it is created.
type DomainAllowlist []DomainPattern

// ParseDomainAllowlist parses every entry, reports all bad ones at once
// (field "allowedDomains[i]"), and drops duplicates.
func ParseDomainAllowlist(raw []string) (DomainAllowlist, error) {
	if len(raw) > MaxAllowedDomains {
		return nil, Invalid(CodeInvalidDomain, "at most %d allowed domains can be listed", MaxAllowedDomains).
			WithField("allowedDomains", fmt.Sprintf("%d entries given, at most %d allowed", len(raw), MaxAllowedDomains))
	}
	list := make(DomainAllowlist, 0, len(raw))
	seen := make(map[DomainPattern]bool, len(raw))
	problems := fieldErrors{}
	for i, entry := range raw {
		p, err := ParseDomainPattern(entry)
		if err != nil {
			problems.add(fmt.Sprintf("allowedDomains[%d]", i), err)
			continue
		}
		if !seen[p] {
			seen[p] = true
			list = append(list, p)
		}
	}
	if err := problems.err(CodeInvalidDomain, "some allowed domains are not valid; use forms like example.com or *.example.com"); err != nil {
		return nil, err
	}
	return list, nil
}

// Admits reports whether the address's domain is allowed.
func (l DomainAllowlist) Admits(e Email) bool {
	if len(l) == 0 {
		return true
	}
	for _, p := range l {
		if p.Matches(e.Domain()) {
			return true
		}
	}
	return false
}

// Strings returns the canonical forms, in order.
func (l DomainAllowlist) Strings() []string {
	out := make([]string, len(l))
	for i, p := range l {
		out[i] = p.String()
	}
	return out
}
