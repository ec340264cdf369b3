package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/ratelimit"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// emailList is the "emails" field: a JSON list of strings, or one string
// (which the domain splits on commas, semicolons and whitespace).
type emailList []string

func (l *emailList) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*l = nil
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = emailList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return &fieldDecodeError{field: "emails", msg: "must be a string or a list of strings"}
	}
	*l = many
	return nil
}

type inviteRequest struct {
	Emails emailList `json:"emails"`
	Role   string    `json:"role"`
}

type inviteResult struct {
	Email        string `json:"email"`
	Name         string `json:"name,omitempty"`
	Status       string `json:"status"`
	InvitationID string `json:"invitationId,omitempty"`
	Reason       string `json:"reason,omitempty"`
}

type inviteResponse struct {
	Results  []inviteResult `json:"results"`
	Position uint64         `json:"position"`
}

// invite: POST /orgs/{orgId}/invitations {emails, role?}. The addresses
// count against the organization's daily invitation budget; those that
// end up not invited (invalid, already member or invited, or a failed
// request) are given back.
func (a *API) invite(c *gin.Context) error {
	var in inviteRequest
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	org := domain.OrgID(c.Param("orgId"))
	budget := ratelimit.InvitationCost(in.Emails...)
	if ok, wait := a.limits.TakeInvitations(org, budget, a.clock()); !ok {
		return rateLimited(wait, "invitations for this organization today")
	}
	res, err := a.cmd.InviteUsers(c.Request.Context(), a.commandRequest(c),
		commands.InviteUsersInput{OrgID: org, Emails: in.Emails, Role: in.Role})
	if err != nil {
		a.limits.GiveInvitations(org, budget, a.clock())
		return err
	}
	out := inviteResponse{Results: make([]inviteResult, len(res.Results)), Position: uint64(res.Position)}
	for i, r := range res.Results {
		out.Results[i] = inviteResult{Email: r.Email, Name: r.Name, Status: string(r.Status), InvitationID: string(r.InvitationID), Reason: r.Reason}
		if r.Status == commands.InviteInvited {
			budget--
		}
	}
	a.limits.GiveInvitations(org, budget, a.clock())
	written(c, http.StatusOK, res.Position, out)
	return nil
}

type invitationChangeResponse struct {
	InvitationID string    `json:"invitationId"`
	ExpiresAt    time.Time `json:"expiresAt"`
	Position     uint64    `json:"position"`
}

// resendInvitation: POST /orgs/{orgId}/invitations/{id}/resend issues a
// new token (the old link dies) and restarts the expiry. It counts as an
// invitation against the daily budget.
func (a *API) resendInvitation(c *gin.Context) error {
	org := domain.OrgID(c.Param("orgId"))
	if ok, wait := a.limits.TakeInvitations(org, 1, a.clock()); !ok {
		return rateLimited(wait, "invitations for this organization today")
	}
	res, err := a.cmd.ResendInvitation(c.Request.Context(), a.commandRequest(c), org, domain.InvitationID(c.Param("id")))
	if err != nil {
		a.limits.GiveInvitations(org, 1, a.clock())
		return err
	}
	written(c, http.StatusOK, res.Position, invitationChangeResponse{
		InvitationID: string(res.InvitationID), ExpiresAt: res.ExpiresAt, Position: uint64(res.Position)})
	return nil
}

// revokeInvitation: DELETE /orgs/{orgId}/invitations/{id}.
func (a *API) revokeInvitation(c *gin.Context) error {
	res, err := a.cmd.RevokeInvitation(c.Request.Context(), a.commandRequest(c), domain.OrgID(c.Param("orgId")), domain.InvitationID(c.Param("id")))
	if err != nil {
		return err
	}
	written(c, http.StatusOK, res.Position, invitationChangeResponse{
		InvitationID: string(res.InvitationID), ExpiresAt: res.ExpiresAt, Position: uint64(res.Position)})
	return nil
}

type invitationView struct {
	OrgID            string    `json:"orgId"`
	OrganizationName string    `json:"organizationName"`
	Email            string    `json:"email"`
	Name             string    `json:"name,omitempty"` // as the inviter gave it: a suggestion for the form
	Role             string    `json:"role"`
	ExpiresAt        time.Time `json:"expiresAt"`
	// State is pending, accepted, revoked, superseded or expired.
	State string `json:"state"`
	// Code is the gone code accepting would answer; empty while pending.
	Code string `json:"code,omitempty"`
}

// describeInvitation: GET /invitations/{token}, what the acceptance page
// shows.
func (a *API) describeInvitation(c *gin.Context) error {
	v, err := a.cmd.DescribeInvitation(c.Request.Context(), c.Param("token"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, invitationView{
		OrgID: string(v.OrgID), OrganizationName: v.OrganizationName, Email: v.Email, Name: v.Name, Role: string(v.Role),
		ExpiresAt: v.ExpiresAt, State: v.State, Code: v.Code,
	})
	return nil
}

type acceptRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

type joinedResponse struct {
	UserID   string `json:"userId"`
	OrgID    string `json:"orgId"`
	Position uint64 `json:"position"`
}

// acceptInvitation: POST /invitations/{token}/accept {name, password}.
func (a *API) acceptInvitation(c *gin.Context) error {
	token := c.Param("token")
	var in acceptRequest
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	if err := a.limitSubject(ratelimit.GroupAccept, ratelimit.TokenSubject(token)); err != nil {
		return err
	}
	res, err := a.cmd.AcceptInvitation(c.Request.Context(), a.commandRequest(c),
		commands.AcceptInput{Token: token, Name: in.Name, Password: in.Password})
	if err != nil {
		return err
	}
	written(c, http.StatusCreated, res.Position, joinedResponse{UserID: string(res.UserID), OrgID: string(res.OrgID), Position: uint64(res.Position)})
	return nil
}
