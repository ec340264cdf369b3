package commands

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"github.com/orgportal/onboarding/domain"
)

// TokenSigner issues and verifies the tokens of one purpose, derived from
// (aggregate id, generation). adapters/tokens' *Signer satisfies it; the
// port uses only built-in types so that this package does not import the
// adapter.
type TokenSigner interface {
	Issue(aggregateID string, generation int) (string, error)
	// Verify returns the aggregate id and generation a token was issued
	// for; any token that does not verify is an error.
	Verify(token string) (aggregateID string, generation int, err error)
}

// TokenService holds one signer per purpose. Each must be bound to its own
// purpose (or key), so that a token of one kind never opens another.
type TokenService struct {
	Invitation      TokenSigner // invitation-<id>, generation of the invitation
	SelfServiceLink TokenSigner // organization id, generation of the link
	Verification    TokenSigner // registration-<id>, verification generation
	PasswordSetup   TokenSigner // user-<id>, password token generation
	PasswordReset   TokenSigner // user-<id>, password token generation
	Session         TokenSigner // session-<id>, always generation 1
}

// PasswordHasher hashes passwords with an adaptive, memory-hard function
// (commands/passwordhash) and verifies them in constant time.
type PasswordHasher interface {
	Hash(password string) (string, error)
	// Verify reports whether password matches encodedHash; an error means
	// the hash itself is unusable.
	Verify(encodedHash, password string) (bool, error)
}

// Config holds the tunables of the use cases. Zero durations mean the
// domain's defaults.
type Config struct {
	// PublicURL is the base of every link handed out ("https://portal.example.com").
	PublicURL        string
	InvitationTTL    time.Duration
	VerificationTTL  time.Duration
	PasswordSetupTTL time.Duration
	PasswordResetTTL time.Duration
	SessionTTL       time.Duration
	// PasswordResetMinDuration is the least time RequestPasswordReset
	// takes, so that the write a known address causes does not show in
	// the answer's timing; DefaultPasswordResetMinDuration when 0.
	PasswordResetMinDuration time.Duration
	// StateCacheStreams bounds how many folded organizations the handlers
	// keep, so that a request reads only the events written since it last
	// loaded the organization: DefaultStateCacheStreams when 0, no cache
	// when negative. StateCacheEvents bounds the events those states were
	// folded from: DefaultStateCacheEvents when 0.
	StateCacheStreams int
	StateCacheEvents  int
	// SessionCacheTTL is how long Authenticate trusts a session (and its
	// account) it has read, without reading them again:
	// DefaultSessionCacheTTL when 0, no cache when negative. A sign-out or
	// member removal through these handlers takes effect at once; one
	// through another process within this time (see sessionCache).
	SessionCacheTTL time.Duration
}

// Deps are the handlers' dependencies; every field but IDs is required.
type Deps struct {
	Store     EventStore
	Clock     func() time.Time
	Tokens    TokenService
	Passwords PasswordHasher
	// IDs returns a fresh unique id (letters, digits, '-', at most 64
	// characters) for new aggregates and sessions; random UUIDs if nil.
	IDs    func() string
	Config Config
}

// Handlers runs the use cases. Build it once with New; it is safe for
// concurrent use.
type Handlers struct {
	store     EventStore
	clock     func() time.Time
	tokens    TokenService
	passwords PasswordHasher
	ids       func() string
	cfg       Config
	sessions  *sessionCache // nil: no cache

	// dummyHash is verified when a sign-in names no usable account, so
	// that an unknown address costs the same time as a wrong password.
	dummyOnce sync.Once
	dummyHash string
}

// New checks the dependencies and returns the handlers.
func New(d Deps) (*Handlers, error) {
	t := d.Tokens
	switch {
	case d.Store == nil:
		return nil, errors.New("commands: an event store is required")
	case d.Clock == nil:
		return nil, errors.New("commands: a clock is required")
	case d.Passwords == nil:
		return nil, errors.New("commands: a password hasher is required")
	case t.Invitation == nil || t.SelfServiceLink == nil || t.Verification == nil ||
		t.PasswordSetup == nil || t.PasswordReset == nil || t.Session == nil:
		return nil, errors.New("commands: a token signer for every purpose is required")
	}
	ids := d.IDs
	if ids == nil {
		ids = randomID
	}
	store := d.Store
	if streams := cmp.Or(d.Config.StateCacheStreams, DefaultStateCacheStreams); streams > 0 {
		events := int64(cmp.Or(d.Config.StateCacheEvents, DefaultStateCacheEvents))
		store = &cachingStore{EventStore: d.Store, states: newStateCache(streams, events)}
	}
	var sessions *sessionCache
	if ttl := cmp.Or(d.Config.SessionCacheTTL, DefaultSessionCacheTTL); ttl > 0 {
		sessions = newSessionCache(ttl)
	}
	return &Handlers{store: store, clock: d.Clock, tokens: t, passwords: d.Passwords, ids: ids, cfg: d.Config, sessions: sessions}, nil
}

// randomID returns a random version-4 UUID.
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Request is what every use case needs to know about the request that
// asked for it: who acts (for administrative use cases, the signed-in
// user's id from Authenticate) and the ids and time recorded in every
// event's metadata. Public use cases (sign-in, accept, register, verify,
// password links) record their own actor: the person's new or existing
// user id, domain.ActorSelfServiceLink or domain.ActorSystem.
type Request struct {
	Actor         domain.Actor
	CorrelationID string // the request id; generated when empty
	CausationID   string // what caused the request; CorrelationID when empty
	Time          time.Time
}

// Result is the answer of a write that needs nothing but its consistency
// token.
type Result struct {
	// Position is the commit position of the last event written, 0 when the
	// command changed nothing (repeated PUTs, idempotent retries).
	Position Position
}

// meta builds the metadata of the events one request writes.
func (h *Handlers) meta(req Request, actor domain.Actor) Metadata {
	if req.CorrelationID == "" {
		req.CorrelationID = h.ids()
	}
	if req.CausationID == "" {
		req.CausationID = req.CorrelationID
	}
	if req.Time.IsZero() {
		req.Time = h.clock()
	}
	return Metadata{Actor: string(actor), CorrelationID: req.CorrelationID, CausationID: req.CausationID, RequestTime: req.Time.UTC()}
}

// withCorrelation fills the request's ids once, so that every append of one
// use case carries the same correlation id.
func (h *Handlers) withCorrelation(req Request) Request {
	if req.CorrelationID == "" {
		req.CorrelationID = h.ids()
	}
	if req.Time.IsZero() {
		req.Time = h.clock()
	}
	return req
}

// verifyToken maps every token that does not verify to the domain error the
// page shows for that kind of link; the reason never reaches the caller.
func verifyToken(s TokenSigner, token string, invalid error) (string, int, error) {
	id, generation, err := s.Verify(token)
	if err != nil {
		return "", 0, invalid
	}
	return id, generation, nil
}

func latest(positions ...Position) Position {
	var p Position
	for _, q := range positions {
		p = max(p, q)
	}
	return p
}

// fieldError files a domain validation error under the request field it
// came from, so that the problem document lists it per field.
func fieldError(field string, err error) error {
	var de *domain.Error
	if errors.As(err, &de) && len(de.Fields) == 0 {
		return de.WithField(field, de.Message)
	}
	return err
}

// fieldCheck is the outcome of checking one request field.
type fieldCheck struct {
	field string
	err   error
}

// checkFields reports every field that failed its check in one error, so
// that one answer names all there is to fix: the first failure's kind,
// code and message (a client that switches on the code sees the same code
// as when that field alone is wrong), with each failed field's message in
// Fields. Nil when every check passed.
func checkFields(checks ...fieldCheck) error {
	var first *domain.Error
	for _, c := range checks {
		if c.err == nil {
			continue
		}
		if first == nil {
			var de *domain.Error
			if !errors.As(fieldError(c.field, c.err), &de) {
				return c.err // not a validation problem: nothing to gather
			}
			first = de
			continue
		}
		first = first.WithField(c.field, reasonOf(c.err))
	}
	if first == nil {
		return nil
	}
	return first
}
