package domain

// Event is a fact that happened, named in the past tense. EventType returns
// the stable name stored with the event; it is written out as a constant
// per event and never derived from the Go type name, so renaming a struct
// cannot orphan stored history.
//
// Payloads evolve additively: new fields are optional (omitempty, zero value
// meaning "absent"), old fields keep their JSON names. When that is not
// enough, bump the schema version and register an Upcaster.
type Event interface {
	EventType() string
}

// Fold applies events in order to a state; it is how every aggregate is
// loaded and how tests build their "given".
func Fold[S any](state S, evolve func(S, Event) S, events ...Event) S {
	for _, e := range events {
		state = evolve(state, e)
	}
	return state
}
