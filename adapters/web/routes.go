package web

import (
	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/httpkit"
	"github.com/orgportal/onboarding/adapters/ratelimit"
)

// routes registers every page. Paths of the pages that mails link to
// (/invite/, /verify/, /set-password/, /reset-password/) are fixed by the
// mail reactor, /join/ by the self-service link the commands hand out.
//
// Public forms check their pre-session CSRF token, then spend the client's
// budget for their group, the same budget as the API endpoint that runs the
// same command (Deps.Limits); the handlers add the per-address or
// per-token budget once they know it. Everything else needs a session, and its forms a token bound to
// that session.
func (p *Pages) routes(r *gin.Engine) {
	r.GET("/assets/:file", httpkit.RequestID, p.access.Handle, p.serveAsset)

	g := r.Group("", httpkit.RequestID, p.access.Handle, httpkit.Recover(p.fail), p.secureHeaders,
		httpkit.LimitBody(maxFormBytes, func(c *gin.Context) { p.fail(c, errBodyTooLarge) }))
	// The pages that links open look their token up in the event store;
	// the budget for such look-ups applies, per client address.
	lookup := p.limitClient(ratelimit.GroupLookup)
	g.GET("/", p.home)

	// Sessions and passwords.
	g.GET("/sign-in", p.signInPage)
	g.POST("/sign-in", p.publicForm(ratelimit.GroupSession, p.signIn)...)
	g.GET("/forgot-password", p.forgotPasswordPage)
	g.POST("/forgot-password", p.publicForm(ratelimit.GroupPasswordReset, p.requestPasswordReset)...)
	g.GET("/reset-password/:token", lookup, p.passwordLinkPage(resetLink))
	g.POST("/reset-password/:token", p.publicForm(ratelimit.GroupPasswordLink, p.completePasswordLink(resetLink))...)
	g.GET("/set-password/:token", lookup, p.passwordLinkPage(setupLink))
	g.POST("/set-password/:token", p.publicForm(ratelimit.GroupPasswordLink, p.completePasswordLink(setupLink))...)

	// The invited person's side of an invitation.
	g.GET("/invite/:token", lookup, p.invitationPage)
	g.POST("/invite/:token", p.publicForm(ratelimit.GroupAccept, p.acceptInvitation)...)

	// Self-service registration and its verification.
	g.GET("/join/:token", lookup, p.joinPage)
	g.POST("/join/:token", p.publicForm(ratelimit.GroupJoin, p.register)...)
	g.GET("/verify/:token", lookup, p.verifyPage)
	g.POST("/verify/:token", p.publicForm(ratelimit.GroupVerify, p.verify)...)

	// Signed in.
	user := g.Group("", p.requireSignIn)
	user.GET("/account", p.accountPage)
	user.GET("/sign-out", p.signOutPage)
	user.POST("/sign-out", p.sessionForm, p.signOut)

	// Administration of the signed-in user's organization.
	admin := user.Group("", p.requireAdmin)
	admin.GET("/users", p.usersPage)
	admin.GET("/users/invite", p.inviteFormPage)
	admin.POST("/users/invite", p.sessionForm, p.invite)
	admin.GET("/users/:userId/role", p.roleChangePage)
	admin.POST("/users/:userId/role", p.sessionForm, p.changeRole)
	admin.GET("/users/:userId/remove", p.removalPage)
	admin.POST("/users/:userId/remove", p.sessionForm, p.removeMember)
	admin.POST("/invitations/:id/resend", p.sessionForm, p.resendInvitation)
	admin.POST("/invitations/:id/revoke", p.sessionForm, p.revokeInvitation)
	admin.GET("/settings/self-service", p.selfServicePage)
	admin.POST("/settings/self-service", p.sessionForm, p.configureSelfService)
	admin.GET("/settings/self-service/rotate", p.rotatePage)
	admin.POST("/settings/self-service/rotate", p.sessionForm, p.rotateLink)
	admin.GET("/audit", p.auditPage)
	admin.GET("/audit/lineage/:userId", p.lineagePage)
}

// publicForm guards a form that is used before signing in: its
// pre-session CSRF token, then the client's budget for group.
func (p *Pages) publicForm(group ratelimit.Group, h gin.HandlerFunc) gin.HandlersChain {
	return gin.HandlersChain{p.checkCSRF(preSessionBinding), p.limitClient(group), h}
}

// sessionForm guards a form of a signed-in user: a CSRF token bound to the
// session. The routes using it are behind requireSignIn.
func (p *Pages) sessionForm(c *gin.Context) { p.checkCSRF(sessionBinding)(c) }
