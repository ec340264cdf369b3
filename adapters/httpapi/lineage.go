package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// MaxLineageDepth bounds the walk up the chain of inviters. Real chains
// are short; the bound keeps a corrupted read model (or an organization
// grown by invitation chains thousands deep) from turning one request into
// thousands of reads.
const MaxLineageDepth = 100

// How a chain of inviters ends (lineageResponse.ChainEnd).
const (
	chainEndRoot           = "root"            // someone nobody invited: the bootstrap owner, a self-service registration
	chainEndCycle          = "cycle"           // an inviter already in the chain (a read-model defect)
	chainEndDepthLimit     = "depth_limit"     // MaxLineageDepth inviters walked
	chainEndUnknownInviter = "unknown_inviter" // an inviter with no row; UnknownInviter names them
)

type lineageResponse struct {
	Member userItem `json:"member"`
	// Inviters is the chain from the member's inviter (first) up to the
	// person at its root (last).
	Inviters []userItem `json:"inviters"`
	ChainEnd string     `json:"chainEnd"`
	// UnknownInviter is the inviter the chain stopped at when ChainEnd is
	// unknown_inviter.
	UnknownInviter *refView `json:"unknownInviter,omitempty"`
	// Invitees are the people the member invited (or added), joined or not.
	Invitees []userItem `json:"invitees"`
}

// lineage: GET /orgs/{orgId}/users/{userId}/lineage.
func (a *API) lineage(c *gin.Context) error {
	p := parseQuery(c, ConsistencyParam)
	token, given := p.consistencyToken(c)
	user, err := domain.ParseID[domain.UserID](c.Param("userId"))
	if err != nil {
		return err
	}
	r, err := a.readerFor(c, readmodels.UsersBase, p, token, given)
	if err != nil {
		return err
	}
	ctx := c.Request.Context()
	org := domain.OrgID(c.Param("orgId"))
	member, ok, err := r.User(ctx, org, user)
	if err != nil {
		return a.readFailed(c, err)
	}
	if !ok {
		return domain.NotFound(domain.CodeMemberNotFound, "this organization has no member with this user id")
	}

	out := lineageResponse{Member: userItemOf(member), Inviters: []userItem{}, ChainEnd: chainEndRoot}
	seen := map[domain.UserID]bool{user: true}
	for next := member.InvitedBy; next != nil && next.UserID != ""; {
		switch {
		case seen[next.UserID]:
			out.ChainEnd = chainEndCycle
		case len(out.Inviters) == MaxLineageDepth:
			out.ChainEnd = chainEndDepthLimit
		}
		if out.ChainEnd != chainEndRoot {
			break
		}
		inviter, ok, err := r.User(ctx, org, next.UserID)
		if err != nil {
			return a.readFailed(c, err)
		}
		if !ok {
			out.ChainEnd, out.UnknownInviter = chainEndUnknownInviter, refOf(next)
			break
		}
		seen[next.UserID] = true
		out.Inviters = append(out.Inviters, userItemOf(inviter))
		next = inviter.InvitedBy
	}

	invitees, err := r.InvitedBy(ctx, org, user)
	if err != nil {
		return a.readFailed(c, err)
	}
	out.Invitees = userItemsOf(invitees)
	c.JSON(http.StatusOK, out)
	return nil
}
