package readmodels

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections"
)

// auditSkipped are the event types the audit trail leaves out: the
// bookkeeping of the uniqueness guard and the sign-in index, which repeat
// what the organization, invitation and account events say.
var auditSkipped = map[string]bool{
	domain.TypeMembershipInvitationHeld: true, domain.TypeMembershipInvitationReleased: true,
	domain.TypeMembershipReserved: true, domain.TypeMembershipReleased: true,
	domain.TypeLoginAccountLinked: true, domain.TypeLoginAccountUnlinked: true,
}

// secretKeyParts mark payload fields that never reach the audit trail, at
// any depth. Events hold no tokens by design, but password hashes
// (AccountCreated, PasswordSet, PasswordResetCompleted,
// RegistrationStarted) are there, and a field added later under such a
// name is dropped too.
var secretKeyParts = []string{"password", "hash", "token", "secret", "credential"}

// auditEntry turns one event into its audit entry; ok is false for events
// that belong to no organization. It also teaches refs the emails that
// later entries show for actors and subjects.
func auditEntry(refs table[ref], e projections.Envelope) (entry AuditEntry, ok bool, err error) {
	learnAuditRefs(refs, e.Event)
	details, err := auditDetails(e.Event)
	if err != nil {
		return AuditEntry{}, false, fmt.Errorf("audit: %s %s: %w", e.Type, e.EventID, err)
	}
	org, _ := details["orgId"].(string)
	if org == "" {
		return AuditEntry{}, false, nil
	}
	delete(details, "orgId")
	subject, subjectKey := auditSubject(domain.StreamName(e.Stream).Category(), details, org)
	entry = AuditEntry{
		ID: e.EventID, OrgID: domain.OrgID(org), At: millis(e.At()),
		Actor: e.Meta.Actor, Action: e.Type, Subject: subject,
		CorrelationID: e.Meta.CorrelationID, CausationID: e.Meta.CausationID,
		Position: int64(e.Position),
	}
	if r, ok := refs.get(userKey(domain.UserID(e.Meta.Actor))); ok && e.Meta.Actor != "" {
		entry.ActorEmail = r.Email
	}
	if email, ok := details["email"].(string); ok {
		entry.SubjectEmail = email
	} else if r, ok := refs.get(subjectKey); ok && subjectKey != "" {
		entry.SubjectEmail = r.Email
	}
	if len(details) > 0 {
		entry.Details = details
	}
	return entry, true, nil
}

// learnAuditRefs remembers the emails events introduce.
func learnAuditRefs(refs table[ref], event domain.Event) {
	switch ev := event.(type) {
	case domain.UserInvited:
		refs.put(invitationKey(ev.InvitationID), ref{ID: invitationKey(ev.InvitationID), OrgID: ev.OrgID, Email: ev.Email})
	case domain.RegistrationStarted:
		refs.put(registrationKey(ev.RegistrationID), ref{ID: registrationKey(ev.RegistrationID), OrgID: ev.OrgID, Email: ev.Email})
	case domain.RegistrationAttemptedByMember:
		refs.put(registrationKey(ev.RegistrationID), ref{ID: registrationKey(ev.RegistrationID), OrgID: ev.OrgID, Email: ev.Email})
	case domain.AccountCreated:
		rememberUser(refs, ev.OrgID, ev.UserID, ev.Email, "")
	case domain.MemberJoined:
		rememberUser(refs, ev.OrgID, ev.UserID, ev.Email, "")
	}
}

// auditSubject is what an event is about: the aggregate of its stream,
// and for the organization's own events the member concerned, if any.
func auditSubject(category domain.Category, details map[string]any, org string) (subject, key string) {
	str := func(k string) string { s, _ := details[k].(string); return s }
	switch category {
	case domain.CategoryInvitation:
		id := str("invitationId")
		return id, invitationKey(domain.InvitationID(id))
	case domain.CategoryRegistration:
		id := str("registrationId")
		return id, registrationKey(domain.RegistrationID(id))
	}
	if id := str("userId"); id != "" {
		return id, userKey(domain.UserID(id))
	}
	return org, ""
}

// auditDetails is the event's payload as a document, without secrets.
func auditDetails(event domain.Event) (map[string]any, error) {
	raw, err := json.Marshal(event)
	if err != nil {
		return nil, err
	}
	var details map[string]any
	if err := json.Unmarshal(raw, &details); err != nil {
		return nil, err
	}
	scrub(details)
	return details, nil
}

// scrub removes secret-named fields and stores whole numbers as integers
// (JSON decodes every number as float64).
func scrub(m map[string]any) {
	for k, v := range m {
		if isSecretKey(k) {
			delete(m, k)
			continue
		}
		m[k] = scrubValue(v)
	}
}

func scrubValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		scrub(x)
	case []any:
		for i := range x {
			x[i] = scrubValue(x[i])
		}
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
	}
	return v
}

func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	for _, part := range secretKeyParts {
		if strings.Contains(k, part) {
			return true
		}
	}
	return false
}
