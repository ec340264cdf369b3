package domain

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestNewRegistry_RegistersEveryEventOnce(t *testing.T) {
	r := mustRegistry(t)
	types := r.Types()
	if len(types) != len(allEvents()) {
		t.Fatalf("%d types registered for %d constructors", len(types), len(allEvents()))
	}
	for _, name := range types {
		if name == "" || strings.ContainsAny(name, " .-") || strings.ToUpper(name[:1]) != name[:1] {
			t.Errorf("type name %q is not a plain PascalCase name", name)
		}
		if r.SchemaVersion(name) != InitialSchemaVersion {
			t.Errorf("%s starts at version %d", name, r.SchemaVersion(name))
		}
	}
}

// Every event must survive encode/decode with every field set, so a missing
// or duplicated JSON tag shows up here rather than in production history.
func TestRegistry_RoundTripsEveryEventWithAllFieldsSet(t *testing.T) {
	r := mustRegistry(t)
	for _, ctor := range allEvents() {
		e := fillFields(t, ctor())
		assertRoundTrip(t, r, e)

		var fields map[string]json.RawMessage
		_, _, data, _ := r.Encode(e)
		if err := json.Unmarshal(data, &fields); err != nil {
			t.Fatal(err)
		}
		if n := reflect.TypeOf(e).NumField(); len(fields) != n {
			t.Errorf("%s: %d JSON fields for %d struct fields (missing or clashing tags?): %s", e.EventType(), len(fields), n, data)
		}
	}
}

// fillFields sets every field of the event behind ptr to a non-zero value
// and returns the event value.
func fillFields(t *testing.T, ptr Event) Event {
	v := reflect.ValueOf(ptr).Elem()
	when := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Interface().(type) {
		case time.Time:
			f.Set(reflect.ValueOf(when))
		case *time.Time:
			f.Set(reflect.ValueOf(&when))
		case []string:
			f.Set(reflect.ValueOf([]string{"example.com"}))
		case bool:
			f.SetBool(true)
		default:
			switch f.Kind() {
			case reflect.String:
				f.SetString(v.Type().Field(i).Name + "-value")
			case reflect.Int:
				f.SetInt(int64(i + 1))
			default:
				t.Fatalf("%s.%s: add a filler for %s", v.Type().Name(), v.Type().Field(i).Name, f.Type())
			}
		}
	}
	return v.Interface().(Event)
}

func TestRegistry_RefusesDuplicatesAndMismatches(t *testing.T) {
	r := mustRegistry(t)
	err := r.Register(TypeUserInvited, func() Event { return &UserInvited{} })
	if err == nil || !strings.Contains(err.Error(), "registered twice") {
		t.Fatalf("duplicate registration: %v", err)
	}
	empty := &Registry{constructors: map[string]func() Event{}, upcasters: map[string]upcasting{}}
	if err := empty.Register("Renamed", func() Event { return &UserInvited{} }); err == nil {
		t.Fatal("a constructor whose EventType differs from the name was accepted")
	}
	if err := empty.Register(TypeUserInvited, func() Event { return UserInvited{} }); err == nil {
		t.Fatal("a constructor returning a value (not decodable) was accepted")
	}
	if err := empty.Register("", func() Event { return &UserInvited{} }); err == nil {
		t.Fatal("an empty name was accepted")
	}
}

func TestRegistry_DecodeErrors(t *testing.T) {
	r := mustRegistry(t)
	if _, err := r.Decode("NoSuchEvent", 1, json.RawMessage(`{}`)); err == nil {
		t.Error("unknown type decoded")
	}
	if _, err := r.Decode(TypeUserInvited, 2, json.RawMessage(`{}`)); err == nil {
		t.Error("a version from the future decoded")
	}
	if _, err := r.Decode(TypeUserInvited, 1, json.RawMessage(`{"generation":"x"}`)); err == nil {
		t.Error("a malformed payload decoded")
	}
	if e, err := r.Decode(TypeInvitationRevoked, 0, json.RawMessage(`{"invitationId":"i","orgId":"o","futureField":1}`)); err != nil ||
		e != (InvitationRevoked{InvitationID: "i", OrgID: "o"}) {
		t.Errorf("version 0 with an unknown field: %#v %v", e, err)
	}
	if _, _, _, err := (&Registry{constructors: map[string]func() Event{}}).Encode(UserInvited{}); err == nil {
		t.Error("an unregistered event encoded")
	}
}

func TestRegistry_Upcasting(t *testing.T) {
	r := mustRegistry(t)
	// Pretend MemberRemoved v1 stored the email as "email"; v2 calls it
	// "normalizedEmail".
	up := func(version int, raw json.RawMessage) (json.RawMessage, error) {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		m["normalizedEmail"] = m["email"]
		delete(m, "email")
		return json.Marshal(m)
	}
	if err := r.RegisterUpcaster(TypeMemberRemoved, 2, up); err != nil {
		t.Fatal(err)
	}
	e, err := r.Decode(TypeMemberRemoved, 1, json.RawMessage(`{"orgId":"o","userId":"u","email":"a@b.test"}`))
	if err != nil || e != (MemberRemoved{OrgID: "o", UserID: "u", NormalizedEmail: "a@b.test"}) {
		t.Fatalf("upcast: %#v %v", e, err)
	}
	if name, version, _, _ := r.Encode(MemberRemoved{}); name != TypeMemberRemoved || version != 2 {
		t.Fatalf("new events must be written at the raised version, got %d", version)
	}
	if _, err := r.Decode(TypeMemberRemoved, 2, json.RawMessage(`{"orgId":"o","userId":"u","normalizedEmail":"a@b.test"}`)); err != nil {
		t.Fatalf("current version: %v", err)
	}
	if err := r.RegisterUpcaster(TypeMemberRemoved, 3, up); err == nil {
		t.Error("a second upcaster for one type was accepted")
	}
	if err := r.RegisterUpcaster("NoSuchEvent", 2, up); err == nil {
		t.Error("an upcaster for an unknown type was accepted")
	}
	if err := r.RegisterUpcaster(TypeUserInvited, 1, up); err == nil {
		t.Error("an upcaster that does not raise the version was accepted")
	}
	if _, err := r.Decode(TypeMemberRemoved, 1, json.RawMessage(`not json`)); err == nil {
		t.Error("an upcaster failure was swallowed")
	}
}

func TestEventTypeNamesAreStable(t *testing.T) {
	// These strings are stored forever. This list changes only by addition.
	want := []string{
		"AccountClosed", "AccountCreated", "AlreadyMemberEmailFailed", "AlreadyMemberEmailSent",
		"InvitationAccepted", "InvitationEmailFailed", "InvitationEmailSent", "InvitationResent", "InvitationRevoked",
		"LoginAccountLinked", "LoginAccountUnlinked",
		"MemberJoined", "MemberRemoved", "MemberRoleChanged",
		"MembershipInvitationHeld", "MembershipInvitationReleased", "MembershipReleased", "MembershipReserved",
		"OrganizationCreated", "PasswordResetCompleted", "PasswordResetEmailFailed", "PasswordResetEmailSent",
		"PasswordResetRequested", "PasswordSet", "PasswordSetupRequested",
		"RegistrationAttemptedByMember", "RegistrationEmailVerified", "RegistrationRejected", "RegistrationStarted",
		"SelfServiceLinkConfigured", "SelfServiceLinkRotated", "SessionEnded", "SessionStarted",
		"SetPasswordEmailFailed", "SetPasswordEmailSent",
		"UserInvited", "VerificationEmailFailed", "VerificationEmailSent",
	}
	if got := mustRegistry(t).Types(); !reflect.DeepEqual(got, want) {
		t.Fatalf("registered types changed:\n got  %v\n want %v", got, want)
	}
}
