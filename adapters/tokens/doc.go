// Package tokens derives the secret tokens that links in mails carry
// (invitations, the self-service link, email verification, password setup
// and reset) from a server key, so that no token is ever stored: events
// keep only the aggregate id and a generation, and bumping the generation
// (resend, rotate, new reset) kills every older token.
//
// # Token format (version 1)
//
// A token is the unpadded base64url encoding of
//
//	1 byte    format version (1)
//	4 bytes   key id (which server key signed it)
//	uvarint   generation (1 or more)
//	1 byte    length n of the aggregate id (1..64)
//	n bytes   aggregate id
//	16 bytes  MAC
//
// where MAC is HMAC-SHA256 under the key, truncated to its first 128 bits,
// over "orgportal-token\x00" ‖ purpose ‖ "\x00" ‖ every byte before the MAC.
// The id and generation travel in clear (they are not secret; a link like
// /invite/{token} carries nothing else), the purpose does not: the verifier
// supplies it, so a token issued for one purpose never verifies for another.
// For a UUID id the token is 79 characters.
//
// 128 bits is the floor the architecture asks for and the usual truncation
// of HMAC-SHA256: forging means guessing 2^128 values online, against rate
// limits. Keeping the token short keeps links intact in mail clients.
// The MAC is compared with hmac.Equal (constant time), and parsing refuses
// every encoding but the canonical one, so each (key, purpose, id,
// generation) has exactly one token.
//
// # Keys
//
// Keys live outside the event store. LoadOrCreateKeyring reads them from
// <data dir>/keys/token-keys.json (generating a 32-byte random key there on
// first start, mode 0600 in a 0700 directory) unless keys are configured,
// which then replace the file entirely. A keyring holds several keys for
// rotation: the newest signs, all verify; removing a key kills every token
// it signed.
package tokens
