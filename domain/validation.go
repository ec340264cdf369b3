package domain

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits for free-text names. Names are stored and returned verbatim
// (markup included): escaping is the job of whoever renders them.
const (
	MaxPersonNameLength       = 200
	MaxOrganizationNameLength = 100
)

// Password policy. The minimum follows NIST SP 800-63B's advice to prefer
// length over composition rules; the maximum only bounds hashing work.
const (
	MinPasswordLength = 12
	MaxPasswordLength = 256
)

// ParsePersonName trims and checks a person's display name.
func ParsePersonName(raw string) (string, error) {
	return parseName(raw, MaxPersonNameLength, "name")
}

// ParseOrganizationName trims and checks an organization's name.
func ParseOrganizationName(raw string) (string, error) {
	return parseName(raw, MaxOrganizationNameLength, "organization name")
}

func parseName(raw string, maxLen int, what string) (string, error) {
	s := strings.TrimSpace(raw)
	switch {
	case !utf8.ValidString(s):
		return "", Invalid(CodeInvalidName, "the %s is not valid UTF-8 text", what)
	case s == "":
		return "", Invalid(CodeInvalidName, "the %s is empty; enter one", what)
	case utf8.RuneCountInString(s) > maxLen:
		return "", Invalid(CodeInvalidName, "the %s is longer than %d characters; shorten it", what, maxLen)
	case strings.ContainsFunc(s, unicode.IsControl):
		return "", Invalid(CodeInvalidName, "the %s contains control characters or line breaks; remove them", what)
	}
	return s, nil
}

// CheckPassword applies the password policy before the command layer hashes
// the password: a length window, and no password built from the person's
// own address, the first thing an attacker tries.
func CheckPassword(password string, email Email) error {
	n := utf8.RuneCountInString(password)
	switch {
	case !utf8.ValidString(password):
		return Invalid(CodeWeakPassword, "the password is not valid UTF-8 text")
	case n < MinPasswordLength:
		return Invalid(CodeWeakPassword, "the password must be at least %d characters long", MinPasswordLength)
	case len(password) > MaxPasswordLength:
		return Invalid(CodeWeakPassword, "the password must be at most %d bytes long", MaxPasswordLength)
	}
	if email.IsZero() {
		return nil
	}
	lower := strings.ToLower(password)
	local := email.Normalized()[:strings.IndexByte(email.Normalized(), '@')]
	if strings.Contains(lower, email.Normalized()) || (len(local) >= 4 && strings.Contains(lower, local)) {
		return Invalid(CodeWeakPassword, "the password must not contain your email address; choose something unrelated to it")
	}
	return nil
}
