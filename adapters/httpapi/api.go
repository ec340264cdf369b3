package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// BasePath is the prefix of every API route.
const BasePath = "/api/v1"

// MaxBodyBytes bounds a request body; a larger one is answered 413.
const MaxBodyBytes = 1 << 20

// SessionCookie is the name of the HttpOnly cookie POST /session sets.
const SessionCookie = "portal_session"

// Config holds the API's tunables.
type Config struct {
	// SecureCookie marks the session cookie Secure; set it when the portal
	// is reached over https (PORTAL_PUBLIC_URL).
	SecureCookie bool
	// ClientRate limits the public endpoints per client address and
	// endpoint group (sign-in, password reset, accept, join, verify, ...).
	ClientRate Rate
	// SubjectRate limits the same endpoints per email address or link
	// token and endpoint group.
	SubjectRate Rate
	// InvitationsPerDay limits the invitations (new ones and resends) of
	// one organization per 24 hours; 0 means unlimited.
	InvitationsPerDay int
	// MaxLimiterKeys bounds the memory of each rate limiter (keys tracked
	// at once); DefaultMaxLimiterKeys when 0.
	MaxLimiterKeys int
	// ConsistencyWait bounds how long a read given a consistency token
	// waits for the read models to pass it; DefaultConsistencyWait when 0.
	ConsistencyWait time.Duration
}

// DefaultConsistencyWait is how long a read waits for the read models to
// catch up with a consistency token before it answers what they have.
const DefaultConsistencyWait = 2 * time.Second

// DefaultMaxLimiterKeys is how many clients, subjects or organizations each
// limiter tracks at once (about 100 bytes each).
const DefaultMaxLimiterKeys = 100_000

// Deps are the API's dependencies; Commands is required.
type Deps struct {
	Commands *commands.Handlers
	// Logger receives the access log and the errors behind 500s; discarded
	// when nil.
	Logger *slog.Logger
	// Clock stamps requests (commands.Request.Time) and drives the rate
	// limiters; time.Now when nil.
	Clock  func() time.Time
	Config Config
	// ReadModels serves the query routes (users, invitations, audit,
	// lineage); while nil they answer 503 read_models_not_configured.
	ReadModels readmodels.Reader
	// History serves GET /orgs/{orgId}/users?asOf=… from the event store;
	// while nil such a query answers 503 history_not_configured.
	History History
}

// API serves /api/v1. Build it with New and Mount it on a Gin engine.
type API struct {
	cmd   *commands.Handlers
	log   *slog.Logger
	clock func() time.Time
	cfg   Config
	read  readmodels.Reader
	past  History

	perClient  *limiter // key: group + client address
	perSubject *limiter // key: group + email or hashed token
	perOrg     *limiter // key: organization id; invitations per day
}

// New checks the dependencies and returns the API.
func New(d Deps) (*API, error) {
	if d.Commands == nil {
		return nil, errors.New("httpapi: command handlers are required")
	}
	a := &API{cmd: d.Commands, log: d.Logger, clock: d.Clock, cfg: d.Config, read: d.ReadModels, past: d.History}
	if a.cfg.ConsistencyWait <= 0 {
		a.cfg.ConsistencyWait = DefaultConsistencyWait
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.clock == nil {
		a.clock = time.Now
	}
	keys := d.Config.MaxLimiterKeys
	if keys <= 0 {
		keys = DefaultMaxLimiterKeys
	}
	a.perClient = newLimiter(d.Config.ClientRate, keys)
	a.perSubject = newLimiter(d.Config.SubjectRate, keys)
	a.perOrg = newLimiter(Rate{Events: d.Config.InvitationsPerDay, Per: 24 * time.Hour}, keys)
	return a, nil
}

// Mount registers the API's routes on r under BasePath, and answers
// unknown routes and methods with problem documents.
func (a *API) Mount(r *gin.Engine) {
	r.HandleMethodNotAllowed = true
	r.NoRoute(a.requestID, a.accessLog, noStore, func(c *gin.Context) {
		a.fail(c, &apiError{Status: http.StatusNotFound, Code: CodeRouteNotFound, Detail: "there is no such endpoint; see " + BasePath + "/openapi.json"})
	})
	r.NoMethod(a.requestID, a.accessLog, noStore, func(c *gin.Context) {
		a.fail(c, &apiError{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed, Detail: "this endpoint does not accept the " + c.Request.Method + " method"})
	})
	// noStore comes before anything that can refuse the request, so that
	// refusals carry the headers too.
	g := r.Group(BasePath, a.requestID, noStore, a.accessLog, a.recover, a.limitBody)
	a.routes(g)
}

// Handler returns a Gin engine serving only the API (for tests and tools;
// the portal mounts the API next to its health endpoints).
func (a *API) Handler() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	_ = r.SetTrustedProxies(nil) // the client address is the connection's
	a.Mount(r)
	return r
}

// noStore keeps API answers (which may carry tokens and links) out of
// caches and stops browsers from sniffing content types.
func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("X-Content-Type-Options", "nosniff")
}
