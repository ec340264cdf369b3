// Package smtptest reads the mails the portal writes (outbox .eml files, or
// messages fetched from an SMTP server) the way a mail client does, and
// runs a real SMTP server (Mailpit) for tests in any layer.
package smtptest

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
)

// Mail is a parsed multipart/alternative mail; line ends are "\n".
type Mail struct {
	Header  netmail.Header
	Subject string // RFC 2047 decoded
	Text    string
	HTML    string
}

// ReadFile parses the mail in path and fails the test unless it has both a
// plain-text and an HTML part. Quoted-printable parts are decoded, which
// joins the soft line breaks ("=" before CRLF) that wrap long links.
func ReadFile(t testing.TB, path string) Mail {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Parse(t, path, raw)
}

// Parse parses a raw RFC 5322 mail like ReadFile; name says which mail it
// is in failure messages.
func Parse(t testing.TB, name string, raw []byte) Mail {
	t.Helper()
	path := name
	m, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := Mail{Header: m.Header}
	if out.Subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		t.Fatalf("%s: subject: %v", path, err)
	}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("%s: content type %q (%v), want multipart/alternative", path, m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var body io.Reader = part
		if strings.EqualFold(part.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			body = quotedprintable.NewReader(part)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(b), "\r\n", "\n")
		switch ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type")); ct {
		case "text/plain":
			out.Text = text
		case "text/html":
			out.HTML = text
		}
	}
	if out.Text == "" || out.HTML == "" {
		t.Fatalf("%s lacks a part: text %d bytes, html %d bytes", path, len(out.Text), len(out.HTML))
	}
	return out
}

// LinkToken returns the token of the first link {prefix}/{token} in body,
// prefix being e.g. publicURL+"/invite", and fails the test when there is
// none.
func LinkToken(t testing.TB, body, prefix string) string {
	t.Helper()
	m := regexp.MustCompile(regexp.QuoteMeta(prefix+"/") + `([A-Za-z0-9_.~%-]+)`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s/ link in:\n%s", prefix, body)
	}
	tok, err := url.PathUnescape(m[1])
	if err != nil || tok == "" {
		t.Fatalf("link token %q: %v", m[1], err)
	}
	return tok
}
