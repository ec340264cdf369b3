package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
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
	read := func(path string) (string, error) {
		if override != nil {
			b, err := fs.ReadFile(override, path)
			if err == nil {
				return string(b), nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return "", err
			}
		}
		b, err := fs.ReadFile(base, path)
		return string(b), err
	}
	t := &Templates{byLang: map[string]map[string]kindTemplates{}}
	for lang := range langs {
		t.byLang[lang] = map[string]kindTemplates{}
		for _, kind := range kinds {
			prefix := lang + "/" + kind
			subject, err := read(prefix + ".subject.txt")
			if err != nil {
				return nil, fmt.Errorf("mail template %s.subject.txt: %w", prefix, err)
			}
			text, err := read(prefix + ".txt")
			if err != nil {
				return nil, fmt.Errorf("mail template %s.txt: %w", prefix, err)
			}
			html, err := read(prefix + ".html")
			if err != nil {
				return nil, fmt.Errorf("mail template %s.html: %w", prefix, err)
			}
			var kt kindTemplates
			opt := "missingkey=error"
			if kt.subject, err = texttemplate.New(prefix + ".subject.txt").Option(opt).Parse(strings.TrimSpace(subject)); err != nil {
				return nil, fmt.Errorf("mail template: %w", err)
			}
			if kt.text, err = texttemplate.New(prefix + ".txt").Option(opt).Parse(text); err != nil {
				return nil, fmt.Errorf("mail template: %w", err)
			}
			if kt.html, err = htmltemplate.New(prefix + ".html").Option(opt).Parse(html); err != nil {
				return nil, fmt.Errorf("mail template: %w", err)
			}
			t.byLang[lang][kind] = kt
		}
	}
	return t, nil
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
