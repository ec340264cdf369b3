package domain

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

// t0 is the "now" of every spec unless it says otherwise.
var t0 = time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)

// spec is one given/when/then case: given past events, when a command is
// decided at now, then exactly these events, or an error of this kind and
// code (and, for validation, these fields).
type spec[C any] struct {
	name       string
	given      []Event
	when       C
	now        time.Time
	then       []Event
	wantKind   Kind
	wantCode   string
	wantFields []string
}

// runSpecs runs the cases against one aggregate's Evolve and Decide. Beyond
// the expected outcome it checks two properties every decision must have:
// deciding twice on the same state gives the same answer (purity), and every
// produced event survives the registry's JSON round trip unchanged.
func runSpecs[S any, C any](t *testing.T, evolve func(S, Event) S, decide func(S, C, time.Time) ([]Event, error), specs []spec[C]) {
	t.Helper()
	registry := mustRegistry(t)
	for _, tc := range specs {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = t0
			}
			var zero S
			state := Fold(zero, evolve, tc.given...)
			got, err := decide(state, tc.when, now)
			again, errAgain := decide(state, tc.when, now)
			if !reflect.DeepEqual(got, again) || !reflect.DeepEqual(err, errAgain) {
				t.Fatalf("deciding twice on the same state gave different answers:\n%#v %v\n%#v %v", got, err, again, errAgain)
			}

			if tc.wantKind != "" {
				if err == nil {
					t.Fatalf("want %s error %q, got events %#v", tc.wantKind, tc.wantCode, got)
				}
				if !IsKind(err, tc.wantKind) || CodeOf(err) != tc.wantCode {
					t.Fatalf("want %s/%s, got %s/%s: %v", tc.wantKind, tc.wantCode, KindOf(err), CodeOf(err), err)
				}
				if len(tc.wantFields) > 0 {
					var de *Error
					if !asError(err, &de) {
						t.Fatalf("error %v is not a *Error", err)
					}
					for _, f := range tc.wantFields {
						if _, ok := de.Fields[f]; !ok {
							t.Errorf("want field error for %q, got %v", f, de.Fields)
						}
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got, tc.then) {
				t.Fatalf("events:\n got  %#v\n want %#v", got, tc.then)
			}
			for _, e := range got {
				assertRoundTrip(t, registry, e)
			}
			Fold(state, evolve, got...) // the new events must apply cleanly
		})
	}
}

func asError(err error, target **Error) bool {
	de, ok := err.(*Error)
	if ok {
		*target = de
	}
	return ok
}

func mustRegistry(t *testing.T) *Registry {
	t.Helper()
	r, err := NewRegistry()
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	return r
}

func assertRoundTrip(t *testing.T, r *Registry, e Event) {
	t.Helper()
	name, version, data, err := r.Encode(e)
	if err != nil {
		t.Fatalf("encode %T: %v", e, err)
	}
	back, err := r.Decode(name, version, data)
	if err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	if !reflect.DeepEqual(back, e) {
		t.Fatalf("round trip changed %s:\n before %#v\n after  %#v", name, e, back)
	}
}

func fieldsOf(err error) []string {
	de, ok := err.(*Error)
	if !ok {
		return nil
	}
	var keys []string
	for k := range de.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func ptr[T any](v T) *T { return &v }
