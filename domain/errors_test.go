package domain

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestError_KindsAndCodesThroughWrapping(t *testing.T) {
	err := fmt.Errorf("accept invitation: %w", Gone(CodeInvitationExpired, "ask for a new invitation"))
	if !errors.Is(err, KindGone) || !IsKind(err, KindGone) || IsKind(err, KindNotFound) {
		t.Fatal("kind not found through wrapping")
	}
	if !errors.Is(err, &Error{Code: CodeInvitationExpired}) || errors.Is(err, &Error{Code: CodeInvitationRevoked}) {
		t.Fatal("code matching is wrong")
	}
	if errors.Is(err, &Error{}) {
		t.Fatal("an empty code must not match everything")
	}
	if KindOf(err) != KindGone || CodeOf(err) != CodeInvitationExpired {
		t.Fatalf("KindOf/CodeOf = %s/%s", KindOf(err), CodeOf(err))
	}
	plain := errors.New("connection refused")
	if KindOf(plain) != "" || CodeOf(plain) != "" || IsKind(plain, KindInvalid) {
		t.Fatal("an infrastructure error was taken for a domain error")
	}
}

func TestError_ConstructorsSetTheirKind(t *testing.T) {
	for kind, err := range map[Kind]*Error{
		KindInvalid: Invalid("c", "m"), KindNotFound: NotFound("c", "m"), KindConflict: Conflict("c", "m"),
		KindForbidden: Forbidden("c", "m"), KindGone: Gone("c", "m"),
		KindUnauthenticated: Unauthenticated("c", "m"),
	} {
		if err.Kind != kind || !errors.Is(err, kind) {
			t.Errorf("%s constructor made %s", kind, err.Kind)
		}
	}
}

func TestError_FieldsAreCopiedAndListed(t *testing.T) {
	base := Invalid(CodeValidationFailed, "fix the fields")
	withName := base.WithField("name", "empty")
	both := withName.WithField("email", "missing @")
	if len(base.Fields) != 0 || len(withName.Fields) != 1 || len(both.Fields) != 2 {
		t.Fatalf("WithField modified its receiver: %v %v %v", base.Fields, withName.Fields, both.Fields)
	}
	if got := both.Error(); got != "validation_failed: fix the fields (email: missing @; name: empty)" {
		t.Fatalf("Error() = %q", got)
	}
	if got := base.Error(); got != "validation_failed: fix the fields" {
		t.Fatalf("Error() = %q", got)
	}
}

func TestCodesAreUniquePerMeaning(t *testing.T) {
	// A code is snake_case and reads as a fact; the HTTP layer relies on it.
	for _, code := range []string{CodeInvitationExpired, CodeLinkRotated, CodeLastOwner, CodeTooManyAddresses} {
		if code != strings.ToLower(code) || strings.ContainsAny(code, " -") {
			t.Errorf("code %q is not snake_case", code)
		}
	}
}
