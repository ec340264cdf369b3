package web

import (
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/httpkit"
	"github.com/orgportal/onboarding/adapters/ratelimit"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// Config holds the pages' tunables.
type Config struct {
	// SecureCookie marks the cookies Secure and gives them the __Host-
	// prefix; set it when the portal is reached over https
	// (PORTAL_PUBLIC_URL).
	SecureCookie bool
	// ConsistencyWait bounds how long a page given a consistency token waits
	// for the read models to pass it; DefaultConsistencyWait when 0.
	ConsistencyWait time.Duration
	// PageSize is the number of rows per page of the Users and Audit
	// tables; DefaultPageSize when 0.
	PageSize int
}

// DefaultConsistencyWait is how long a page waits for the read models to
// show the change that led to it before it renders with a note.
const DefaultConsistencyWait = 2 * time.Second

// DefaultPageSize is the number of table rows per page.
const DefaultPageSize = 25

// Deps are the pages' dependencies; Commands is required.
type Deps struct {
	Commands *commands.Handlers
	// Reader serves the Users and Audit pages. When nil those pages answer
	// 503 with a "read models unavailable" message; everything that only
	// needs the write side (sign-in, invitations, the self-service link,
	// registration) still works.
	Reader readmodels.Reader
	// Logger receives the access log and the errors behind 500s; discarded
	// when nil.
	Logger *slog.Logger
	// Clock stamps requests and drives the rate limiters; time.Now when nil.
	Clock func() time.Time
	// Limits are the budgets of the public forms (sign-in, password reset,
	// accept, join, verify) and of invitations. Give the pages the API's
	// (httpapi.Deps.Limits), so that a client has one budget for both. Nil
	// limits nothing.
	Limits *ratelimit.Limits
	// Fallback answers requests that match no route (or not with their
	// method, status 405) and are not for a page: paths under /api/, and
	// clients that do not accept HTML. Give it the API's Unmatched, so that
	// API clients keep getting problem documents. A plain-text answer when
	// nil.
	Fallback func(c *gin.Context, status int)
	Config   Config
}

// Pages serves the portal's HTML pages. Build it with New and Mount it on
// a Gin engine.
type Pages struct {
	cmd      *commands.Handlers
	reader   readmodels.Reader
	log      *slog.Logger
	clock    func() time.Time
	cfg      Config
	fallback func(*gin.Context, int)
	limits   *ratelimit.Limits
	access   httpkit.AccessLog

	pages  map[string]*template.Template
	assets *assetSet
}

// New checks the dependencies, parses the templates and returns the pages.
func New(d Deps) (*Pages, error) {
	if d.Commands == nil {
		return nil, errors.New("web: command handlers are required")
	}
	p := &Pages{cmd: d.Commands, reader: d.Reader, log: d.Logger, clock: d.Clock, cfg: d.Config, fallback: d.Fallback, limits: d.Limits}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.clock == nil {
		p.clock = time.Now
	}
	if p.limits == nil {
		p.limits = ratelimit.New(ratelimit.Config{})
	}
	p.access = httpkit.AccessLog{Log: p.log, UserID: signedInID}
	if p.cfg.ConsistencyWait <= 0 {
		p.cfg.ConsistencyWait = DefaultConsistencyWait
	}
	if p.cfg.PageSize <= 0 || p.cfg.PageSize > readmodels.MaxLimit {
		p.cfg.PageSize = DefaultPageSize
	}
	var err error
	if p.assets, err = loadAssets(); err != nil {
		return nil, err
	}
	if p.pages, err = parseTemplates(p.funcs()); err != nil {
		return nil, err
	}
	return p, nil
}

// Mount registers the pages at the root of r (next to /api/v1, /healthz,
// /readyz and whatever else the engine serves) and answers requests that
// match no route, or not with their method: an HTML page for browsers,
// Deps.Fallback for the rest. Mount it after the API, whose NoRoute and
// NoMethod handlers it replaces (Gin keeps one of each per engine).
func (p *Pages) Mount(r *gin.Engine) {
	r.HandleMethodNotAllowed = true
	r.NoRoute(p.unmatched(http.StatusNotFound)...)
	r.NoMethod(p.unmatched(http.StatusMethodNotAllowed)...)
	p.routes(r)
}

// Handler returns a Gin engine serving only the pages (for tests and
// tools).
func (p *Pages) Handler() *gin.Engine {
	r := httpkit.NewEngine()
	p.Mount(r)
	return r
}
