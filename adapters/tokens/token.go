package tokens

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/orgportal/onboarding/domain"
)

// Purpose says what a token opens. Tokens of one purpose never verify for
// another.
type Purpose string

// The purposes of the links the portal mails.
const (
	PurposeInvitation      Purpose = "invitation"
	PurposeSelfServiceLink Purpose = "self-service-link"
	PurposeVerification    Purpose = "verification"
	PurposePasswordSetup   Purpose = "password-setup"
	PurposePasswordReset   Purpose = "password-reset"
	// PurposeSession signs a sign-in session (Authorization: Bearer and the
	// session cookie); ending the session stream kills it.
	PurposeSession Purpose = "session"
)

// Purposes lists every purpose.
func Purposes() []Purpose {
	return []Purpose{PurposeInvitation, PurposeSelfServiceLink, PurposeVerification, PurposePasswordSetup, PurposePasswordReset, PurposeSession}
}

func (p Purpose) valid() bool {
	switch p {
	case PurposeInvitation, PurposeSelfServiceLink, PurposeVerification, PurposePasswordSetup, PurposePasswordReset, PurposeSession:
		return true
	}
	return false
}

// ErrInvalidToken is returned for every token that does not verify:
// malformed, tampered, signed by an unknown key, or of another purpose. The
// error never contains the token.
var ErrInvalidToken = errors.New("invalid token")

const (
	formatVersion = 1
	keyIDLen      = 4
	macLen        = 16 // 128 bits of HMAC-SHA256
	maxIDLen      = 64 // domain ids are at most 64 characters
	// maxGeneration keeps generations within int on every platform.
	maxGeneration = 1<<31 - 1
	// maxTokenLen bounds what is decoded at all: the longest valid token
	// (64-byte id, 5-byte varint) is 122 characters.
	maxTokenLen = 128
	macLabel    = "orgportal-token\x00"
)

var encoding = base64.RawURLEncoding.Strict()

// fields are what a token carries in clear.
type fields struct {
	keyID       [keyIDLen]byte
	generation  uint64
	aggregateID string
}

// body is the canonical encoding of f, everything before the MAC.
func (f fields) body() []byte {
	b := make([]byte, 0, 1+keyIDLen+binary.MaxVarintLen64+1+len(f.aggregateID)+macLen)
	b = append(b, formatVersion)
	b = append(b, f.keyID[:]...)
	b = binary.AppendUvarint(b, f.generation)
	b = append(b, byte(len(f.aggregateID)))
	return append(b, f.aggregateID...)
}

func mac(secret []byte, purpose Purpose, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(macLabel))
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write(body)
	return h.Sum(nil)[:macLen]
}

// parse decodes a token from the network. It never panics and accepts
// only the canonical encoding; it does not check the MAC.
func parse(token string) (fields, []byte, error) {
	var f fields
	if len(token) == 0 || len(token) > maxTokenLen {
		return f, nil, fmt.Errorf("%w: wrong length", ErrInvalidToken)
	}
	raw, err := encoding.DecodeString(token)
	if err != nil || encoding.EncodeToString(raw) != token {
		// The decoder skips newlines; re-encoding catches those too.
		return f, nil, fmt.Errorf("%w: not base64url", ErrInvalidToken)
	}
	if len(raw) < 1+keyIDLen+1+1+1+macLen || raw[0] != formatVersion {
		return f, nil, fmt.Errorf("%w: unknown format", ErrInvalidToken)
	}
	rest := raw[1:]
	copy(f.keyID[:], rest[:keyIDLen])
	rest = rest[keyIDLen:]
	gen, n := binary.Uvarint(rest)
	if n <= 0 || gen < 1 || gen > maxGeneration {
		return f, nil, fmt.Errorf("%w: bad generation", ErrInvalidToken)
	}
	f.generation = gen
	rest = rest[n:]
	if len(rest) < 1 {
		return f, nil, fmt.Errorf("%w: truncated", ErrInvalidToken)
	}
	idLen := int(rest[0])
	rest = rest[1:]
	if idLen < 1 || idLen > maxIDLen || len(rest) != idLen+macLen {
		return f, nil, fmt.Errorf("%w: bad length", ErrInvalidToken)
	}
	f.aggregateID = string(rest[:idLen])
	if _, err := domain.ParseID[string](f.aggregateID); err != nil {
		return f, nil, fmt.Errorf("%w: bad id", ErrInvalidToken)
	}
	sum := rest[idLen:]
	// A non-minimal varint decodes to the same generation; refuse it so
	// that a token has one spelling.
	if body := f.body(); len(body)+macLen != len(raw) || !bytes.Equal(body, raw[:len(body)]) {
		return f, nil, fmt.Errorf("%w: not canonical", ErrInvalidToken)
	}
	return f, sum, nil
}

func encode(f fields, sum []byte) string {
	return encoding.EncodeToString(append(f.body(), sum...))
}
