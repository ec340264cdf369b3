package smtp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/orgportal/onboarding/projections/mail"
)

// DefaultTimeout bounds connecting to and each exchange with the server.
const DefaultTimeout = 15 * time.Second

// Config configures an SMTP Mailer.
type Config struct {
	// URL is PORTAL_SMTP_URL:
	//
	//	smtp://[user:pass@]host[:port][?starttls=opportunistic|required|none]
	//	smtps://[user:pass@]host[:port]
	//
	// smtp:// defaults to port 25 and STARTTLS when the server offers it
	// (opportunistic); ?starttls=required refuses to send in clear text,
	// ?starttls=none never upgrades. smtps:// is implicit TLS, port 465 by
	// default. With a user, the authentication mechanism is negotiated
	// (SCRAM, CRAM-MD5, PLAIN or LOGIN; PLAIN/LOGIN only over TLS or to
	// localhost). ?timeout=10s overrides Timeout.
	URL     string
	From    Sender
	Timeout time.Duration // DefaultTimeout when zero
	Clock   func() time.Time
	Logger  *slog.Logger
}

// Mailer sends mail over SMTP, one connection per mail (the reactor sends
// one at a time, rarely).
type Mailer struct {
	opts   []gomail.Option
	host   string
	from   Sender
	clock  func() time.Time
	logger *slog.Logger
}

// New parses the URL and returns a Mailer; nothing is dialled yet.
func New(cfg Config) (*Mailer, error) {
	if cfg.From.Address == "" {
		return nil, errors.New("smtp: a sender address is required")
	}
	host, opts, err := parseURL(cfg.URL, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	// Validate the options once, so that a bad URL fails at start.
	if _, err := gomail.NewClient(host, opts...); err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	clock, logger := cfg.Clock, cfg.Logger
	if clock == nil {
		clock = time.Now
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Mailer{opts: opts, host: host, from: cfg.From, clock: clock, logger: logger}, nil
}

func parseURL(raw string, timeout time.Duration) (string, []gomail.Option, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", nil, errors.New("smtp: PORTAL_SMTP_URL is not a URL") // the error would echo the password
	}
	if u.Hostname() == "" {
		return "", nil, errors.New("smtp: PORTAL_SMTP_URL has no host")
	}
	q := u.Query()
	if t := q.Get("timeout"); t != "" {
		if timeout, err = time.ParseDuration(t); err != nil || timeout <= 0 {
			return "", nil, fmt.Errorf("smtp: timeout %q is not a positive duration", t)
		}
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	opts := []gomail.Option{gomail.WithTimeout(timeout)}
	var port int
	switch u.Scheme {
	case "smtp":
		port = 25
		switch q.Get("starttls") {
		case "", "opportunistic":
			opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
		case "required", "mandatory":
			opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
		case "none", "off", "false":
			opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
		default:
			return "", nil, fmt.Errorf("smtp: starttls=%q: use opportunistic, required or none", q.Get("starttls"))
		}
	case "smtps":
		port = 465
		opts = append(opts, gomail.WithSSL())
	default:
		return "", nil, fmt.Errorf("smtp: scheme %q: use smtp:// or smtps://", u.Scheme)
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return "", nil, fmt.Errorf("smtp: port %q is not valid", p)
		}
	}
	opts = append(opts, gomail.WithPort(port))
	if u.User != nil && u.User.Username() != "" {
		pw, _ := u.User.Password()
		opts = append(opts,
			gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(u.User.Username()), gomail.WithPassword(pw))
	}
	return u.Hostname(), opts, nil
}

// Send delivers one mail. Errors are classified: a 5xx answer to the
// recipient or the message is permanent (mail.Permanent); 4xx answers,
// network trouble, TLS and authentication failures are transient, so a
// misconfigured or unreachable server stalls the reactor loudly instead of
// marking every mail as failed.
func (m *Mailer) Send(ctx context.Context, msg mail.Message) error {
	gm, err := buildMsg(m.from, msg, m.clock())
	if err != nil {
		return err
	}
	client, err := gomail.NewClient(m.host, m.opts...)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, gm); err != nil {
		if gm.IsDelivered() {
			// The server accepted the mail (250 after the data); only the
			// goodbye (RSET, QUIT) failed. Reporting a failure would make
			// the reactor send the mail again.
			m.logger.Warn("smtp: mail accepted; closing the connection failed", "message_id", msg.MessageID, "err", err)
			return nil
		}
		return classify(err)
	}
	return nil
}

// classify marks permanent failures; anything else is retried.
func classify(err error) error {
	var se *gomail.SendError
	if errors.As(err, &se) && !se.IsTemp() {
		code := se.ErrorCode()
		switch se.Reason {
		case gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
			if code >= 500 && code < 600 {
				return mail.Permanent(fmt.Errorf("smtp: %w", err))
			}
		}
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return fmt.Errorf("smtp: network: %w", err)
	}
	return fmt.Errorf("smtp: %w", err)
}
