package httpapi

import (
	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/ratelimit"
)

// routes registers every endpoint. Public endpoints carry a per-client
// rate limit for their group; the handlers add the per-address or
// per-token limit once they know it. Admin endpoints authenticate, then
// check the organization in the path.
func (a *API) routes(g *gin.RouterGroup) {
	g.GET("/openapi.json", a.openAPI)

	// Sessions and passwords.
	g.POST("/session", a.limitClient(ratelimit.GroupSession), a.handle(a.signIn))
	g.DELETE("/session", a.authenticate, a.handle(a.signOut))
	g.POST("/password-reset", a.limitClient(ratelimit.GroupPasswordReset), a.handle(a.requestPasswordReset))
	g.POST("/password-reset/:token", a.limitClient(ratelimit.GroupPasswordLink), a.handle(a.completePasswordReset))
	g.POST("/set-password/:token", a.limitClient(ratelimit.GroupPasswordLink), a.handle(a.completePasswordSetup))

	// Invitations, from the invited person's side.
	g.GET("/invitations/:token", a.limitClient(ratelimit.GroupLookup), a.handle(a.describeInvitation))
	g.POST("/invitations/:token/accept", a.limitClient(ratelimit.GroupAccept), a.handle(a.acceptInvitation))

	// Self-service registration.
	g.GET("/join/:token", a.limitClient(ratelimit.GroupLookup), a.handle(a.describeJoinLink))
	g.POST("/join/:token", a.limitClient(ratelimit.GroupJoin), a.handle(a.register))
	g.POST("/verify/:token", a.limitClient(ratelimit.GroupVerify), a.handle(a.verify))

	// Administration of one organization.
	admin := g.Group("/orgs/:orgId", a.authenticate)
	org := admin.Group("", a.requireOrg)
	// Inviting starts holding addresses while the role is read (see
	// requireOrgAhead): the hot path of a bulk onboarding.
	admin.POST("/invitations", a.requireOrgAhead, a.handle(a.invite))
	org.POST("/invitations/:id/resend", a.handle(a.resendInvitation))
	org.DELETE("/invitations/:id", a.handle(a.revokeInvitation))
	org.GET("/self-service-link", a.handle(a.getLink))
	org.PUT("/self-service-link", a.handle(a.configureLink))
	org.POST("/self-service-link/rotate", a.handle(a.rotateLink))
	org.POST("/users", a.handle(a.addMember))
	org.PUT("/users/:userId/role", a.handle(a.changeRole))
	org.DELETE("/users/:userId", a.handle(a.removeMember))

	// Queries of one organization (queries.go): the read models, and the
	// membership as of a past moment from the event store.
	org.GET("/users", a.handle(a.listUsers))
	org.GET("/users/:userId/lineage", a.handle(a.lineage))
	org.GET("/invitations", a.handle(a.listInvitations))
	org.GET("/audit", a.handle(a.listAudit))
}

// handle adapts a handler that returns its error, so that every failure
// goes through fail (the one mapping to a problem document).
func (a *API) handle(h func(*gin.Context) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := h(c); err != nil {
			a.fail(c, err)
		}
	}
}
