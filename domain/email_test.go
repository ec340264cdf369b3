package domain

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseEmail_NormalizesAndKeepsDisplayForm(t *testing.T) {
	for _, tc := range []struct {
		in, display, normalized, domain string
	}{
		{"alice@example.com", "alice@example.com", "alice@example.com", "example.com"},
		{"  Alice.Smith@Example.COM \n", "Alice.Smith@Example.COM", "alice.smith@example.com", "example.com"},
		{"bob+tag@sub.example.co.uk", "bob+tag@sub.example.co.uk", "bob+tag@sub.example.co.uk", "sub.example.co.uk"},
		{"carol@example.com.", "carol@example.com", "carol@example.com", "example.com"},
		{"o'brien@xn--mnchen-3ya.de", "o'brien@xn--mnchen-3ya.de", "o'brien@xn--mnchen-3ya.de", "xn--mnchen-3ya.de"},
		{"{weird}!#$%&*=?^_`|~@example.com", "{weird}!#$%&*=?^_`|~@example.com", "{weird}!#$%&*=?^_`|~@example.com", "example.com"},
	} {
		e, err := ParseEmail(tc.in)
		if err != nil {
			t.Errorf("ParseEmail(%q): %v", tc.in, err)
			continue
		}
		if e.String() != tc.display || e.Normalized() != tc.normalized || e.Domain() != tc.domain {
			t.Errorf("ParseEmail(%q) = %q / %q / %q, want %q / %q / %q",
				tc.in, e.String(), e.Normalized(), e.Domain(), tc.display, tc.normalized, tc.domain)
		}
	}
}

func TestParseEmail_RefusesWithAReason(t *testing.T) {
	long := strings.Repeat("a", 64)
	for _, tc := range []struct {
		in, reason string
	}{
		{"", "empty"},
		{"   ", "empty"},
		{"alice.example.com", "missing @"},
		{"alice@bob@example.com", "more than one @"},
		{"@example.com", "nothing before the @"},
		{"alice@", "no domain after the @"},
		{"alice@localhost", "has no dot"},
		{"alice@example..com", "empty label"},
		{"alice@.example.com", "empty label"},
		{"alice@-example.com", "hyphen"},
		{"alice@exa_mple.com", "'_'"},
		{"alice@127.0.0.1", "IP addresses"},
		{"alice@[127.0.0.1]", "not allowed"},
		{".alice@example.com", "dot at its start or end"},
		{"alice.@example.com", "dot at its start or end"},
		{"al..ice@example.com", "two dots in a row"},
		{`"alice"@example.com`, `'"'`},
		{"al ice@example.com", "spaces"},
		{"alice@exam\tple.com", "spaces or control"},
		{"<script>@example.com", `'<'`},
		{"alice@exаmple.com", "non-ASCII"}, // Cyrillic а
		{"jörg@example.com", "non-ASCII"},
		{long + "a@example.com", "longer than 64"},
		{"a@" + strings.Repeat("b", 64) + ".com", "longer than 63"},
		{long + "@" + strings.Repeat(strings.Repeat("b", 60)+".", 4) + "com", "longer than 254"},
	} {
		_, err := ParseEmail(tc.in)
		if err == nil {
			t.Errorf("ParseEmail(%q) accepted", tc.in)
			continue
		}
		if !IsKind(err, KindInvalid) || CodeOf(err) != CodeInvalidEmail {
			t.Errorf("ParseEmail(%q): want invalid/%s, got %v", tc.in, CodeInvalidEmail, err)
		}
		if !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("ParseEmail(%q) = %q, want the reason to mention %q", tc.in, err, tc.reason)
		}
	}
}

func TestParseEmail_LengthLimitsAreInclusive(t *testing.T) {
	local := strings.Repeat("a", 64)
	// 64 + 1 + 189 = 254 octets: the longest address RFC 5321 allows.
	domain := strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 57) + ".com"
	addr := local + "@" + domain
	if len(addr) != 254 {
		t.Fatalf("test address has %d octets", len(addr))
	}
	if _, err := ParseEmail(addr); err != nil {
		t.Fatalf("254-octet address refused: %v", err)
	}
	if _, err := ParseEmail("a" + addr); err == nil {
		t.Fatal("255-octet address accepted")
	}
}

func TestEmail_JSONRoundTrip(t *testing.T) {
	e := MustParseEmail("Alice@Example.com")
	data, err := json.Marshal(e)
	if err != nil || string(data) != `"Alice@Example.com"` {
		t.Fatalf("marshal: %s %v", data, err)
	}
	var back Email
	if err := json.Unmarshal(data, &back); err != nil || back != e {
		t.Fatalf("unmarshal: %+v %v", back, err)
	}
	if err := json.Unmarshal([]byte(`"not an address"`), &back); !IsKind(err, KindInvalid) {
		t.Fatalf("invalid address unmarshalled: %v", err)
	}
}

// listed writes a parsed list as "invalid:<input>" and the address (with
// withInput, "<input>=<address>") per entry.
func listed(list []ListedAddress, withInput bool) []string {
	var got []string
	for _, entry := range list {
		switch {
		case entry.Err != nil:
			got = append(got, "invalid:"+entry.Input)
		case withInput:
			got = append(got, entry.Input+"="+entry.Email.String())
		default:
			got = append(got, entry.Email.String())
		}
	}
	return got
}

func TestParseEmailList(t *testing.T) {
	list, err := ParseEmailList("a@x.test, B@X.test;c@x.test\n\td@x.test  bad-one\r\nA@x.test;;,", "e@x.test f@x.test", "b@x.test")
	if err != nil {
		t.Fatal(err)
	}
	got := listed(list, false)
	want := []string{"a@x.test", "B@X.test", "c@x.test", "d@x.test", "invalid:bad-one", "e@x.test", "f@x.test"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
	if CodeOf(list[4].Err) != CodeInvalidEmail || !strings.Contains(list[4].Err.Error(), "missing @") {
		t.Fatalf("invalid entry carries no reason: %v", list[4].Err)
	}
}

// What a mail client's To: line holds, pasted as it is: display names
// before bracketed addresses (quoted ones may hold commas), mailto: links.
func TestParseEmailList_DisplayNamesAndMailto(t *testing.T) {
	list, err := ParseEmailList(
		`Ann Smith <ann@x.test>; "Doe, Jane" <jane@x.test>, <bob@x.test> mailto:Carl@x.test`,
		"Eve <eve@x.test>\nann@x.test\n\"O'Brien, Pat\" <MAILTO:pat@x.test>",
		`"x"@x.test <svg>"@x.test`,
		"Broken <nope@x> Lone Words, <> unclosed <zed@x.test",
	)
	if err != nil {
		t.Fatal(err)
	}
	got := listed(list, true)
	want := []string{
		"Ann Smith <ann@x.test>=ann@x.test",
		`"Doe, Jane" <jane@x.test>=jane@x.test`,
		"<bob@x.test>=bob@x.test",
		"mailto:Carl@x.test=Carl@x.test",
		"Eve <eve@x.test>=eve@x.test",
		// ann@x.test again: a duplicate, dropped
		`"O'Brien, Pat" <MAILTO:pat@x.test>=pat@x.test`,
		`invalid:"x"@x.test`, `invalid:<svg>"@x.test`, // glued to the quote or bracket: one word each
		"invalid:Broken <nope@x>",
		"invalid:Lone", "invalid:Words", // words without an address: each refused as before
		"invalid:<>",
		"invalid:unclosed", "invalid:<zed@x.test", // the bracket left open is named
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	for _, entry := range list {
		if entry.Err != nil && (CodeOf(entry.Err) != CodeInvalidEmail || entry.Err.Error() == "") {
			t.Errorf("%q: %v", entry.Input, entry.Err)
		}
	}
	var names []string
	for _, entry := range list[:6] {
		names = append(names, entry.Name)
	}
	if want := []string{"Ann Smith", "Doe, Jane", "", "", "Eve", "O'Brien, Pat"}; strings.Join(names, "|") != strings.Join(want, "|") {
		t.Errorf("display names %q, want %q", names, want)
	}
	if last := list[len(list)-1]; !strings.Contains(last.Err.Error(), "not closed with '>'") {
		t.Errorf("an open bracket is refused with %q", last.Err)
	}
}

// A display name is a hint: one that is no valid person's name is dropped,
// the address is still listed; quotes and escapes are taken out.
func TestParseEmailList_DisplayNameHints(t *testing.T) {
	long := strings.Repeat("n", MaxPersonNameLength+1)
	list, err := ParseEmailList(long+` <a@x.test>, "say \"hi\"" <b@x.test>, "  " <c@x.test>`, "\"tab\there\" <d@x.test>")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, entry := range list {
		if entry.Err != nil {
			t.Fatalf("%q: %v", entry.Input, entry.Err)
		}
		got = append(got, entry.Email.String()+"="+entry.Name)
	}
	want := []string{"a@x.test=", `b@x.test=say "hi"`, "c@x.test=", "d@x.test="}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestParseEmailList_Limits(t *testing.T) {
	many := func(n int) string {
		var b strings.Builder
		for i := range n {
			b.WriteString("user")
			b.WriteString(strings.Repeat("x", i%7))
			b.WriteString("@example.com,")
		}
		return b.String()
	}
	if _, err := ParseEmailList(many(MaxAddressesPerRequest)); err != nil {
		t.Fatalf("%d addresses refused: %v", MaxAddressesPerRequest, err)
	}
	if _, err := ParseEmailList(many(MaxAddressesPerRequest + 1)); CodeOf(err) != CodeTooManyAddresses || !IsKind(err, KindInvalid) {
		t.Fatalf("501 addresses: %v", err)
	}
	if _, err := ParseEmailList(many(10_000)); CodeOf(err) != CodeTooManyAddresses {
		t.Fatalf("10,000 addresses: %v", err)
	}
	for _, empty := range [][]string{nil, {""}, {" ,;\n"}} {
		if _, err := ParseEmailList(empty...); CodeOf(err) != CodeNoAddresses {
			t.Fatalf("ParseEmailList(%q): %v", empty, err)
		}
	}
}

// Words that never reach an address are refused as early as addresses
// are: the limit holds before the end of the text is read.
func TestParseEmailList_LimitCountsWordsWithoutAddress(t *testing.T) {
	words := strings.Repeat("word ", 100_000)
	if _, err := ParseEmailList(words); CodeOf(err) != CodeTooManyAddresses {
		t.Fatalf("100,000 words: %v", err)
	}
	if list, err := ParseEmailList(strings.Repeat("w ", MaxAddressesPerRequest-1) + "<a@x.test>"); err != nil || len(list) != 1 || list[0].Err != nil {
		t.Fatalf("a display name of %d words: %v", MaxAddressesPerRequest-1, err)
	}
}
