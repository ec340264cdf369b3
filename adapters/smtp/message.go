// Package smtp delivers the mail reactor's mail: over SMTP with go-mail, or
// as .eml files in an outbox folder when no mail server is configured.
package smtp

import (
	"fmt"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/orgportal/onboarding/projections/mail"
)

// Sender is the From of every mail.
type Sender struct {
	Address string
	Name    string
}

// buildMsg turns a rendered mail into a MIME message: multipart/alternative
// with the plain-text part first and the HTML part preferred.
func buildMsg(from Sender, m mail.Message, now time.Time) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	var err error
	if from.Name != "" {
		err = msg.FromFormat(from.Name, from.Address)
	} else {
		err = msg.From(from.Address)
	}
	if err != nil {
		return nil, fmt.Errorf("smtp: sender %q: %w", from.Address, err)
	}
	if m.ToName != "" {
		err = msg.AddToFormat(m.ToName, m.To)
	} else {
		err = msg.To(m.To)
	}
	if err != nil {
		// An address the domain accepted but the mail library does not:
		// retrying cannot help.
		return nil, mail.Permanent(fmt.Errorf("recipient address: %w", err))
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(m.MessageID)
	msg.SetDateWithValue(now)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	return msg, nil
}
