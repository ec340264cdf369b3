package commands

import (
	"context"
	"strings"
	"time"

	"github.com/orgportal/onboarding/domain"
)

// LinkView is the self-service link as the settings page shows it.
type LinkView struct {
	Enabled bool
	// URL is Config.PublicURL + "/join/" + the current token.
	URL            string
	AllowedDomains []string
	DefaultRole    domain.Role
	ExpiresAt      *time.Time
	MaxUses        int // 0: unlimited
	Uses           int
	Generation     int
}

// LinkResult answers a change of the link.
type LinkResult struct {
	Link     LinkView
	Position Position
}

func (h *Handlers) linkView(org domain.OrganizationState) (LinkView, error) {
	token, err := h.tokens.SelfServiceLink.Issue(string(org.ID), org.Link.Generation)
	if err != nil {
		return LinkView{}, err
	}
	l := org.Link
	return LinkView{
		Enabled: l.Enabled, URL: strings.TrimRight(h.cfg.PublicURL, "/") + "/join/" + token,
		AllowedDomains: l.AllowedDomains.Strings(), DefaultRole: l.DefaultRole, ExpiresAt: l.ExpiresAt,
		MaxUses: l.MaxUses, Uses: l.Uses, Generation: l.Generation,
	}, nil
}

// GetSelfServiceLink returns the organization's link for its admins.
func (h *Handlers) GetSelfServiceLink(ctx context.Context, req Request, org domain.OrgID) (LinkView, error) {
	state, err := h.loadOrgAsAdmin(ctx, org, req.Actor)
	if err != nil {
		return LinkView{}, err
	}
	return h.linkView(state)
}

// ConfigureLinkInput is the complete new settings (PUT semantics).
type ConfigureLinkInput struct {
	Enabled        bool
	AllowedDomains []string
	DefaultRole    string
	ExpiresAt      *time.Time
	MaxUses        int
}

// ConfigureSelfServiceLink replaces the link's settings. Unchanged settings
// record nothing (Position 0).
func (h *Handlers) ConfigureSelfServiceLink(ctx context.Context, req Request, org domain.OrgID, in ConfigureLinkInput) (LinkResult, error) {
	req = h.withCorrelation(req)
	if _, err := h.loadOrgAsAdmin(ctx, org, req.Actor); err != nil {
		return LinkResult{}, err
	}
	state, pos, err := update(ctx, h.store, domain.OrganizationStream(org), domain.EvolveOrganization, h.meta(req, req.Actor),
		func(s domain.OrganizationState) ([]domain.Event, error) {
			return domain.DecideOrganization(s, domain.ConfigureSelfServiceLink{
				Actor: domain.UserID(req.Actor), Enabled: in.Enabled, AllowedDomains: in.AllowedDomains,
				DefaultRole: domain.Role(in.DefaultRole), ExpiresAt: in.ExpiresAt, MaxUses: in.MaxUses,
			}, h.clock())
		})
	if err != nil {
		return LinkResult{}, err
	}
	view, err := h.linkView(state)
	return LinkResult{Link: view, Position: pos}, err
}

// RotateSelfServiceLink issues a new link; the old URL stops working at
// once, and registrations started through it can no longer be verified.
// If another admin rotated concurrently, that rotation is the answer:
// rotating again would kill the URL they were just given.
func (h *Handlers) RotateSelfServiceLink(ctx context.Context, req Request, org domain.OrgID) (LinkResult, error) {
	req = h.withCorrelation(req)
	before, err := h.loadOrgAsAdmin(ctx, org, req.Actor)
	if err != nil {
		return LinkResult{}, err
	}
	seen := before.Link.Generation
	state, pos, err := update(ctx, h.store, domain.OrganizationStream(org), domain.EvolveOrganization, h.meta(req, req.Actor),
		func(s domain.OrganizationState) ([]domain.Event, error) {
			if s.Link.Generation != seen {
				return nil, s.RequireAdmin(domain.UserID(req.Actor))
			}
			return domain.DecideOrganization(s, domain.RotateSelfServiceLink{Actor: domain.UserID(req.Actor)}, h.clock())
		})
	if err != nil {
		return LinkResult{}, err
	}
	view, err := h.linkView(state)
	return LinkResult{Link: view, Position: pos}, err
}

// JoinLinkView is what the public registration page shows.
type JoinLinkView struct {
	OrgID            domain.OrgID
	OrganizationName string
	AllowedDomains   []string // empty: any domain
}

func linkNotFound() error {
	return domain.NotFound(domain.CodeLinkNotFound, "this registration link does not exist; ask the organization for its current link")
}

// loadLink verifies a link token and loads its organization.
func (h *Handlers) loadLink(ctx context.Context, token string) (domain.OrganizationState, int, error) {
	id, generation, err := verifyToken(h.tokens.SelfServiceLink, token, linkNotFound())
	if err != nil {
		return domain.OrganizationState{}, 0, err
	}
	org, _, err := load(ctx, h.store, domain.OrganizationStream(domain.OrgID(id)), domain.EvolveOrganization)
	if err != nil {
		return org, 0, err
	}
	if !org.Exists() {
		return org, 0, linkNotFound()
	}
	return org, generation, nil
}

// DescribeJoinLink tells the registration page about the organization
// behind a link, or why the link cannot be used (rotated, disabled,
// expired, used up: Gone with its own code).
func (h *Handlers) DescribeJoinLink(ctx context.Context, token string) (JoinLinkView, error) {
	org, generation, err := h.loadLink(ctx, token)
	if err != nil {
		return JoinLinkView{}, err
	}
	if err := org.Link.CheckToken(generation, h.clock()); err != nil {
		return JoinLinkView{}, err
	}
	return JoinLinkView{OrgID: org.ID, OrganizationName: org.Name, AllowedDomains: org.Link.AllowedDomains.Strings()}, nil
}
