package domain

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Length limits from RFC 5321 §4.5.3.1: a forward-path is at most 256
// octets including the angle brackets, which leaves 254 for the address.
const (
	maxEmailLength       = 254
	maxLocalPartLength   = 64
	maxDomainLength      = 253
	maxDomainLabelLength = 63
)

// Email is a validated address. It keeps the form the person typed (trimmed)
// for display and mail headers, and a normalized key (lower-cased) for every
// comparison, dedup and stream name.
//
// Only ASCII addresses are accepted. Internationalized domains must be
// written in their ASCII (xn--) form; non-ASCII input is refused with a
// reason rather than converted, because a partial IDNA implementation would
// let look-alike domains (a Cyrillic "а" in "exаmple.com") slip past the
// self-service allowlist. Local parts are dot-atoms (RFC 5322 §3.2.3);
// quoted local parts and IP-literal domains are refused as well: nobody
// onboards with them and they complicate every consumer.
type Email struct {
	display string
	key     string
}

// ParseEmail trims, validates and normalizes one address. The error is a
// KindInvalid *Error whose message says what is wrong with it.
func ParseEmail(raw string) (Email, error) {
	s := strings.TrimSpace(raw)
	reason := emailProblem(s)
	if reason != "" {
		return Email{}, Invalid(CodeInvalidEmail, "%s", reason)
	}
	// A fully-qualified domain may end in a dot ("example.com."); it names
	// the same domain, so both forms collapse to one.
	s = strings.TrimSuffix(s, ".")
	return Email{display: s, key: strings.ToLower(s)}, nil
}

// MustParseEmail is for tests and constants; it panics on invalid input.
func MustParseEmail(raw string) Email {
	e, err := ParseEmail(raw)
	if err != nil {
		panic(err)
	}
	return e
}

// String returns the display form.
func (e Email) String() string { return e.display }

// Normalized returns the comparison key: the lower-cased address.
func (e Email) Normalized() string { return e.key }

// Domain returns the lower-cased part after the @.
func (e Email) Domain() string { return e.key[strings.LastIndexByte(e.key, '@')+1:] }

// IsZero reports whether e is the zero value (no address).
func (e Email) IsZero() bool { return e.key == "" }

// MarshalJSON writes the display form; the key is derived again on read.
func (e Email) MarshalJSON() ([]byte, error) { return json.Marshal(e.display) }

// UnmarshalJSON parses and validates the address.
func (e *Email) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	parsed, err := ParseEmail(s)
	if err != nil {
		return err
	}
	*e = parsed
	return nil
}

// emailProblem returns a human explanation of why s is not an acceptable
// address, or "" when it is.
func emailProblem(s string) string {
	if s == "" {
		return "the address is empty"
	}
	for _, r := range s {
		if r >= utf8.RuneSelf {
			return "the address contains non-ASCII characters; internationalized addresses are not supported (write the domain in its xn-- form)"
		}
		if r <= ' ' || r == 0x7f {
			return "the address contains spaces or control characters"
		}
	}
	at := strings.IndexByte(s, '@')
	if at < 0 {
		return "missing @"
	}
	if strings.Count(s, "@") > 1 {
		return "more than one @"
	}
	local, domain := s[:at], strings.TrimSuffix(s[at+1:], ".")
	if local == "" {
		return "nothing before the @"
	}
	if domain == "" {
		return "no domain after the @"
	}
	if len(s) > maxEmailLength {
		return fmt.Sprintf("the address is longer than %d characters", maxEmailLength)
	}
	if len(local) > maxLocalPartLength {
		return fmt.Sprintf("the part before the @ is longer than %d characters", maxLocalPartLength)
	}
	if p := localPartProblem(local); p != "" {
		return p
	}
	return hostnameProblem(domain, "the domain")
}

// localPartProblem checks a dot-atom: atext characters separated by single
// dots.
func localPartProblem(local string) string {
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return "the part before the @ has a dot at its start or end, or two dots in a row"
	}
	for i := 0; i < len(local); i++ {
		if c := local[i]; c != '.' && !isAtext(c) {
			return fmt.Sprintf("the part before the @ contains %q, which is not allowed", c)
		}
	}
	return ""
}

// isAtext reports whether c is an RFC 5322 atext character.
func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// hostnameProblem checks an ASCII host name (without a trailing dot): at
// least two labels of letters, digits and inner hyphens. what names the
// thing in messages ("the domain").
func hostnameProblem(host, what string) string {
	if len(host) > maxDomainLength {
		return fmt.Sprintf("%s is longer than %d characters", what, maxDomainLength)
	}
	if !strings.Contains(host, ".") {
		return what + " has no dot (expected something like example.com)"
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" {
			return what + " has an empty label (two dots in a row, or a leading dot)"
		}
		if len(label) > maxDomainLabelLength {
			return fmt.Sprintf("%s has a part longer than %d characters", what, maxDomainLabelLength)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return what + " has a part that starts or ends with a hyphen"
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return fmt.Sprintf("%s contains %q, which is not allowed", what, c)
			}
		}
	}
	if tld := host[strings.LastIndexByte(host, '.')+1:]; strings.Trim(tld, "0123456789") == "" {
		return what + " ends in a number; IP addresses are not accepted"
	}
	return ""
}
