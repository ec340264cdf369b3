package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"
)

// LoginAccount is one account an address can sign in to.
type LoginAccount struct {
	UserID UserID
	OrgID  OrgID
}

// LoginState is the global sign-in index of one normalized address,
// folded from its login stream (see LoginStream). Sign-in gives only an
// address, no organization, and accounts live in per-organization streams,
// so this index is how sign-in and password reset find them. One address
// may hold accounts in several organizations; they are listed in the order
// they were linked.
type LoginState struct {
	Accounts []LoginAccount
}

// LoginCommand is a command decided by DecideLogin.
type LoginCommand interface{ loginCommand() }

// LinkLoginAccount adds an account to the address's index, once it exists.
type LinkLoginAccount struct {
	UserID UserID
	OrgID  OrgID
}

// UnlinkLoginAccount removes a closed account from the index.
type UnlinkLoginAccount struct {
	UserID UserID
}

func (LinkLoginAccount) loginCommand()   {}
func (UnlinkLoginAccount) loginCommand() {}

// DecideLogin decides a command against one address's index. Linking an
// account twice or unlinking one that is not there records nothing, so the
// command layer can repeat either after a failure.
func DecideLogin(s LoginState, cmd LoginCommand, _ time.Time) ([]Event, error) {
	switch c := cmd.(type) {
	case LinkLoginAccount:
		if c.UserID == "" || c.OrgID == "" {
			return nil, Invalid(CodeValidationFailed, "user and organization ids are required to link an account")
		}
		if s.index(c.UserID) >= 0 {
			return nil, nil
		}
		return []Event{LoginAccountLinked{UserID: c.UserID, OrgID: c.OrgID}}, nil
	case UnlinkLoginAccount:
		i := s.index(c.UserID)
		if i < 0 {
			return nil, nil
		}
		return []Event{LoginAccountUnlinked{UserID: c.UserID, OrgID: s.Accounts[i].OrgID}}, nil
	}
	return nil, Invalid(CodeValidationFailed, "unsupported login command %T", cmd)
}

func (s LoginState) index(id UserID) int {
	return slices.IndexFunc(s.Accounts, func(a LoginAccount) bool { return a.UserID == id })
}

// EvolveLogin applies one event to an address's index.
func EvolveLogin(s LoginState, e Event) LoginState {
	switch e := e.(type) {
	case LoginAccountLinked:
		if s.index(e.UserID) < 0 {
			s.Accounts = append(s.Accounts, LoginAccount{UserID: e.UserID, OrgID: e.OrgID})
		}
	case LoginAccountUnlinked:
		if i := s.index(e.UserID); i >= 0 {
			s.Accounts = slices.Delete(slices.Clone(s.Accounts), i, i+1)
		}
	}
	return s
}

// LoginStream names the sign-in index of one address. Like the membership
// stream it is named by a SHA-256 so that no address appears in a stream
// name; unlike it, it is global (no organization in the key).
func LoginStream(email Email) StreamName {
	return NewStreamName(CategoryLogin, LoginKey(email))
}

// LoginKey is the id part of LoginStream.
func LoginKey(email Email) string {
	sum := sha256.Sum256([]byte("login\x00" + email.Normalized()))
	return hex.EncodeToString(sum[:])
}
