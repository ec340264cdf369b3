package domain

import (
	"strings"
	"unicode"
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
}

// ParseEmailList splits free text (or several pieces of it, e.g. a JSON
// list) on commas, semicolons and any whitespace including newlines, parses
// each address and drops later duplicates of the same normalized address.
// Invalid addresses stay in the result with their reason, so the caller can
// answer one result per address. It fails as a whole only when there is no
// address at all or more than MaxAddressesPerRequest.
func ParseEmailList(inputs ...string) ([]ListedAddress, error) {
	var tokens []string
	for _, in := range inputs {
		for tok := range strings.FieldsFuncSeq(in, isListSeparator) {
			if len(tokens) == MaxAddressesPerRequest {
				return nil, Invalid(CodeTooManyAddresses,
					"at most %d addresses can be invited at once; split the list into smaller batches", MaxAddressesPerRequest)
			}
			tokens = append(tokens, tok)
		}
	}
	if len(tokens) == 0 {
		return nil, Invalid(CodeNoAddresses, "no email address given; enter one or more addresses separated by commas, semicolons, spaces or new lines")
	}

	result := make([]ListedAddress, 0, len(tokens))
	seen := make(map[string]bool, len(tokens))
	for _, tok := range tokens {
		email, err := ParseEmail(tok)
		if err != nil {
			result = append(result, ListedAddress{Input: tok, Err: err})
			continue
		}
		if seen[email.Normalized()] {
			continue
		}
		seen[email.Normalized()] = true
		result = append(result, ListedAddress{Input: tok, Email: email})
	}
	return result, nil
}

func isListSeparator(r rune) bool {
	return r == ',' || r == ';' || unicode.IsSpace(r)
}
