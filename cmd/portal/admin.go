package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/httpapi"
	"github.com/orgportal/onboarding/cmd/portal/config"
	"github.com/orgportal/onboarding/projections"
)

// adminBasePath is where the operator admin API lives, next to the
// onboarding API.
const adminBasePath = httpapi.BasePath + "/admin"

// mountAdmin serves the operator admin API of the projections:
//
//	GET  /api/v1/admin/projections                 every projection's status
//	GET  /api/v1/admin/projections/{name}          one projection's status
//	POST /api/v1/admin/projections/{name}/resume   retry the event a stalled projection stopped at
//	POST /api/v1/admin/projections/{name}/rebuild  rebuild into a new version ({name} "all": every one, in one pass)
//
// Requests carry "Authorization: Bearer <PORTAL_ADMIN_TOKEN>". Without
// that setting every route answers 404 with a problem saying how to turn
// the API on. The token is compared in constant time and never logged.
// On a replica of role api (an observing runner) the status routes work
// and resume and rebuild answer 409, sending the operator to a replica of
// role all.
func mountAdmin(r *gin.Engine, runner *projections.Runner, token config.Secret, logger *slog.Logger) {
	a := &admin{runner: runner, logger: logger.With("component", "admin")}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		a.tokenHash = sum[:]
	}
	g := r.Group(adminBasePath, a.headers, a.authorize)
	g.GET("/projections", a.list)
	g.GET("/projections/:name", a.get)
	g.POST("/projections/:name/resume", a.resume)
	g.POST("/projections/:name/rebuild", a.rebuild)
}

type admin struct {
	runner    *projections.Runner
	tokenHash []byte // nil: the admin API is off
	logger    *slog.Logger
}

func (a *admin) headers(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("X-Content-Type-Options", "nosniff")
}

// authorize lets requests with the admin token through. Both sides are
// hashed first, so the comparison takes the same time whatever the
// length of what was sent.
func (a *admin) authorize(c *gin.Context) {
	if a.tokenHash == nil {
		problem(c, http.StatusNotFound, "admin_api_disabled",
			"the admin API is off; set "+config.EnvAdminToken+" (e.g. openssl rand -hex 32) and send it as Authorization: Bearer <token>")
		return
	}
	sent, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	sum := sha256.Sum256([]byte(sent))
	if !ok || subtle.ConstantTimeCompare(sum[:], a.tokenHash) != 1 {
		c.Header("WWW-Authenticate", `Bearer realm="portal admin"`)
		problem(c, http.StatusUnauthorized, "admin_token_invalid", "send the admin token as Authorization: Bearer <"+config.EnvAdminToken+">")
		return
	}
	c.Next()
}

// observing answers 409 to an action on a replica that runs no
// projection (role api), and reports whether it did.
func (a *admin) observing(c *gin.Context) bool {
	if !a.runner.Observing() {
		return false
	}
	problem(c, http.StatusConflict, "replica_role_api",
		"this replica runs with "+config.EnvRole+"=api: it serves the API and the pages and only shows the projections; "+
			"send resume and rebuild to a replica of role all, which runs them")
	return true
}

func (a *admin) list(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"projections": a.runner.Statuses()})
}

func (a *admin) get(c *gin.Context) {
	st, ok := a.runner.Status(c.Param("name"))
	if !ok {
		unknownProjection(c, a.runner)
		return
	}
	c.JSON(http.StatusOK, st)
}

func (a *admin) resume(c *gin.Context) {
	if a.observing(c) {
		return
	}
	name := c.Param("name")
	err := a.runner.Resume(name)
	switch {
	case errors.Is(err, projections.ErrUnknownProjection):
		unknownProjection(c, a.runner)
		return
	case errors.Is(err, projections.ErrNotStalled):
		problem(c, http.StatusConflict, "projection_not_stalled", err.Error()+
			" (only a stalled projection on the replica that runs it can be resumed; standby replicas show standby)")
		return
	case err != nil:
		problem(c, http.StatusInternalServerError, httpapi.CodeInternal, "resume failed; see the log")
		a.logger.Error("resume failed", "projection", name, "err", err)
		return
	}
	a.logger.Info("projection resumed by an operator", "projection", name)
	st, _ := a.runner.Status(name)
	c.JSON(http.StatusOK, st)
}

func (a *admin) rebuild(c *gin.Context) {
	if a.observing(c) {
		return
	}
	name := c.Param("name")
	names := []string{name}
	if name == "all" {
		names = a.runner.Names()
	}
	err := a.runner.StartRebuild(names...)
	switch {
	case errors.Is(err, projections.ErrUnknownProjection):
		unknownProjection(c, a.runner)
		return
	case errors.Is(err, projections.ErrRebuildRunning):
		problem(c, http.StatusConflict, "rebuild_running", err.Error()+"; follow its progress at GET "+adminBasePath+"/projections")
		return
	case err != nil:
		problem(c, http.StatusServiceUnavailable, httpapi.CodeUnavailable, "the projections are not running: "+err.Error())
		return
	}
	a.logger.Info("rebuild started by an operator", "projections", names)
	var out []projections.Status
	for _, n := range names {
		st, _ := a.runner.Status(n)
		out = append(out, st)
	}
	c.JSON(http.StatusAccepted, gin.H{"projections": out})
}

func unknownProjection(c *gin.Context, runner *projections.Runner) {
	problem(c, http.StatusNotFound, "projection_not_found", "no projection of that name; there are "+strings.Join(runner.Names(), ", "))
}

// problem answers an RFC 9457 problem document, like the API does.
func problem(c *gin.Context, status int, code, detail string) {
	c.Header("Content-Type", "application/problem+json")
	c.AbortWithStatusJSON(status, httpapi.Problem{
		Type: "urn:orgportal:problem:" + code, Title: http.StatusText(status), Status: status, Detail: detail, Code: code,
	})
}
