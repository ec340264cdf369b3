package commands

import (
	"context"
	"time"

	"github.com/orgportal/onboarding/domain"
)

// SignInInput is what POST /session receives.
type SignInInput struct {
	Email    string
	Password string
	// OrgID optionally picks the organization when the address has
	// accounts in several; otherwise the first account (oldest link)
	// whose password matches is signed in.
	OrgID domain.OrgID
}

// SignInResult is a started session. Token is the bearer token and the
// cookie value; it is derived from SessionID and never stored.
type SignInResult struct {
	Token     string
	SessionID domain.SessionID
	UserID    domain.UserID
	OrgID     domain.OrgID
	ExpiresAt time.Time
	Position  Position
}

// Principal is who a valid session token belongs to.
type Principal struct {
	SessionID domain.SessionID
	UserID    domain.UserID
	OrgID     domain.OrgID
	ExpiresAt time.Time
}

// maxAccountsTried bounds the password verifications of one sign-in (one
// per account of the address), so an address linked to many accounts
// cannot make sign-in arbitrarily expensive.
const maxAccountsTried = 5

// noAccount is a user id no account ever has (ids are random UUIDs).
const noAccount domain.UserID = "00000000-0000-0000-0000-000000000000"

func invalidCredentials() error {
	return domain.Unauthenticated(domain.CodeInvalidCredentials, "the email address or password is not correct")
}

// SignIn checks an address and password and starts a session. Unknown
// address, closed account, account without a password and wrong password
// all give the same invalid_credentials error after the same amount of
// hashing work, so the answer does not tell which addresses have accounts.
func (h *Handlers) SignIn(ctx context.Context, req Request, in SignInInput) (SignInResult, error) {
	req = h.withCorrelation(req)
	email, err := domain.ParseEmail(in.Email)
	if err != nil || in.Password == "" || len(in.Password) > domain.MaxPasswordLength {
		h.verifyDummy(in.Password)
		return SignInResult{}, invalidCredentials()
	}
	index, _, err := load(ctx, h.store, domain.LoginStream(email), domain.EvolveLogin)
	if err != nil {
		return SignInResult{}, err
	}
	var match *domain.AccountState
	verified := 0
	for _, acc := range index.Accounts {
		if verified == maxAccountsTried || match != nil {
			break
		}
		if in.OrgID != "" && acc.OrgID != in.OrgID {
			continue
		}
		account, _, err := load(ctx, h.store, domain.UserStream(acc.UserID), domain.EvolveAccount)
		if err != nil {
			return SignInResult{}, err
		}
		if !account.CanSignIn() {
			continue
		}
		verified++
		ok, err := h.passwords.Verify(account.PasswordHash, in.Password)
		if err != nil {
			return SignInResult{}, err
		}
		if ok {
			match = &account
		}
	}
	if match == nil {
		if len(index.Accounts) == 0 {
			// An address with an account costs a read of the account's
			// stream; an unknown one costs the same read, of a stream
			// that never exists, so the round trip does not tell them
			// apart.
			if _, _, err := load(ctx, h.store, domain.UserStream(noAccount), domain.EvolveAccount); err != nil {
				return SignInResult{}, err
			}
		}
		if verified == 0 {
			h.verifyDummy(in.Password)
		}
		return SignInResult{}, invalidCredentials()
	}

	id := domain.SessionID(h.ids())
	meta := h.meta(req, domain.UserActor(match.ID))
	state, pos, err := updateNew(ctx, h.store, domain.SessionStream(id), domain.EvolveSession, meta,
		func(s domain.SessionState) ([]domain.Event, error) {
			return domain.DecideSession(s, domain.StartSession{SessionID: id, UserID: match.ID, OrgID: match.OrgID, TTL: h.cfg.SessionTTL}, h.clock())
		})
	if err != nil {
		return SignInResult{}, err
	}
	token, err := h.tokens.Session.Issue(string(id), 1)
	if err != nil {
		return SignInResult{}, err
	}
	return SignInResult{Token: token, SessionID: id, UserID: match.ID, OrgID: match.OrgID, ExpiresAt: state.ExpiresAt, Position: pos}, nil
}

// verifyDummy spends the time of one password verification.
func (h *Handlers) verifyDummy(password string) {
	h.dummyOnce.Do(func() {
		h.dummyHash, _ = h.passwords.Hash("no account has this password")
	})
	if h.dummyHash != "" {
		_, _ = h.passwords.Verify(h.dummyHash, password)
	}
}

// Authenticate resolves a session token (bearer or cookie) to the signed-in
// user. Every failure is KindUnauthenticated (401), except an unreachable
// event store. The account is checked too, so removing a member ends their
// sessions. A session resolved less than Config.SessionCacheTTL ago is not
// read again (see sessionCache for what that may miss, and for how long).
func (h *Handlers) Authenticate(ctx context.Context, token string) (Principal, error) {
	id, err := h.sessionID(token)
	if err != nil {
		return Principal{}, err
	}
	now := h.clock()
	if cached, ok := h.sessions.get(id, now); ok {
		if err := cached.session.Check(now); err != nil {
			return Principal{}, err
		}
		return cached.principal, nil
	}
	epoch := h.sessions.begin()
	session, err := h.loadSessionByID(ctx, id)
	if err != nil {
		return Principal{}, err
	}
	if err := session.Check(now); err != nil {
		return Principal{}, err
	}
	account, _, err := load(ctx, h.store, domain.UserStream(session.UserID), domain.EvolveAccount)
	if err != nil {
		return Principal{}, err
	}
	if !account.Exists() || account.Closed {
		return Principal{}, domain.Unauthenticated(domain.CodeSessionEnded, "your account has been closed; ask the organization's admins")
	}
	p := Principal{SessionID: session.ID, UserID: session.UserID, OrgID: session.OrgID, ExpiresAt: session.ExpiresAt}
	h.sessions.put(epoch, cachedSession{principal: p, session: session, checkedAt: now})
	return p, nil
}

// SignOut ends the session the token belongs to; its token stops working
// at once. Signing out of an ended or expired session succeeds and records
// nothing new for an ended one.
func (h *Handlers) SignOut(ctx context.Context, req Request, token string) (Result, error) {
	req = h.withCorrelation(req)
	session, err := h.loadSession(ctx, token)
	if err != nil {
		return Result{}, err
	}
	meta := h.meta(req, domain.UserActor(session.UserID))
	// Dropped after the append, whatever its outcome: a resolution that
	// read the session before it then cannot put it back.
	defer h.sessions.dropSession(session.ID)
	_, pos, err := update(ctx, h.store, domain.SessionStream(session.ID), domain.EvolveSession, meta,
		func(s domain.SessionState) ([]domain.Event, error) {
			return domain.DecideSession(s, domain.EndSession{}, h.clock())
		})
	return Result{Position: pos}, err
}

func sessionInvalid() error {
	return domain.Unauthenticated(domain.CodeSessionInvalid, "you are not signed in; sign in again")
}

// sessionID verifies a session token and returns the session it was
// issued for.
func (h *Handlers) sessionID(token string) (domain.SessionID, error) {
	id, generation, err := verifyToken(h.tokens.Session, token, sessionInvalid())
	if err != nil {
		return "", err
	}
	if generation != 1 {
		return "", sessionInvalid()
	}
	return domain.SessionID(id), nil
}

func (h *Handlers) loadSession(ctx context.Context, token string) (domain.SessionState, error) {
	id, err := h.sessionID(token)
	if err != nil {
		return domain.SessionState{}, err
	}
	return h.loadSessionByID(ctx, id)
}

func (h *Handlers) loadSessionByID(ctx context.Context, id domain.SessionID) (domain.SessionState, error) {
	session, _, err := load(ctx, h.store, domain.SessionStream(id), domain.EvolveSession)
	if err != nil {
		return session, err
	}
	if !session.Exists() {
		return session, sessionInvalid()
	}
	return session, nil
}
