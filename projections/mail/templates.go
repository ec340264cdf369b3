package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"io/fs"
	"os"
	"strings"
	texttemplate "text/template"
)

//go:embed templates
var embedded embed.FS

// DefaultLanguage is the language of the embedded templates and the one
// every mail uses until people have a language preference.
const DefaultLanguage = "en"

// The mail kinds; each has <kind>.subject.txt, <kind>.txt and <kind>.html
// under templates/<language>/.
const (
	KindInvitation    = "invitation"
	KindVerification  = "verification"
	KindAlreadyMember = "already_member"
	KindSetPassword   = "set_password"
	KindPasswordReset = "password_reset"
)

var kinds = []string{KindInvitation, KindVerification, KindAlreadyMember, KindSetPassword, KindPasswordReset}

// Data is what the templates see. Every string is inserted escaped in the
// HTML part (html/template), so a name like <script> is shown, not run.
type Data struct {
	OrgName     string
	InviterName string
	Role        string
	Name        string // the recipient's name, when known
	Email       string // the recipient's address
	Link        string // the page the mail leads to (carries the token)
	ExpiresAt   string // formatted for people
}

type kindTemplates struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// Templates renders the mails of every kind and language.
type Templates struct {
	byLang map[string]map[string]kindTemplates
}

// LoadTemplates parses the embedded defaults, each replaced by the file of
// the same path (<language>/<kind>.<part>) in override when it has one.
// override may be nil. A language directory present only in override must
// hold every file.
func LoadTemplates(override fs.FS) (*Templates, error) {
	base, err := fs.Sub(embedded, "templates")
	if err != nil {
		return nil, err
	}
	langs := map[string]bool{}
	for _, fsys := range []fs.FS{base, override} {
		if fsys == nil {
			continue
		}
		entries, err := fs.ReadDir(fsys, ".")
		if err != nil {
			return nil, fmt.Errorf("mail templates: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() {
				langs[e.Name()] = true
			}
		}
	}
	// read returns the file at path and where it came from, for errors.
	read := func(path string) (content, origin string, err error) {
		if override != nil {
			b, err := fs.ReadFile(override, path)
			if err == nil {
				return string(b), "override " + path, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return "", "override " + path, err
			}
		}
		b, err := fs.ReadFile(base, path)
		return string(b), path, err
	}
	t := &Templates{byLang: map[string]map[string]kindTemplates{}}
	for lang := range langs {
		t.byLang[lang] = map[string]kindTemplates{}
		for _, kind := range kinds {
			prefix := lang + "/" + kind
			var kt kindTemplates
			opt := "missingkey=error"
			for _, part := range []string{".subject.txt", ".txt", ".html"} {
				content, origin, err := read(prefix + part)
				if err != nil {
					return nil, fmt.Errorf("mail template %s: %w", origin, err)
				}
				switch part {
				case ".subject.txt":
					kt.subject, err = texttemplate.New(prefix + part).Option(opt).Parse(strings.TrimSpace(content))
				case ".txt":
					kt.text, err = texttemplate.New(prefix + part).Option(opt).Parse(content)
				case ".html":
					kt.html, err = htmltemplate.New(prefix + part).Option(opt).Parse(content)
				}
				if err != nil {
					return nil, fmt.Errorf("mail template %s: %w", origin, err)
				}
				// A template that parses may still fail on execution (an
				// unknown field, a bad call): try it now, not at the
				// first mail.
				if err := tryRender(kt, part); err != nil {
					return nil, fmt.Errorf("mail template %s: %w", origin, err)
				}
			}
			t.byLang[lang][kind] = kt
		}
	}
	if override != nil {
		if err := checkUnknown(override, langs); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// LoadTemplatesDir loads the embedded defaults, overridden file by file
// from dir (<dir>/<language>/<kind>.<part>); an empty dir means the
// defaults alone. Errors name the file at fault.
func LoadTemplatesDir(dir string) (*Templates, error) {
	if dir == "" {
		return LoadTemplates(nil)
	}
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("mail templates directory: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("mail templates directory %s: not a directory", dir)
	}
	t, err := LoadTemplates(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("%w (override directory %s)", err, dir)
	}
	return t, nil
}

// sample is the data templates are tried with at load.
var sample = Data{
	OrgName: "Org", InviterName: "Inviter", Role: "member", Name: "Name",
	Email: "person@example.com", Link: "https://portal.example.com/invite/token", ExpiresAt: "Monday",
}

func tryRender(kt kindTemplates, part string) error {
	switch part {
	case ".subject.txt":
		return kt.subject.Execute(io.Discard, sample)
	case ".txt":
		return kt.text.Execute(io.Discard, sample)
	default:
		return kt.html.Execute(io.Discard, sample)
	}
}

// checkUnknown rejects template files in override that no mail uses (a
// misspelt name would otherwise be ignored in silence).
func checkUnknown(override fs.FS, langs map[string]bool) error {
	known := map[string]bool{}
	for _, kind := range kinds {
		for _, part := range []string{".subject.txt", ".txt", ".html"} {
			known[kind+part] = true
		}
	}
	for lang := range langs {
		entries, err := fs.ReadDir(override, lang)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("mail templates: %w", err)
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !(strings.HasSuffix(name, ".txt") || strings.HasSuffix(name, ".html")) {
				continue
			}
			if !known[name] {
				return fmt.Errorf("mail template override %s/%s: not a known template (want <kind>.subject.txt, <kind>.txt or <kind>.html, kind one of %s)",
					lang, name, strings.Join(kinds, ", "))
			}
		}
	}
	return nil
}

// Render renders the subject, plain-text and HTML parts of one mail,
// falling back to DefaultLanguage for a language without templates.
func (t *Templates) Render(lang, kind string, d Data) (subject, text, html string, err error) {
	set, ok := t.byLang[lang]
	if !ok {
		set = t.byLang[DefaultLanguage]
	}
	kt, ok := set[kind]
	if !ok {
		return "", "", "", fmt.Errorf("mail templates: no %q template", kind)
	}
	var s, tx, h bytes.Buffer
	if err := kt.subject.Execute(&s, d); err != nil {
		return "", "", "", err
	}
	if err := kt.text.Execute(&tx, d); err != nil {
		return "", "", "", err
	}
	if err := kt.html.Execute(&h, d); err != nil {
		return "", "", "", err
	}
	// A subject is one header line: names with line breaks must not
	// split it.
	subject = strings.Join(strings.Fields(s.String()), " ")
	return subject, tx.String(), h.String(), nil
}
