package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/ratelimit"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

type linkView struct {
	Enabled        bool       `json:"enabled"`
	URL            string     `json:"url"`
	AllowedDomains []string   `json:"allowedDomains"`
	DefaultRole    string     `json:"defaultRole"`
	ExpiresAt      *time.Time `json:"expiresAt"`
	MaxUses        int        `json:"maxUses"`
	Uses           int        `json:"uses"`
	Position       *uint64    `json:"position,omitempty"`
}

func toLinkView(v commands.LinkView) linkView {
	domains := v.AllowedDomains
	if domains == nil {
		domains = []string{}
	}
	return linkView{
		Enabled: v.Enabled, URL: v.URL, AllowedDomains: domains, DefaultRole: string(v.DefaultRole),
		ExpiresAt: v.ExpiresAt, MaxUses: v.MaxUses, Uses: v.Uses,
	}
}

// getLink: GET /orgs/{orgId}/self-service-link.
func (a *API) getLink(c *gin.Context) error {
	v, err := a.cmd.GetSelfServiceLink(c.Request.Context(), a.commandRequest(c), domain.OrgID(c.Param("orgId")))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, toLinkView(v))
	return nil
}

// configureLinkRequest is the link's complete settings (PUT semantics);
// enabled must be given, so that a forgotten field never disables the
// link by accident.
type configureLinkRequest struct {
	Enabled        *bool      `json:"enabled"`
	AllowedDomains []string   `json:"allowedDomains"`
	DefaultRole    string     `json:"defaultRole"`
	ExpiresAt      *time.Time `json:"expiresAt"`
	MaxUses        int        `json:"maxUses"`
	// Read-only fields of the GET answer, accepted so that a client can
	// PUT back what it read.
	URL  string `json:"url"`
	Uses int    `json:"uses"`
}

// configureLink: PUT /orgs/{orgId}/self-service-link.
func (a *API) configureLink(c *gin.Context) error {
	var in configureLinkRequest
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	if in.Enabled == nil {
		return domain.Invalid(domain.CodeInvalidLinkSetting, "the link's settings are incomplete").WithField("enabled", "is required (true or false)")
	}
	res, err := a.cmd.ConfigureSelfServiceLink(c.Request.Context(), a.commandRequest(c), domain.OrgID(c.Param("orgId")),
		commands.ConfigureLinkInput{
			Enabled: *in.Enabled, AllowedDomains: in.AllowedDomains, DefaultRole: in.DefaultRole,
			ExpiresAt: in.ExpiresAt, MaxUses: in.MaxUses,
		})
	if err != nil {
		return err
	}
	a.linkWritten(c, res)
	return nil
}

// rotateLink: POST /orgs/{orgId}/self-service-link/rotate; the old URL
// stops working at once.
func (a *API) rotateLink(c *gin.Context) error {
	res, err := a.cmd.RotateSelfServiceLink(c.Request.Context(), a.commandRequest(c), domain.OrgID(c.Param("orgId")))
	if err != nil {
		return err
	}
	a.linkWritten(c, res)
	return nil
}

func (a *API) linkWritten(c *gin.Context, res commands.LinkResult) {
	v := toLinkView(res.Link)
	pos := uint64(res.Position)
	v.Position = &pos
	written(c, http.StatusOK, res.Position, v)
}

type joinLinkView struct {
	OrgID            string   `json:"orgId"`
	OrganizationName string   `json:"organizationName"`
	AllowedDomains   []string `json:"allowedDomains"`
}

// describeJoinLink: GET /join/{token}, what the registration page shows.
func (a *API) describeJoinLink(c *gin.Context) error {
	v, err := a.cmd.DescribeJoinLink(c.Request.Context(), c.Param("token"))
	if err != nil {
		return err
	}
	domains := v.AllowedDomains
	if domains == nil {
		domains = []string{}
	}
	c.JSON(http.StatusOK, joinLinkView{OrgID: string(v.OrgID), OrganizationName: v.OrganizationName, AllowedDomains: domains})
	return nil
}

type registerRequest struct {
	Email    string `json:"email"`
	Name     string `json:"name"`
	Password string `json:"password"`
}

type registerResponse struct {
	Status string `json:"status"`
	Detail string `json:"detail"`
	// RegistrationID names the registration (for support); it opens
	// nothing.
	RegistrationID string `json:"registrationId"`
	Position       uint64 `json:"position"`
}

// register: POST /join/{token} {email, name, password}. The answer is the
// same whether or not the address already belongs to a member.
func (a *API) register(c *gin.Context) error {
	token := c.Param("token")
	var in registerRequest
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	if err := a.limitSubject(ratelimit.GroupJoin, ratelimit.TokenSubject(token)); err != nil {
		return err
	}
	// Per address too, so a public link cannot be used to flood one inbox.
	if err := a.limitSubject(ratelimit.GroupJoin, ratelimit.EmailSubject(in.Email)); err != nil {
		return err
	}
	res, err := a.cmd.RegisterViaLink(c.Request.Context(), a.commandRequest(c),
		commands.RegisterInput{Token: token, Email: in.Email, Name: in.Name, Password: in.Password})
	if err != nil {
		return err
	}
	written(c, http.StatusAccepted, res.Position, registerResponse{
		Status: "verification_sent", Detail: "check your mail: the link in it completes the registration",
		RegistrationID: string(res.RegistrationID), Position: uint64(res.Position),
	})
	return nil
}

// verify: POST /verify/{token} proves the address and makes the member.
func (a *API) verify(c *gin.Context) error {
	token := c.Param("token")
	if err := a.limitSubject(ratelimit.GroupVerify, ratelimit.TokenSubject(token)); err != nil {
		return err
	}
	res, err := a.cmd.VerifyRegistration(c.Request.Context(), a.commandRequest(c), token)
	if err != nil {
		return err
	}
	written(c, http.StatusCreated, res.Position, joinedResponse{UserID: string(res.UserID), OrgID: string(res.OrgID), Position: uint64(res.Position)})
	return nil
}
