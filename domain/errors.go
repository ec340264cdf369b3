package domain

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Kind is one of the handful of error categories the outside world needs to
// tell apart. The HTTP adapter maps each kind to exactly one status code and
// log level, so adding a kind is a deliberate, cross-cutting decision.
//
// Kind implements error so that a bare kind works as a sentinel:
//
//	errors.Is(err, domain.KindGone)
type Kind string

const (
	// KindInvalid: the request itself is wrong; resending it unchanged will
	// fail again (HTTP 400).
	KindInvalid Kind = "invalid"
	// KindNotFound: the thing addressed does not exist, or the caller may not
	// learn that it does (HTTP 404).
	KindNotFound Kind = "not_found"
	// KindConflict: the request is fine but the current state forbids it
	// (HTTP 409).
	KindConflict Kind = "conflict"
	// KindForbidden: the actor is not allowed to do this (HTTP 403).
	KindForbidden Kind = "forbidden"
	// KindGone: the thing existed but can no longer be used: an expired,
	// revoked, superseded or used token (HTTP 410).
	KindGone Kind = "gone"
	// KindUnauthenticated: the caller's credentials or session do not
	// identify anyone (HTTP 401): a failed sign-in, or a dead session.
	KindUnauthenticated Kind = "unauthenticated"
)

// Error makes a bare Kind usable as an errors.Is target.
func (k Kind) Error() string { return string(k) }

// Error is the domain's only error type. Code is a stable, machine-readable
// identifier (clients branch on it, so never rename one); Message is for a
// human and says what to do next; Fields holds per-field validation problems
// (field name → message) for KindInvalid.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Fields  map[string]string
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
	parts := make([]string, 0, len(e.Fields))
	for _, field := range slices.Sorted(maps.Keys(e.Fields)) {
		parts = append(parts, field+": "+e.Fields[field])
	}
	return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, strings.Join(parts, "; "))
}

// Is lets errors.Is match an *Error against its Kind or against another
// *Error with the same Code.
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case Kind:
		return e.Kind == t
	case *Error:
		return t.Code != "" && e.Code == t.Code
	}
	return false
}

// WithField returns a copy of e with one more field problem.
func (e *Error) WithField(field, message string) *Error {
	c := *e
	c.Fields = make(map[string]string, len(e.Fields)+1)
	maps.Copy(c.Fields, e.Fields)
	c.Fields[field] = message
	return &c
}

func newError(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid reports bad input (KindInvalid).
func Invalid(code, format string, args ...any) *Error {
	return newError(KindInvalid, code, format, args...)
}

// NotFound reports a missing thing (KindNotFound).
func NotFound(code, format string, args ...any) *Error {
	return newError(KindNotFound, code, format, args...)
}

// Conflict reports a request the current state forbids (KindConflict).
func Conflict(code, format string, args ...any) *Error {
	return newError(KindConflict, code, format, args...)
}

// Forbidden reports an actor lacking permission (KindForbidden).
func Forbidden(code, format string, args ...any) *Error {
	return newError(KindForbidden, code, format, args...)
}

// Gone reports something that existed but can no longer be used (KindGone).
func Gone(code, format string, args ...any) *Error {
	return newError(KindGone, code, format, args...)
}

// Unauthenticated reports failed authentication (KindUnauthenticated).
func Unauthenticated(code, format string, args ...any) *Error {
	return newError(KindUnauthenticated, code, format, args...)
}

// IsKind reports whether err, or any error it wraps, is a domain error of
// the given kind.
func IsKind(err error, kind Kind) bool { return errors.Is(err, kind) }

// KindOf returns the kind of the first domain error in err's chain, or ""
// when err carries none (an infrastructure failure).
func KindOf(err error) Kind {
	var de *Error
	if errors.As(err, &de) {
		return de.Kind
	}
	return ""
}

// CodeOf returns the stable code of the first domain error in err's chain,
// or "" when there is none.
func CodeOf(err error) string {
	var de *Error
	if errors.As(err, &de) {
		return de.Code
	}
	return ""
}

// fieldErrors collects validation problems so that one answer lists them all
// instead of making the caller fix one field per round trip.
type fieldErrors map[string]string

func (f fieldErrors) add(field string, err error) {
	if err == nil {
		return
	}
	var de *Error
	if errors.As(err, &de) {
		f[field] = de.Message
		return
	}
	f[field] = err.Error()
}

// merge copies the field problems of a KindInvalid error that has them, or
// files the error's message under field otherwise.
func (f fieldErrors) merge(field string, err error) {
	var de *Error
	if errors.As(err, &de) && len(de.Fields) > 0 {
		maps.Copy(f, de.Fields)
		return
	}
	f.add(field, err)
}

// err returns nil when nothing was collected, otherwise one KindInvalid
// error carrying every field problem.
func (f fieldErrors) err(code, message string) error {
	if len(f) == 0 {
		return nil
	}
	return &Error{Kind: KindInvalid, Code: code, Message: message, Fields: map[string]string(f)}
}
