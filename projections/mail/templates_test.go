package mail_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orgportal/onboarding/projections/mail"
)

// writeTemplates writes files (path relative to the directory → content)
// into a new directory.
func writeTemplates(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for path, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var someData = mail.Data{
	OrgName: "Acme", InviterName: "<b>Olga</b>", Role: "member", Email: "ann@example.org",
	Link: "https://portal.example.org/invite/tok", ExpiresAt: "Friday",
}

func TestTemplatesDirOverridesFileByFile(t *testing.T) {
	dir := writeTemplates(t, map[string]string{
		"en/invitation.subject.txt": "Custom: join {{.OrgName}}\n",
		"en/invitation.html":        `<p>Hi from {{.InviterName}}: <a href="{{.Link}}">join</a></p>`,
		"README.md":                 "notes for operators are ignored",
	})
	custom, err := mail.LoadTemplatesDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defaults, err := mail.LoadTemplatesDir("")
	if err != nil {
		t.Fatal(err)
	}
	subject, text, html, err := custom.Render(mail.DefaultLanguage, mail.KindInvitation, someData)
	if err != nil {
		t.Fatal(err)
	}
	if subject != "Custom: join Acme" {
		t.Errorf("subject %q", subject)
	}
	if want := `<p>Hi from &lt;b&gt;Olga&lt;/b&gt;: <a href="https://portal.example.org/invite/tok">join</a></p>`; html != want {
		t.Errorf("html %q, want %q (escaped)", html, want)
	}
	// The text part was not overridden: the embedded default.
	_, defText, _, err := defaults.Render(mail.DefaultLanguage, mail.KindInvitation, someData)
	if err != nil {
		t.Fatal(err)
	}
	if text != defText || !strings.Contains(text, someData.Link) {
		t.Errorf("text part %q is not the default %q", text, defText)
	}
	// Other kinds are untouched.
	s1, _, _, _ := custom.Render(mail.DefaultLanguage, mail.KindPasswordReset, someData)
	s2, _, _, _ := defaults.Render(mail.DefaultLanguage, mail.KindPasswordReset, someData)
	if s1 != s2 || s1 == "" {
		t.Errorf("password reset subject %q, default %q", s1, s2)
	}
}

func TestTemplatesDirErrorsNameTheFile(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"syntax error", map[string]string{"en/invitation.html": "<p>{{.Link</p>"},
			[]string{"override en/invitation.html"}},
		{"unknown field", map[string]string{"en/verification.txt": "{{.Token}}"},
			[]string{"override en/verification.txt", "Token"}},
		{"misspelt file", map[string]string{"en/invitaton.html": "<p>hi</p>"},
			[]string{"en/invitaton.html", "not a known template"}},
		{"incomplete new language", map[string]string{"de/invitation.html": "<p>Hallo</p>"},
			[]string{"de/invitation.subject.txt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTemplates(t, tt.files)
			_, err := mail.LoadTemplatesDir(dir)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tt.want, dir) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestTemplatesDirMustBeADirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{file, filepath.Join(t.TempDir(), "missing")} {
		if _, err := mail.LoadTemplatesDir(dir); err == nil || !strings.Contains(err.Error(), dir) {
			t.Errorf("LoadTemplatesDir(%s): %v; want an error naming it", dir, err)
		}
	}
}

// An invitation greets the invitee by the name the inviter gave, when
// there is one, in both parts.
func TestInvitationGreetsByTheInvitersName(t *testing.T) {
	defaults, err := mail.LoadTemplatesDir("")
	if err != nil {
		t.Fatal(err)
	}
	named := someData
	named.Name = "Ann <Smith>"
	_, text, html, err := defaults.Render(mail.DefaultLanguage, mail.KindInvitation, named)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(text, "Hello Ann <Smith>,") || !strings.Contains(html, "<p>Hello Ann &lt;Smith&gt;,</p>") {
		t.Errorf("named greeting: text %q\nhtml %q", text, html)
	}
	_, text, html, err = defaults.Render(mail.DefaultLanguage, mail.KindInvitation, someData)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(text, "Hello,") || !strings.Contains(html, "<p>Hello,</p>") {
		t.Errorf("greeting without a name: text %q\nhtml %q", text, html)
	}
}
