package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

type addMemberRequest struct {
	Email string `json:"email"`
	Name  string `json:"name"`
	Role  string `json:"role"`
}

// addMember: POST /orgs/{orgId}/users {email, name, role}. The member sets
// a password through the mailed link (POST /set-password/{token}).
func (a *API) addMember(c *gin.Context) error {
	var in addMemberRequest
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	res, err := a.cmd.AddMemberManually(c.Request.Context(), a.commandRequest(c), commands.AddMemberInput{
		OrgID: domain.OrgID(c.Param("orgId")), Email: in.Email, Name: in.Name, Role: in.Role,
	})
	if err != nil {
		return err
	}
	written(c, http.StatusCreated, res.Position, joinedResponse{UserID: string(res.UserID), OrgID: string(res.OrgID), Position: uint64(res.Position)})
	return nil
}

type roleRequest struct {
	Role string `json:"role"`
}

// changeRole: PUT /orgs/{orgId}/users/{userId}/role {role}.
func (a *API) changeRole(c *gin.Context) error {
	var in roleRequest
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	user, err := domain.ParseID[domain.UserID](c.Param("userId"))
	if err != nil {
		return err
	}
	res, err := a.cmd.ChangeMemberRole(c.Request.Context(), a.commandRequest(c), domain.OrgID(c.Param("orgId")), user, in.Role)
	if err != nil {
		return err
	}
	written(c, http.StatusOK, res.Position, positionResponse{Position: uint64(res.Position)})
	return nil
}

// removeMember: DELETE /orgs/{orgId}/users/{userId}; their sessions end.
func (a *API) removeMember(c *gin.Context) error {
	user, err := domain.ParseID[domain.UserID](c.Param("userId"))
	if err != nil {
		return err
	}
	res, err := a.cmd.RemoveMember(c.Request.Context(), a.commandRequest(c), domain.OrgID(c.Param("orgId")), user)
	if err != nil {
		return err
	}
	written(c, http.StatusOK, res.Position, positionResponse{Position: uint64(res.Position)})
	return nil
}
