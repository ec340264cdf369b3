package domain

import (
	"strings"
	"testing"
)

func TestStreamNames(t *testing.T) {
	for _, tc := range []struct {
		got  StreamName
		want string
	}{
		{OrganizationStream("0b4c-77"), "organization-0b4c-77"},
		{InvitationStream("inv_1"), "invitation-inv_1"},
		{RegistrationStream("r-1"), "registration-r-1"},
		{UserStream("9f1e2d3c-aaaa-bbbb-cccc-000000000001"), "user-9f1e2d3c-aaaa-bbbb-cccc-000000000001"},
	} {
		if string(tc.got) != tc.want {
			t.Errorf("stream name %q, want %q", tc.got, tc.want)
		}
	}
}

func TestParseStreamName_SplitsAtTheFirstSeparatorOnly(t *testing.T) {
	category, id, err := ParseStreamName("user-9f1e2d3c-aaaa-bbbb")
	if err != nil || category != CategoryUser || id != "9f1e2d3c-aaaa-bbbb" {
		t.Fatalf("got %q %q %v", category, id, err)
	}
	s := InvitationStream("a-b-c")
	if s.Category() != CategoryInvitation || s.ID() != "a-b-c" {
		t.Fatalf("round trip: %q %q", s.Category(), s.ID())
	}
	for _, bad := range []string{"", "user", "user-", "-abc"} {
		if _, _, err := ParseStreamName(bad); CodeOf(err) != CodeInvalidStreamName {
			t.Errorf("ParseStreamName(%q) = %v", bad, err)
		}
	}
}

func TestMembershipStream(t *testing.T) {
	a := MembershipStream(orgID, MustParseEmail("Nina@Acme.test"))
	b := MembershipStream(orgID, MustParseEmail(" nina@acme.TEST. "))
	if a != b {
		t.Fatalf("the same address in two spellings gives %q and %q", a, b)
	}
	if a.Category() != CategoryMembership || len(a.ID()) != 64 || strings.Trim(a.ID(), "0123456789abcdef") != "" {
		t.Fatalf("not a hex SHA-256 id: %q", a)
	}
	if strings.Contains(string(a), "nina") || strings.Contains(string(a), "acme") {
		t.Fatalf("the address leaks into the stream name: %q", a)
	}
	if MembershipStream("org-2", MustParseEmail("nina@acme.test")) == a {
		t.Fatal("two organizations share a membership stream")
	}
	if MembershipStream(orgID, MustParseEmail("nino@acme.test")) == a {
		t.Fatal("two addresses share a membership stream")
	}
	// Pinned: changing the derivation would orphan every stored guard stream.
	// The value is sha256("org-1\x00nina@acme.test"), computed independently.
	if got := MembershipKey("org-1", MustParseEmail("Nina@acme.test")); got != "6ebc263723a68c3976428b4f8080b2fce82db22584a2b5b66e3a6ed8dfb2ca0e" {
		t.Fatalf("membership key changed: %s", got)
	}
}

func TestParseID(t *testing.T) {
	if id, err := ParseID[UserID]("9f1e2d3c-aaaa_B"); err != nil || id != "9f1e2d3c-aaaa_B" {
		t.Fatalf("valid id refused: %v", err)
	}
	for _, bad := range []string{"", strings.Repeat("a", 65), "a b", "a/b", "ü", "a\x00"} {
		if _, err := ParseID[OrgID](bad); CodeOf(err) != CodeInvalidID {
			t.Errorf("ParseID(%q) = %v", bad, err)
		}
	}
}

func TestRoles(t *testing.T) {
	for raw, want := range map[string]string{"owner": "", "admin": "", "member": "", "": CodeInvalidRole, "Admin": CodeInvalidRole, "root": CodeInvalidRole} {
		if _, err := ParseRole(raw); CodeOf(err) != want {
			t.Errorf("ParseRole(%q) = %v", raw, err)
		}
	}
	if r, err := ParseInvitableRole(""); err != nil || r != RoleMember {
		t.Errorf("empty invitable role = %q %v, want member", r, err)
	}
	if _, err := ParseInvitableRole("owner"); CodeOf(err) != CodeInvalidRole {
		t.Errorf("owner must not be invitable: %v", err)
	}
	if !RoleOwner.CanAdminister() || !RoleAdmin.CanAdminister() || RoleMember.CanAdminister() {
		t.Error("CanAdminister is wrong")
	}
}
