package web

import (
	"errors"
	"strings"

	"github.com/orgportal/onboarding/domain"
)

// form is a submitted (or empty) form: the values to show again and the
// problems to show next to their fields.
type form struct {
	// Order lists the fields top to bottom; the error summary follows it.
	Order   []string
	Values  map[string]string
	Errors  map[string]string
	Summary string
}

func newForm(order ...string) *form {
	return &form{Order: order, Values: map[string]string{}, Errors: map[string]string{}}
}

// Failed reports whether the form has something to show as an error.
func (f *form) Failed() bool { return f.Summary != "" || len(f.Errors) > 0 }

// fieldProblem is one line of the error summary.
type fieldProblem struct {
	ID, Message string
}

// Problems lists the field errors in the order of the fields.
func (f *form) Problems() []fieldProblem {
	var out []fieldProblem
	seen := map[string]bool{}
	for _, name := range f.Order {
		if msg := f.Errors[name]; msg != "" {
			out = append(out, fieldProblem{ID: fieldID(name), Message: msg})
			seen[name] = true
		}
	}
	for name, msg := range f.Errors {
		if !seen[name] {
			out = append(out, fieldProblem{ID: fieldID(name), Message: msg})
		}
	}
	return out
}

func fieldID(name string) string { return "f-" + name }

// field is one input as the "field" partial renders it: label, hint,
// input and error, tied together by id and aria-describedby.
type field struct {
	Name, Label, Type, Value, Error string
	HintText                        string
	Autocomplete                    string
	Required                        bool
	MinLength                       int
	MaxLength                       int
}

// Field describes an input of the form; the template chains the options.
func (f *form) Field(name, label, typ string) field {
	v := f.Values[name]
	if typ == "password" {
		v = "" // never sent back to the browser
	}
	return field{Name: name, Label: label, Type: typ, Value: v, Error: f.Errors[name]}
}

func (f field) ID() string      { return fieldID(f.Name) }
func (f field) HintID() string  { return fieldID(f.Name) + "-hint" }
func (f field) ErrorID() string { return fieldID(f.Name) + "-error" }

// DescribedBy is the aria-describedby of the input: its hint and its error
// element (present, hidden when empty, so that script can fill it).
func (f field) DescribedBy() string {
	if f.HintText != "" {
		return f.HintID() + " " + f.ErrorID()
	}
	return f.ErrorID()
}

func (f field) Auto(v string) field    { f.Autocomplete = v; return f }
func (f field) Req() field             { f.Required = true; return f }
func (f field) Min(n int) field        { f.MinLength = n; return f }
func (f field) Max(n int) field        { f.MaxLength = n; return f }
func (f field) Hint(text string) field { f.HintText = text; return f }

// absorb files a domain error in the form when it is about the input:
// validation problems per field, a refused address under "email", wrong
// credentials in the summary. It reports false for every other error,
// which the caller renders as a page of its own.
func (f *form) absorb(err error) bool {
	var de *domain.Error
	if !errors.As(err, &de) {
		return false
	}
	switch {
	case de.Kind == domain.KindInvalid:
		for name, msg := range de.Fields {
			// "allowedDomains[2]" belongs to the allowedDomains field.
			base, _, indexed := strings.Cut(name, "[")
			msg = sentence(msg)
			if prev := f.Errors[base]; indexed && prev != "" {
				msg = prev + " " + msg
			}
			f.Errors[base] = msg
		}
		if len(de.Fields) == 0 {
			f.Summary = sentence(de.Message)
		} else {
			f.Summary = "Some fields need attention; see below."
		}
		return true
	case de.Code == domain.CodeEmailDomainForbidden:
		f.Errors["email"] = sentence(de.Message)
		f.Summary = "Some fields need attention; see below."
		return true
	case de.Kind == domain.KindUnauthenticated && de.Code == domain.CodeInvalidCredentials:
		f.Summary = sentence(de.Message)
		return true
	}
	return false
}

// noteProblem files a validation error under a field (the pages check
// several fields before calling a command that stops at the first).
func noteProblem(f *form, name string, err error) {
	var de *domain.Error
	if errors.As(err, &de) {
		f.Errors[name] = sentence(de.Message)
		f.Summary = "Some fields need attention; see below."
	}
}
