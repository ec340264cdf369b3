package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/ratelimit"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

type signInRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	// OrgID picks the organization when the address has accounts in several.
	OrgID string `json:"orgId"`
}

type signInResponse struct {
	Token     string    `json:"token"`
	UserID    string    `json:"userId"`
	OrgID     string    `json:"orgId"`
	ExpiresAt time.Time `json:"expiresAt"`
	Position  uint64    `json:"position"`
}

type positionResponse struct {
	Position uint64 `json:"position"`
}

// signIn: POST /session {email, password, orgId?}.
func (a *API) signIn(c *gin.Context) error {
	var in signInRequest
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	if err := a.limitSubject(ratelimit.GroupSession, ratelimit.EmailSubject(in.Email)); err != nil {
		return err
	}
	res, err := a.cmd.SignIn(c.Request.Context(), a.commandRequest(c),
		commands.SignInInput{Email: in.Email, Password: in.Password, OrgID: domain.OrgID(in.OrgID)})
	if err != nil {
		return err
	}
	a.setSessionCookie(c, res.Token, res.ExpiresAt)
	written(c, http.StatusOK, res.Position, signInResponse{
		Token: res.Token, UserID: string(res.UserID), OrgID: string(res.OrgID),
		ExpiresAt: res.ExpiresAt, Position: uint64(res.Position),
	})
	return nil
}

// signOut: DELETE /session ends the session; its token stops working.
func (a *API) signOut(c *gin.Context) error {
	res, err := a.cmd.SignOut(c.Request.Context(), a.commandRequest(c), c.GetString(tokenKey))
	if err != nil {
		return err
	}
	a.clearSessionCookie(c)
	written(c, http.StatusOK, res.Position, positionResponse{Position: uint64(res.Position)})
	return nil
}

type emailRequest struct {
	Email string `json:"email"`
}

type passwordRequest struct {
	Password string `json:"password"`
}

// requestPasswordReset: POST /password-reset {email} answers 202 whatever
// the address, and without a position: a position would tell whether
// something was written, that is, whether the address has an account.
func (a *API) requestPasswordReset(c *gin.Context) error {
	var in emailRequest
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	if err := a.limitSubject(ratelimit.GroupPasswordReset, ratelimit.EmailSubject(in.Email)); err != nil {
		return err
	}
	if err := a.cmd.RequestPasswordReset(c.Request.Context(), a.commandRequest(c), in.Email); err != nil {
		return err
	}
	c.JSON(http.StatusAccepted, gin.H{"status": "accepted",
		"detail": "if an account uses this address, a link to set a new password is on its way; it is valid for one hour"})
	return nil
}

// completePasswordReset: POST /password-reset/{token} {password}.
func (a *API) completePasswordReset(c *gin.Context) error {
	return a.completePassword(c, a.cmd.CompletePasswordReset)
}

// completePasswordSetup: POST /set-password/{token} {password}, the first
// password of a member added by an admin.
func (a *API) completePasswordSetup(c *gin.Context) error {
	return a.completePassword(c, a.cmd.CompletePasswordSetup)
}

type passwordSetResponse struct {
	UserID   string `json:"userId"`
	OrgID    string `json:"orgId"`
	Position uint64 `json:"position"`
}

func (a *API) completePassword(c *gin.Context, complete func(ctx context.Context, req commands.Request, token, password string) (commands.PasswordResult, error)) error {
	token := c.Param("token")
	var in passwordRequest
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	if err := a.limitSubject(ratelimit.GroupPasswordLink, ratelimit.TokenSubject(token)); err != nil {
		return err
	}
	res, err := complete(c.Request.Context(), a.commandRequest(c), token, in.Password)
	if err != nil {
		return err
	}
	written(c, http.StatusOK, res.Position, passwordSetResponse{UserID: string(res.UserID), OrgID: string(res.OrgID), Position: uint64(res.Position)})
	return nil
}
