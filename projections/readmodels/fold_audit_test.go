package readmodels

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections"
)

func TestAuditEntry(t *testing.T) {
	refs := memTable[ref]{}
	h := bootstrapped().add(string(owner), invite(invAnn, "Ann@Example.org", owner, 1)).
		add("self-service-link", domain.RegistrationStarted{RegistrationID: regBob, OrgID: org, Email: "bob@example.org",
			NormalizedEmail: "bob@example.org", Name: "Bob", PasswordHash: "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA", Generation: 1}).
		add(string(owner), domain.MemberRoleChanged{OrgID: org, UserID: owner, From: domain.RoleOwner, To: domain.RoleOwner}).
		add(string(owner), domain.MembershipReserved{OrgID: org, UserID: owner, Via: domain.JoinedViaBootstrap})
	var entries []AuditEntry
	for _, e := range h {
		if !NewAudit(nil, Options{}).Handles(e.Type) {
			continue
		}
		entry, ok, err := auditEntry(refs, e)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			entries = append(entries, entry)
		}
	}
	if len(entries) != 5 {
		t.Fatalf("%d entries, want 5 (the membership guard's event is left out): %+v", len(entries), entries)
	}
	invited := entries[2]
	want := AuditEntry{ID: h[2].EventID, OrgID: org, At: *at(3), Actor: string(owner), ActorEmail: "Owner@Acme.example",
		Action: domain.TypeUserInvited, Subject: string(invAnn), SubjectEmail: "Ann@Example.org", CorrelationID: h[2].Meta.CorrelationID,
		Details: map[string]any{"invitationId": string(invAnn), "email": "Ann@Example.org", "normalizedEmail": "ann@example.org",
			"role": "member", "invitedBy": string(owner), "generation": int64(1), "expiresAt": t0.Add(7 * 24 * time.Hour).Format(time.RFC3339)},
		Position: 300}
	if !reflect.DeepEqual(invited, want) {
		t.Errorf("invitation entry\n got %+v\nwant %+v", invited, want)
	}
	registered := entries[3]
	if registered.Subject != string(regBob) || registered.SubjectEmail != "bob@example.org" || registered.Actor != "self-service-link" || registered.ActorEmail != "" {
		t.Errorf("registration entry: %+v", registered)
	}
	if _, leaked := registered.Details["passwordHash"]; leaked {
		t.Errorf("the password hash reached the audit trail: %+v", registered.Details)
	}
	role := entries[4]
	if role.Subject != string(owner) || role.SubjectEmail != "Owner@Acme.example" || role.Details["from"] != "owner" {
		t.Errorf("role change entry: %+v", role)
	}
	if created := entries[0]; created.Subject != string(org) || created.Details["name"] != "Acme" {
		t.Errorf("organization entry: %+v", created)
	}
}

// Every event type, every field set: nothing named like a secret, and no
// value of such a field, reaches the details.
func TestAuditDetailsNeverHoldSecrets(t *testing.T) {
	registry, err := domain.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range registry.Types() {
		zero, err := registry.Decode(name, domain.InitialSchemaVersion, []byte("{}"))
		if err != nil {
			t.Fatal(err)
		}
		v := reflect.New(reflect.TypeOf(zero)).Elem()
		var secrets []string
		for i := range v.NumField() {
			f, sf := v.Field(i), v.Type().Field(i)
			switch {
			case f.Kind() == reflect.String:
				f.SetString(fmt.Sprintf("%s-%s-value", name, sf.Name))
				if isSecretKey(sf.Name) {
					secrets = append(secrets, f.String())
				}
			case f.Kind() == reflect.Int:
				f.SetInt(3)
			case sf.Type == reflect.TypeOf(time.Time{}):
				f.Set(reflect.ValueOf(t0))
			}
		}
		event := v.Interface().(domain.Event)
		entry, ok, err := auditEntry(memTable[ref]{}, projections.Envelope{EventID: "e1", Type: name, Stream: "organization-x", Position: 1,
			Event: event, Meta: commands.Metadata{Actor: "system", RequestTime: t0}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !ok {
			t.Errorf("%s: no entry (every event here has an organization)", name)
			continue
		}
		text := fmt.Sprintf("%+v", entry)
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s: secret field value %q in the audit entry: %s", name, s, text)
			}
		}
		for k := range entry.Details {
			if isSecretKey(k) {
				t.Errorf("%s: detail %q kept", name, k)
			}
		}
	}
}
