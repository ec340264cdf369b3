package commands

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/orgportal/onboarding/domain"
)

// BootstrapInput is the first organization and its owner, from the
// PORTAL_BOOTSTRAP_* settings.
type BootstrapInput struct {
	// OrgID is optional: BootstrapOrgID(OrgName) when empty, so that every
	// start with the same settings finds the same organization.
	OrgID     domain.OrgID
	OrgName   string
	Email     string
	OwnerName string // the part of Email before the @ when empty
	Password  string // generated when empty
}

// BootstrapResult says what Bootstrap did.
type BootstrapResult struct {
	OrgID   domain.OrgID
	OwnerID domain.UserID
	// Created is false when the organization already existed: nothing was
	// written.
	Created bool
	// GeneratedPassword is the owner's password when Bootstrap made it up;
	// print it once and never log it again.
	GeneratedPassword string
	Position          Position
}

// BootstrapOrgID derives a stable organization id from its name.
func BootstrapOrgID(name string) domain.OrgID {
	sum := sha256.Sum256([]byte("bootstrap-org\x00" + strings.ToLower(strings.TrimSpace(name))))
	return domain.OrgID("org-" + hex.EncodeToString(sum[:12]))
}

// Bootstrap creates the first organization and its owner, unless the
// organization exists already (a restart), in which case it does nothing.
// The events are recorded with actor "system".
//
// Order: reserve the owner's address, create the account and its sign-in
// entry, then create the organization (whose existence is the "done"
// marker). A start that died part-way resumes with the owner id it had
// reserved.
func (h *Handlers) Bootstrap(ctx context.Context, req Request, in BootstrapInput) (BootstrapResult, error) {
	req = h.withCorrelation(req)
	meta := h.meta(req, domain.ActorSystem)
	org := in.OrgID
	if org == "" {
		org = BootstrapOrgID(in.OrgName)
	}
	if _, err := domain.ParseID[domain.OrgID](string(org)); err != nil {
		return BootstrapResult{}, err
	}
	state, _, err := load(ctx, h.store, domain.OrganizationStream(org), domain.EvolveOrganization)
	if err != nil {
		return BootstrapResult{}, err
	}
	if state.Exists() {
		return BootstrapResult{OrgID: org}, nil
	}
	if _, err := domain.ParseOrganizationName(in.OrgName); err != nil {
		return BootstrapResult{}, fieldError("orgName", err)
	}
	email, err := domain.ParseEmail(in.Email)
	if err != nil {
		return BootstrapResult{}, fieldError("email", err)
	}
	name := in.OwnerName
	if strings.TrimSpace(name) == "" {
		name = email.String()[:strings.IndexByte(email.String(), '@')]
	}
	password, generated := in.Password, ""
	if password == "" {
		password = generatePassword()
		generated = password
	}
	if err := domain.CheckPassword(password, email); err != nil {
		return BootstrapResult{}, fieldError("password", err)
	}
	hash, err := h.passwords.Hash(password)
	if err != nil {
		return BootstrapResult{}, err
	}

	// Resume a start that died after reserving the address.
	guard, _, err := load(ctx, h.store, domain.MembershipStream(org, email), domain.EvolveMembership)
	if err != nil {
		return BootstrapResult{}, err
	}
	owner := domain.UserID(h.ids())
	if guard.Status == domain.MembershipActive {
		owner = guard.UserID
		account, _, err := load(ctx, h.store, domain.UserStream(owner), domain.EvolveAccount)
		if err != nil {
			return BootstrapResult{}, err
		}
		if account.Exists() {
			generated = "" // the account keeps the password of the start that created it
		}
	}
	m := newMember{
		UserID: owner, OrgID: org, Email: email, Name: name, PasswordHash: hash, Via: domain.JoinedViaBootstrap,
		admit: func(s domain.OrganizationState) ([]domain.Event, error) {
			if s.Exists() {
				return nil, nil
			}
			return domain.DecideOrganization(s, domain.CreateOrganization{
				OrgID: org, Name: in.OrgName, OwnerID: owner, OwnerEmail: email, OwnerName: name,
			}, h.clock())
		},
	}
	if _, _, err := h.reserve(ctx, meta, m, ""); err != nil {
		return BootstrapResult{}, err
	}
	pos, _, err := h.join(ctx, meta, m)
	if err != nil {
		return BootstrapResult{}, err
	}
	return BootstrapResult{OrgID: org, OwnerID: owner, Created: true, GeneratedPassword: generated, Position: pos}, nil
}

// generatePassword returns 144 random bits as 24 URL-safe characters.
func generatePassword() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
