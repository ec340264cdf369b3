package domain

import (
	"strings"
	"testing"
)

func TestParsePersonName(t *testing.T) {
	for raw, want := range map[string]string{
		"  Nina Müller ":                "Nina Müller",
		"<script>alert(1)</script>":     "<script>alert(1)</script>", // stored verbatim; escaping is the renderer's job
		"Robert'); DROP TABLE users;--": "Robert'); DROP TABLE users;--",
	} {
		if got, err := ParsePersonName(raw); err != nil || got != want {
			t.Errorf("ParsePersonName(%q) = %q, %v", raw, got, err)
		}
	}
	for _, bad := range []string{"", "   ", "a\nb", "a\x00b", strings.Repeat("é", MaxPersonNameLength+1), "\xff"} {
		if _, err := ParsePersonName(bad); CodeOf(err) != CodeInvalidName {
			t.Errorf("ParsePersonName(%q) = %v", bad, err)
		}
	}
	if _, err := ParsePersonName(strings.Repeat("é", MaxPersonNameLength)); err != nil {
		t.Errorf("a name of exactly the maximum length was refused: %v", err)
	}
	if _, err := ParseOrganizationName(strings.Repeat("x", MaxOrganizationNameLength+1)); CodeOf(err) != CodeInvalidName {
		t.Errorf("an overlong organization name was accepted: %v", err)
	}
}

func TestCheckPassword(t *testing.T) {
	nina := MustParseEmail("Nina.Smith@acme.test")
	for _, tc := range []struct {
		password string
		ok       bool
	}{
		{"correct horse battery", true},
		{"short", false},
		{"elevenchars", false},
		{"twelve chars", true},
		{"ééééééééééé", false}, // 11 runes, 22 bytes: runes count
		{strings.Repeat("x", MaxPasswordLength+1), false},
		{"my nina.smith password", false},
		{"NINA.SMITH@ACME.TEST!", false},
		{"nina smith is great", true}, // the local part with its dot is what is checked
	} {
		err := CheckPassword(tc.password, nina)
		if (err == nil) != tc.ok {
			t.Errorf("CheckPassword(%q) = %v, want ok=%v", tc.password, err, tc.ok)
		}
		if err != nil && CodeOf(err) != CodeWeakPassword {
			t.Errorf("CheckPassword(%q) code %q", tc.password, CodeOf(err))
		}
	}
	if err := CheckPassword("a fine password", MustParseEmail("ab@acme.test")); err != nil {
		t.Errorf("a very short local part must not block passwords containing it: %v", err)
	}
}
