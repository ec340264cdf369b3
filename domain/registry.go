package domain

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
)

// InitialSchemaVersion is the payload version of every event type until an
// upcaster raises it. The codec stores the version in metadata and hands it
// back to Decode.
const InitialSchemaVersion = 1

// Upcaster rewrites a stored payload of an older schema version (given) into
// the type's current one. It is a pure function of the stored bytes.
type Upcaster func(version int, raw json.RawMessage) (json.RawMessage, error)

type upcasting struct {
	current int
	upcast  Upcaster
}

// Registry maps stable event type names to constructors. It is built
// explicitly by NewRegistry (no init(), no package-level state) and handed
// to the codec by the composition root.
type Registry struct {
	constructors map[string]func() Event
	upcasters    map[string]upcasting
}

// NewRegistry returns a registry holding every domain event. It fails if
// two events claim the same type name, so such a mistake stops the service
// at start instead of corrupting history.
func NewRegistry() (*Registry, error) {
	r := &Registry{
		constructors: make(map[string]func() Event),
		upcasters:    make(map[string]upcasting),
	}
	for _, ctor := range allEvents() {
		if err := r.Register(ctor().EventType(), ctor); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// allEvents lists one constructor per event type. Adding an event means
// adding it here; the registry test checks every listed type round-trips.
func allEvents() []func() Event {
	return []func() Event{
		// organization-<id>
		func() Event { return &OrganizationCreated{} },
		func() Event { return &MemberJoined{} },
		func() Event { return &MemberRoleChanged{} },
		func() Event { return &MemberRemoved{} },
		func() Event { return &SelfServiceLinkConfigured{} },
		func() Event { return &SelfServiceLinkRotated{} },
		// invitation-<id>
		func() Event { return &UserInvited{} },
		func() Event { return &InvitationResent{} },
		func() Event { return &InvitationRevoked{} },
		func() Event { return &InvitationAccepted{} },
		func() Event { return &InvitationEmailSent{} },
		func() Event { return &InvitationEmailFailed{} },
		// membership-<hash>
		func() Event { return &MembershipInvitationHeld{} },
		func() Event { return &MembershipInvitationReleased{} },
		func() Event { return &MembershipReserved{} },
		func() Event { return &MembershipReleased{} },
		// registration-<id>
		func() Event { return &RegistrationStarted{} },
		func() Event { return &RegistrationAttemptedByMember{} },
		func() Event { return &RegistrationEmailVerified{} },
		func() Event { return &RegistrationRejected{} },
		func() Event { return &VerificationEmailSent{} },
		func() Event { return &VerificationEmailFailed{} },
		func() Event { return &AlreadyMemberEmailSent{} },
		func() Event { return &AlreadyMemberEmailFailed{} },
		// user-<id>
		func() Event { return &AccountCreated{} },
		func() Event { return &PasswordSetupRequested{} },
		func() Event { return &PasswordSet{} },
		func() Event { return &PasswordResetRequested{} },
		func() Event { return &PasswordResetCompleted{} },
		func() Event { return &AccountClosed{} },
		func() Event { return &SetPasswordEmailSent{} },
		func() Event { return &SetPasswordEmailFailed{} },
		func() Event { return &PasswordResetEmailSent{} },
		func() Event { return &PasswordResetEmailFailed{} },
		// session-<id>
		func() Event { return &SessionStarted{} },
		func() Event { return &SessionEnded{} },
		// login-<sha256 hex>
		func() Event { return &LoginAccountLinked{} },
		func() Event { return &LoginAccountUnlinked{} },
	}
}

// Register adds one event type. The constructor must return a pointer whose
// EventType matches name; a duplicate name is an error.
func (r *Registry) Register(name string, ctor func() Event) error {
	if name == "" {
		return fmt.Errorf("event registry: empty type name")
	}
	if _, dup := r.constructors[name]; dup {
		return fmt.Errorf("event registry: type name %q registered twice", name)
	}
	if reflect.TypeOf(ctor()).Kind() != reflect.Pointer {
		return fmt.Errorf("event registry: constructor for %q must return a pointer", name)
	}
	if got := ctor().EventType(); got != name {
		return fmt.Errorf("event registry: constructor for %q builds an event of type %q", name, got)
	}
	r.constructors[name] = ctor
	return nil
}

// RegisterUpcaster raises one type's schema version to current (the shape
// of its Go struct from now on) and installs the function that brings older
// stored payloads up to it. New events of that type are written with
// version current.
func (r *Registry) RegisterUpcaster(name string, current int, up Upcaster) error {
	if _, ok := r.constructors[name]; !ok {
		return fmt.Errorf("event registry: upcaster for unknown type %q", name)
	}
	if _, dup := r.upcasters[name]; dup {
		return fmt.Errorf("event registry: upcaster for %q registered twice", name)
	}
	if current <= InitialSchemaVersion || up == nil {
		return fmt.Errorf("event registry: upcaster for %q needs a version above %d and a function", name, InitialSchemaVersion)
	}
	r.upcasters[name] = upcasting{current: current, upcast: up}
	return nil
}

// SchemaVersion returns the version new events of this type are written with.
func (r *Registry) SchemaVersion(name string) int {
	if u, ok := r.upcasters[name]; ok {
		return u.current
	}
	return InitialSchemaVersion
}

// Types returns every registered type name, sorted; subscriptions filter
// $all on them.
func (r *Registry) Types() []string {
	return slices.Sorted(maps.Keys(r.constructors))
}

// Knows reports whether name is registered.
func (r *Registry) Knows(name string) bool {
	_, ok := r.constructors[name]
	return ok
}

// Encode returns the type name, schema version and JSON payload for e.
func (r *Registry) Encode(e Event) (string, int, []byte, error) {
	name := e.EventType()
	if !r.Knows(name) {
		return "", 0, nil, fmt.Errorf("event registry: unregistered event type %q", name)
	}
	data, err := json.Marshal(e)
	if err != nil {
		return "", 0, nil, fmt.Errorf("event registry: encode %s: %w", name, err)
	}
	return name, r.SchemaVersion(name), data, nil
}

// Decode turns a stored payload back into its event, upcasting older
// versions first. Version 0 means "not recorded" and is read as 1.
func (r *Registry) Decode(name string, version int, raw json.RawMessage) (Event, error) {
	ctor, ok := r.constructors[name]
	if !ok {
		return nil, fmt.Errorf("event registry: unknown event type %q", name)
	}
	if version == 0 {
		version = InitialSchemaVersion
	}
	if version < 0 {
		return nil, fmt.Errorf("event registry: %s has schema version %d; versions start at %d", name, version, InitialSchemaVersion)
	}
	current := r.SchemaVersion(name)
	if version > current {
		return nil, fmt.Errorf("event registry: %s has schema version %d, newer than this build (%d)", name, version, current)
	}
	if version < current {
		var err error
		if raw, err = r.upcasters[name].upcast(version, raw); err != nil {
			return nil, fmt.Errorf("event registry: upcast %s from version %d: %w", name, version, err)
		}
	}
	e := ctor()
	if err := json.Unmarshal(raw, e); err != nil {
		return nil, fmt.Errorf("event registry: decode %s: %w", name, err)
	}
	// Constructors return pointers so json can fill them; aggregates and
	// projections switch on event values, so hand back the value.
	return reflect.ValueOf(e).Elem().Interface().(Event), nil
}
