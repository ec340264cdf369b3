package mail

import (
	"context"
	"errors"
	"fmt"
)

// Message is one rendered mail, ready for a Mailer. The sender comes from
// the Mailer's configuration.
type Message struct {
	// Key names this mail stably: the same aggregate and token generation
	// always give the same key ("invitation-<id>-g<n>"), so a redelivery
	// can be recognized (the outbox names its file after it).
	Key string
	// MessageID is the RFC 5322 Message-ID without angle brackets,
	// deterministic like Key: a mail sent twice in the crash window
	// carries the same id, which mail clients use to collapse duplicates.
	MessageID string
	ToName    string
	To        string
	Subject   string
	Text      string
	HTML      string
}

// Mailer delivers rendered mail. Send returns nil once the mail was
// accepted (by the SMTP server, or written to the outbox); an error wrapped
// with Permanent will never succeed for this mail (a 5xx answer), any other
// error is transient and the send is retried.
type Mailer interface {
	Send(ctx context.Context, msg Message) error
}

// PermanentError marks a delivery failure that retrying cannot fix.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent delivery failure: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a permanent delivery failure.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err is a permanent delivery failure.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// failureReason is what a Failed event records: the server's answer,
// bounded, never anything from the mail body (which holds the link).
func failureReason(err error) string {
	var p *PermanentError
	if errors.As(err, &p) {
		err = p.Err
	}
	r := fmt.Sprint(err)
	const maxReason = 500
	if len(r) > maxReason {
		r = r[:maxReason] + "…"
	}
	return r
}
