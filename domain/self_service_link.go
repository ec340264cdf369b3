package domain

import (
	"slices"
	"strings"
	"time"
)

// SelfServiceLink is the organization's shareable registration link. It is
// part of the organization aggregate rather than a stream of its own: its
// use limit must be checked and counted in the same append that adds the
// member, and the roster lives in the organization stream.
//
// The link URL carries a token derived from (org id, Generation); rotating
// bumps Generation, which kills every older token at once.
type SelfServiceLink struct {
	Enabled        bool
	AllowedDomains DomainAllowlist
	DefaultRole    Role
	ExpiresAt      *time.Time // nil: never expires
	MaxUses        int        // 0: unlimited
	Uses           int        // members who joined through this generation
	Generation     int
}

// CheckToken tells whether a link token of the given generation can be used
// now. Order matters for the message: a rotated link says so even if it was
// also disabled or expired later.
func (l SelfServiceLink) CheckToken(generation int, now time.Time) error {
	switch {
	case generation < 1 || generation > l.Generation:
		return NotFound(CodeLinkNotFound, "this registration link does not exist; ask the organization for its current link")
	case generation < l.Generation:
		return Gone(CodeLinkRotated, "this registration link has been replaced by a new one; ask the organization for its current link")
	case !l.Enabled:
		return Gone(CodeLinkDisabled, "registration through this link is switched off; ask the organization for an invitation")
	case l.ExpiresAt != nil && !now.Before(*l.ExpiresAt):
		return Gone(CodeLinkExpired, "this registration link has expired; ask the organization for a new link or an invitation")
	case l.MaxUses > 0 && l.Uses >= l.MaxUses:
		return Gone(CodeLinkExhausted, "this registration link has reached its maximum number of uses; ask the organization for a new link or an invitation")
	}
	return nil
}

// Admits checks the token and the address's domain against the allowlist.
func (l SelfServiceLink) Admits(generation int, email Email, now time.Time) error {
	if err := l.CheckToken(generation, now); err != nil {
		return err
	}
	if !l.AllowedDomains.Admits(email) {
		return Forbidden(CodeEmailDomainForbidden,
			"addresses at %s cannot register through this link; use an address at %s, or ask for an invitation",
			email.Domain(), strings.Join(l.AllowedDomains.Strings(), ", "))
	}
	return nil
}

// sameSettings reports whether configuring e would change nothing.
func (l SelfServiceLink) sameSettings(e SelfServiceLinkConfigured) bool {
	sameExpiry := (l.ExpiresAt == nil) == (e.ExpiresAt == nil) &&
		(l.ExpiresAt == nil || l.ExpiresAt.Equal(*e.ExpiresAt))
	return l.Enabled == e.Enabled && l.DefaultRole == e.DefaultRole && l.MaxUses == e.MaxUses &&
		sameExpiry && slices.Equal(l.AllowedDomains.Strings(), e.AllowedDomains)
}

// allowlistFromStored rebuilds patterns from their canonical stored form
// without re-validating: if validation rules tighten later, a stored entry
// must keep matching rather than silently vanish (an emptied list would
// admit every domain).
func allowlistFromStored(stored []string) DomainAllowlist {
	list := make(DomainAllowlist, 0, len(stored))
	for _, s := range stored {
		if rest, ok := strings.CutPrefix(s, "*."); ok {
			list = append(list, DomainPattern{domain: rest, wildcard: true})
		} else {
			list = append(list, DomainPattern{domain: s})
		}
	}
	return list
}
