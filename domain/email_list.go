package domain

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxAddressesPerRequest bounds one invitation request. The limit counts
// every address given, valid or not, before dedup, so that a huge paste is
// refused before any work is done for it.
const MaxAddressesPerRequest = 500

// ListedAddress is one entry of a parsed address list: the text as given
// and either the parsed Email or the reason it was refused.
type ListedAddress struct {
	Input string
	Email Email // zero when Err is set
	Err   error // a KindInvalid *Error; nil when the address is valid
	// Name is the display name pasted before a bracketed address ("Ann
	// Smith" of `Ann Smith <ann@example.org>`), unquoted; empty when there
	// was none or it is not a valid person's name (ParsePersonName).
	Name string
}

// ParseEmailList splits free text (or several pieces of it, e.g. a JSON
// list) into addresses, parses each and drops later duplicates of the same
// normalized address. Invalid addresses stay in the result with their
// reason, so the caller can answer one result per address. It fails as a
// whole only when there is no address at all or more than
// MaxAddressesPerRequest.
//
// Addresses are separated by commas, semicolons and any whitespace
// including newlines. What people paste from a mail client's To: line is
// understood too: an address in angle brackets after a display name
// (`Ann Smith <ann@example.org>`, `"Doe, Jane" <jane@example.org>`) is one
// entry whose Input is the whole text and whose address is the bracketed
// one (its display name is kept in Name), and a `mailto:` in front of an
// address is dropped.
func ParseEmailList(inputs ...string) ([]ListedAddress, error) {
	var entries []listEntry
	for _, in := range inputs {
		for e := range listEntries(in) {
			if len(entries) == MaxAddressesPerRequest {
				return nil, Invalid(CodeTooManyAddresses,
					"at most %d addresses can be invited at once; split the list into smaller batches", MaxAddressesPerRequest)
			}
			entries = append(entries, e)
		}
	}
	if len(entries) == 0 {
		return nil, Invalid(CodeNoAddresses, "no email address given; enter one or more addresses separated by commas, semicolons, spaces or new lines")
	}

	result := make([]ListedAddress, 0, len(entries))
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		email, err := ParseEmail(e.address)
		if err != nil && strings.HasPrefix(e.address, "<") && !strings.Contains(e.address, ">") {
			err = Invalid(CodeInvalidEmail, "the '<' before the address is not closed with '>'")
		}
		if err != nil {
			result = append(result, ListedAddress{Input: e.input, Err: err})
			continue
		}
		if seen[email.Normalized()] {
			continue
		}
		seen[email.Normalized()] = true
		name, err := ParsePersonName(e.name)
		if err != nil {
			name = "" // a hint only: the invitee enters their name anyway
		}
		result = append(result, ListedAddress{Input: e.input, Email: email, Name: name})
	}
	return result, nil
}

func isListSeparator(r rune) bool {
	return r == ',' || r == ';' || unicode.IsSpace(r)
}

// listToken is one lexeme of an address list: a quoted display name
// ("Doe, Jane"), an address in angle brackets, or a bare word (an address,
// or a word of a display name when it has no @).
type listToken struct {
	start, end int    // the token's text is in[start:end]
	angle      string // the bracketed address (trimmed), when bracketed
	bracketed  bool
	quoted     bool
}

// listEntry is one entry of list text: the text as given, the address in
// it and the display name before it (unquoted, words joined by a space).
type listEntry struct{ input, address, name string }

// listEntries yields the entries of one piece of list text. A run of
// display-name words followed by an address in angle brackets is one
// entry; other words are entries of their own (those without an @ then
// fail ParseEmail with "missing @", as before display names were
// understood). A comma or semicolon ends a display name; whitespace does
// not. Words waiting to be a display name are bounded too: more of them
// than a request may hold addresses are given out as entries at once.
func listEntries(in string) func(yield func(listEntry) bool) {
	return func(yield func(listEntry) bool) {
		var names []listToken // display-name words waiting for an <address>
		flush := func() bool {
			for _, n := range names {
				if !yield(listEntry{input: in[n.start:n.end], address: in[n.start:n.end]}) {
					return false
				}
			}
			names = names[:0]
			return true
		}
		for i := 0; i < len(in); {
			r, size := utf8.DecodeRuneInString(in[i:])
			switch {
			case r == ',' || r == ';':
				if !flush() {
					return
				}
				i += size
				continue
			case unicode.IsSpace(r):
				i += size
				continue
			}
			tok := lexListToken(in, i)
			i = tok.end
			switch {
			case tok.bracketed:
				e := listEntry{input: in[tok.start:tok.end], address: stripMailto(tok.angle)}
				if len(names) > 0 {
					e.input = in[names[0].start:tok.end]
					e.name = displayName(in, names)
				}
				names = names[:0]
				if !yield(e) {
					return
				}
			case tok.quoted || !strings.Contains(in[tok.start:tok.end], "@"):
				names = append(names, tok)
				if len(names) > MaxAddressesPerRequest && !flush() {
					return
				}
			default:
				if !flush() {
					return
				}
				word := in[tok.start:tok.end]
				if !yield(listEntry{input: word, address: stripMailto(word)}) {
					return
				}
			}
		}
		flush()
	}
}

// lexListToken reads the token that starts at in[i] (not a separator).
// A quote or an angle bracket left open makes the rest of its word a bare
// word, which ParseEmail then refuses with the character named.
func lexListToken(in string, i int) listToken {
	switch in[i] {
	case '"':
	quoted:
		for j := i + 1; j < len(in); j++ {
			switch in[j] {
			case '\\':
				j++
			case '"':
				// Like brackets, a quoted name ends at a separator or
				// an '<'; `"x"@example.com` is one bare word.
				r, _ := utf8.DecodeRuneInString(in[j+1:])
				if j+1 == len(in) || isListSeparator(r) || r == '<' {
					return listToken{start: i, end: j + 1, quoted: true}
				}
				break quoted
			}
		}
	case '<':
		// Brackets count when a separator (or the end) follows them:
		// text glued after the '>' makes the whole a bare word.
		if j := strings.IndexAny(in[i+1:], "<>"); j >= 0 && in[i+1+j] == '>' {
			end := i + j + 2
			if r, _ := utf8.DecodeRuneInString(in[end:]); end == len(in) || isListSeparator(r) {
				return listToken{start: i, end: end, angle: strings.TrimSpace(in[i+1 : end-1]), bracketed: true}
			}
		}
	}
	end := i
	for end < len(in) {
		r, size := utf8.DecodeRuneInString(in[end:])
		if isListSeparator(r) || (end > i && in[end] == '<') {
			break
		}
		end += size
	}
	return listToken{start: i, end: end}
}

// displayName joins the words of a display name with single spaces,
// taking quoted ones out of their quotes (a backslash escapes the next
// character).
func displayName(in string, words []listToken) string {
	var b strings.Builder
	for i, w := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		text := in[w.start:w.end]
		if !w.quoted {
			b.WriteString(text)
			continue
		}
		text = text[1 : len(text)-1]
		for j := 0; j < len(text); j++ {
			if text[j] == '\\' && j+1 < len(text) {
				j++
			}
			b.WriteByte(text[j])
		}
	}
	return b.String()
}

// stripMailto drops a mailto: scheme in front of an address (any case).
func stripMailto(s string) string {
	if len(s) > len("mailto:") && strings.EqualFold(s[:len("mailto:")], "mailto:") {
		return s[len("mailto:"):]
	}
	return s
}
