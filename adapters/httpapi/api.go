package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/httpkit"
	"github.com/orgportal/onboarding/adapters/ratelimit"
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
	// ConsistencyWait bounds how long a read given a consistency token
	// waits for the read models to pass it; DefaultConsistencyWait when 0.
	ConsistencyWait time.Duration
}

// DefaultConsistencyWait is how long a read waits for the read models to
// catch up with a consistency token before it answers what they have.
const DefaultConsistencyWait = 2 * time.Second

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
	// Limits are the budgets of the public endpoints and of invitations.
	// Give the portal pages the same value, so that a client cannot double
	// its attempts by using both. Nil limits nothing.
	Limits *ratelimit.Limits
}

// API serves /api/v1. Build it with New and Mount it on a Gin engine.
type API struct {
	cmd   *commands.Handlers
	log   *slog.Logger
	clock func() time.Time
	cfg   Config
	read  readmodels.Reader
	past  History

	limits *ratelimit.Limits
	access httpkit.AccessLog
}

// New checks the dependencies and returns the API.
func New(d Deps) (*API, error) {
	if d.Commands == nil {
		return nil, errors.New("httpapi: command handlers are required")
	}
	a := &API{cmd: d.Commands, log: d.Logger, clock: d.Clock, cfg: d.Config, read: d.ReadModels, past: d.History, limits: d.Limits}
	if a.cfg.ConsistencyWait <= 0 {
		a.cfg.ConsistencyWait = DefaultConsistencyWait
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.clock == nil {
		a.clock = time.Now
	}
	if a.limits == nil {
		a.limits = ratelimit.New(ratelimit.Config{})
	}
	a.access = httpkit.AccessLog{Log: a.log, UserID: principalID}
	return a, nil
}

// Mount registers the API's routes on r under BasePath, and answers
// unknown routes and methods with problem documents (Unmatched).
func (a *API) Mount(r *gin.Engine) {
	r.HandleMethodNotAllowed = true
	r.NoRoute(func(c *gin.Context) { a.Unmatched(c, http.StatusNotFound) })
	r.NoMethod(func(c *gin.Context) { a.Unmatched(c, http.StatusMethodNotAllowed) })
	// noStore comes before anything that can refuse the request, so that
	// refusals carry the headers too.
	g := r.Group(BasePath, httpkit.RequestID, noStore, a.access.Handle, httpkit.Recover(a.fail),
		httpkit.LimitBody(MaxBodyBytes, func(c *gin.Context) { a.fail(c, bodyTooLarge()) }))
	a.routes(g)
}

// Unmatched answers a request that no route takes (status 404) or none
// with its method (405) with a problem document, and with the request id,
// headers and access-log line of the API's routes. Mount installs it; an
// engine whose NoRoute and NoMethod belong to someone else (the portal
// pages) hands it the requests that are not for them.
func (a *API) Unmatched(c *gin.Context, status int) {
	start := time.Now()
	httpkit.RequestID(c)
	noStore(c)
	if status == http.StatusMethodNotAllowed {
		a.fail(c, &apiError{Status: status, Code: CodeMethodNotAllowed, Detail: "this endpoint does not accept the " + c.Request.Method + " method"})
	} else {
		a.fail(c, &apiError{Status: http.StatusNotFound, Code: CodeRouteNotFound, Detail: "there is no such endpoint; see " + BasePath + "/openapi.json"})
	}
	a.access.Write(c, start)
}

// Handler returns a Gin engine serving only the API (for tests and tools;
// the portal mounts the API next to its health endpoints).
func (a *API) Handler() *gin.Engine {
	r := httpkit.NewEngine()
	a.Mount(r)
	return r
}

// noStore keeps API answers (which may carry tokens and links) out of
// caches and stops browsers from sniffing content types.
func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("X-Content-Type-Options", "nosniff")
}
