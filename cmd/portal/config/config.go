package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/orgportal/onboarding/adapters/httpapi"
	"github.com/orgportal/onboarding/adapters/tokens"
	"github.com/orgportal/onboarding/domain"
)

// Source is where settings come from.
type Source struct {
	// Flags holds the flags given on the command line, keyed by the
	// environment variable they override (Setting.Env). Flags left at their
	// default must not be in the map.
	Flags map[string]string
	// FlagNames maps Setting.Env to the flag name the command uses for it,
	// for error messages; Setting.Flag when absent.
	FlagNames map[string]string
	// LookupEnv is os.LookupEnv in production. An empty variable counts as
	// unset.
	LookupEnv func(string) (string, bool)
}

// Value resolves one setting: flag, then environment, then def. origin names
// where the value came from, for error messages.
func (s Source) Value(env, def string) (value, origin string) {
	if v, ok := s.Flags[env]; ok {
		name := s.FlagNames[env]
		if name == "" {
			if set, known := Lookup(env); known {
				name = set.Flag
			}
		}
		return v, "--" + name
	}
	if s.LookupEnv != nil {
		if v, ok := s.LookupEnv(env); ok && v != "" {
			return v, env
		}
	}
	return def, env + " (default)"
}

// Logging configures log/slog.
type Logging struct {
	Level  slog.Level
	Format string // "text" or "json"
}

// Config is the configuration of `portal serve`.
type Config struct {
	HTTPAddr string
	DataDir  string
	// PublicURL is empty when not configured: use PublicURLFor once the HTTP
	// listener is bound.
	PublicURL string
	// EventStoreURL is the esdb:// connection string; empty runs the embedded
	// event store on EventStoreListen.
	EventStoreURL    string
	EventStoreListen string
	// MongoURL is the read-model database; empty runs the embedded one.
	MongoURL string
	// SMTPURL is the mail server; empty writes mail to the outbox folder.
	SMTPURL string
	// MailFrom is the sender address; empty means noreply@ the public
	// URL's host (see MailSender). MailFromName is its display name.
	MailFrom     string
	MailFromName string
	// MailTemplates is a directory of template files overriding the
	// embedded ones file by file; empty means the embedded ones.
	MailTemplates string
	// MailConcurrency is how many mails are sent at once.
	MailConcurrency int
	Logging         Logging

	// Bootstrap is the organization and owner created on first start;
	// zero when not configured.
	Bootstrap Bootstrap
	// TokenKeys are configured token keys (secret); empty means the key
	// file in the data directory.
	TokenKeys Secret
	// AdminToken is the bearer token of the operator admin API (secret);
	// empty turns the API off.
	AdminToken    Secret
	InvitationTTL time.Duration
	Limits        Limits
	// TrustedProxies is the comma-separated list of proxy addresses or
	// networks whose X-Forwarded-For is believed; see TrustedProxyList.
	TrustedProxies string
	// ConsistencyWait bounds a read's wait for a consistency token.
	ConsistencyWait time.Duration
	// SessionCacheTTL is how long a checked session is trusted without
	// reading it again; 0 turns the cache off.
	SessionCacheTTL time.Duration
	// BackgroundYield bounds how long the projections and the mail wait
	// for the commands this replica serves (priority.Gate); 0: no wait.
	BackgroundYield time.Duration
	// PprofAddr is the loopback address of the pprof listener; empty: off.
	PprofAddr string
	// Role is RoleAll or RoleAPI (see APIOnly).
	Role string
}

// APIOnly reports whether this replica serves the API and the pages only,
// leaving the projections and the mail to replicas of role all.
func (c Config) APIOnly() bool { return c.Role == RoleAPI }

// minAdminTokenLength keeps the admin token out of guessing range.
const minAdminTokenLength = 32

// Bootstrap is the first organization and its owner.
type Bootstrap struct {
	OrgName string
	Email   string
	// Password is secret; empty means generate one and print it once.
	Password Secret
}

// Secret is a setting that must not be printed: %v and %+v show
// "[redacted]" (or "" when empty); use string(s) for the value.
type Secret string

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString keeps %#v from printing the value too.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// Enabled reports whether a bootstrap organization is configured.
func (b Bootstrap) Enabled() bool { return b.OrgName != "" }

// Limits are the API's rate limits.
type Limits struct {
	Client            httpapi.Rate
	Subject           httpapi.Rate
	InvitationsPerDay int
}

// TrustedProxyList splits TrustedProxies.
func (c Config) TrustedProxyList() []string {
	var list []string
	for _, p := range strings.Split(c.TrustedProxies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			list = append(list, p)
		}
	}
	return list
}

// EventStoreDataDir is where the embedded event store keeps its files.
func (c Config) EventStoreDataDir() string { return filepath.Join(c.DataDir, "eventstore") }

// PublicURLFor returns the configured public URL, or "http://" + the address
// the HTTP server is bound to.
func (c Config) PublicURLFor(bound net.Addr) string {
	if c.PublicURL != "" {
		return c.PublicURL
	}
	return "http://" + bound.String()
}

// MailSender returns the sender address: MailFrom, or noreply@ the host
// of publicURL.
func (c Config) MailSender(publicURL string) string {
	if c.MailFrom != "" {
		return c.MailFrom
	}
	host := "localhost"
	if u, err := url.Parse(publicURL); err == nil && u.Hostname() != "" && !strings.Contains(u.Hostname(), ":") {
		host = u.Hostname()
	}
	return "noreply@" + host
}

// MailSenderName is MailFromName, or DefaultMailFromName when not set.
func (c Config) MailSenderName() string {
	if c.MailFromName != "" {
		return c.MailFromName
	}
	return DefaultMailFromName
}

// OutboxDir is where mail goes without an SMTP URL.
func (c Config) OutboxDir() string { return filepath.Join(c.DataDir, "outbox") }

// ReadModelsDir is where the embedded read-model database keeps its files.
func (c Config) ReadModelsDir() string { return filepath.Join(c.DataDir, "readmodels") }

// EventStore is the configuration of `portal eventstore`.
type EventStore struct {
	ListenAddr string
	DataDir    string
	Logging    Logging
}

// LoadLogging resolves PORTAL_LOG_LEVEL and PORTAL_LOG_FORMAT.
func LoadLogging(src Source) (Logging, error) {
	var errs []error
	var l Logging

	level, origin := src.Value(EnvLogLevel, DefaultLogLevel)
	if err := l.Level.UnmarshalText([]byte(level)); err != nil {
		errs = append(errs, invalid(origin, level, "want debug, info, warn or error"))
	}

	format, origin := src.Value(EnvLogFormat, DefaultLogFormat)
	switch f := strings.ToLower(format); f {
	case "text", "json":
		l.Format = f
	default:
		errs = append(errs, invalid(origin, format, "want text or json"))
	}
	return l, errors.Join(errs...)
}

// Load resolves and validates the configuration of `portal serve`. All
// problems are reported at once.
func Load(src Source) (Config, error) {
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var c Config
	var origin string

	c.HTTPAddr, origin = src.Value(EnvHTTPAddr, DefaultHTTPAddr)
	check(validateHostPort(origin, c.HTTPAddr))

	c.DataDir, origin = src.Value(EnvDataDir, DefaultDataDir)
	if strings.TrimSpace(c.DataDir) == "" {
		check(invalid(origin, c.DataDir, "must not be empty"))
	}

	c.PublicURL, origin = src.Value(EnvPublicURL, "")
	if c.PublicURL != "" {
		check(validateURL(origin, c.PublicURL, "http", "https"))
		c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	}

	c.EventStoreURL, origin = src.Value(EnvEventStoreURL, "")
	if c.EventStoreURL != "" {
		if _, err := esdb.ParseConnectionString(c.EventStoreURL); err != nil {
			check(invalid(origin, c.EventStoreURL, err.Error()))
		}
	}

	c.EventStoreListen, origin = src.Value(EnvEventStoreListen, DefaultEmbeddedEventStoreListen)
	check(validateHostPort(origin, c.EventStoreListen))

	c.MongoURL, origin = src.Value(EnvMongoURL, "")
	if c.MongoURL != "" {
		check(validateURL(origin, c.MongoURL, "mongodb", "mongodb+srv"))
	}

	c.SMTPURL, origin = src.Value(EnvSMTPURL, "")
	if c.SMTPURL != "" {
		check(validateURL(origin, c.SMTPURL, "smtp", "smtps"))
	}
	c.MailFrom, origin = src.Value(EnvMailFrom, "")
	if c.MailFrom != "" {
		if a, err := mail.ParseAddress(c.MailFrom); err != nil || a.Name != "" {
			check(invalid(origin, c.MailFrom, "want a plain email address (the name goes in "+EnvMailFromName+")"))
		}
	}
	c.MailFromName, _ = src.Value(EnvMailFromName, "")
	var err error
	conc, origin := src.Value(EnvMailConcurrency, DefaultMailConcurrency)
	if c.MailConcurrency, err = strconv.Atoi(conc); err != nil || c.MailConcurrency < 1 || c.MailConcurrency > 64 {
		check(invalid(origin, conc, "want a whole number from 1 to 64, e.g. 8"))
	}
	c.MailTemplates, origin = src.Value(EnvMailTemplates, "")
	if c.MailTemplates != "" {
		if info, err := os.Stat(c.MailTemplates); err != nil {
			check(invalid(origin, c.MailTemplates, "not found: want a directory of mail templates"))
		} else if !info.IsDir() {
			check(invalid(origin, c.MailTemplates, "not a directory"))
		}
	}

	c.Logging, err = LoadLogging(src)
	check(err)

	check(c.loadBootstrap(src))

	keys, keysOrigin := src.Value(EnvTokenKeys, "")
	c.TokenKeys = Secret(keys)
	if keys != "" {
		if _, err := tokens.ParseKeys(keys); err != nil {
			check(fmt.Errorf("invalid %s: %w", keysOrigin, err)) // never echo a key
		}
	}

	admin, adminOrigin := src.Value(EnvAdminToken, "")
	c.AdminToken = Secret(admin)
	if admin != "" && len(admin) < minAdminTokenLength {
		check(fmt.Errorf("invalid %s: want at least %d characters, e.g. from openssl rand -hex 32", adminOrigin, minAdminTokenLength)) // never echo it
	}

	ttl, origin := src.Value(EnvInvitationTTL, DefaultInvitationTTL)
	if c.InvitationTTL, err = time.ParseDuration(ttl); err != nil || c.InvitationTTL < time.Minute {
		check(invalid(origin, ttl, "want a duration of at least 1m, e.g. 168h"))
	}

	rate, origin := src.Value(EnvRateLimitClient, DefaultRateLimitClient)
	if c.Limits.Client, err = httpapi.ParseRate(rate); err != nil {
		check(invalid(origin, rate, err.Error()))
	}
	rate, origin = src.Value(EnvRateLimitSubject, DefaultRateLimitSubject)
	if c.Limits.Subject, err = httpapi.ParseRate(rate); err != nil {
		check(invalid(origin, rate, err.Error()))
	}
	perDay, origin := src.Value(EnvInvitationsPerDay, DefaultInvitationsPerDay)
	if c.Limits.InvitationsPerDay, err = strconv.Atoi(perDay); err != nil || c.Limits.InvitationsPerDay < 0 {
		check(invalid(origin, perDay, "want a whole number, 0 for no limit"))
	}

	wait, origin := src.Value(EnvConsistencyWait, DefaultConsistencyWait)
	if c.ConsistencyWait, err = time.ParseDuration(wait); err != nil || c.ConsistencyWait < time.Millisecond || c.ConsistencyWait > time.Minute {
		check(invalid(origin, wait, "want a duration from 1ms to 1m, e.g. 2s"))
	}

	ttl, origin = src.Value(EnvSessionCacheTTL, DefaultSessionCacheTTL)
	if c.SessionCacheTTL, err = time.ParseDuration(ttl); err != nil || c.SessionCacheTTL < 0 || c.SessionCacheTTL > time.Minute {
		check(invalid(origin, ttl, "want a duration from 0 (no cache) to 1m, e.g. 1s"))
	}

	yield, origin := src.Value(EnvBackgroundYield, DefaultBackgroundYield)
	if c.BackgroundYield, err = time.ParseDuration(yield); err != nil || c.BackgroundYield < 0 || c.BackgroundYield > 10*time.Minute {
		check(invalid(origin, yield, "want a duration from 0 (off) to 10m, e.g. 30s"))
	}

	c.TrustedProxies, origin = src.Value(EnvTrustedProxies, "")
	for _, p := range c.TrustedProxyList() {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			check(invalid(origin, p, "want IP addresses or CIDR networks, comma-separated"))
		}
	}

	c.PprofAddr, origin = src.Value(EnvPprofAddr, "")
	if c.PprofAddr != "" {
		check(validateHostPort(origin, c.PprofAddr))
		if host, _, err := net.SplitHostPort(c.PprofAddr); err == nil && host != "localhost" && !net.ParseIP(host).IsLoopback() {
			check(invalid(origin, c.PprofAddr, "must be a loopback address such as 127.0.0.1:6060: profiles expose memory contents"))
		}
	}

	check(c.loadRole(src))

	return c, errors.Join(errs...)
}

// loadRole reads PORTAL_ROLE. A replica of role api shares its stores with
// replicas of role all, which project into the read models it reads and
// send the mail its commands ask for: so it cannot embed the read-model
// database (no other process can write to that one), and its event store
// is either another server or its embedded one on a fixed port the others
// can be pointed at.
func (c *Config) loadRole(src Source) error {
	role, origin := src.Value(EnvRole, DefaultRole)
	c.Role = strings.ToLower(strings.TrimSpace(role))
	switch c.Role {
	case RoleAll:
		return nil
	case RoleAPI:
	default:
		return invalid(origin, role, "want all (the API, the pages, the projections and the mail) or api (the API and the pages only)")
	}
	var errs []error
	if c.MongoURL == "" {
		errs = append(errs, fmt.Errorf("%s=api needs %s: this replica reads the read models that replicas of role all project, "+
			"so they must share one database (the embedded one belongs to its process); for one machine, run `portal mongo` and point every replica at it",
			origin, EnvMongoURL))
	}
	if _, port, err := net.SplitHostPort(c.EventStoreListen); c.EventStoreURL == "" && err == nil && port == "0" {
		errs = append(errs, fmt.Errorf("%s=api needs an event store that replicas of role all reach too, for the projections and the mail: "+
			"set %s, or %s to a fixed port of the embedded one and point them at it", origin, EnvEventStoreURL, EnvEventStoreListen))
	}
	return errors.Join(errs...)
}

// loadBootstrap reads the PORTAL_BOOTSTRAP_* settings: the organization
// and the owner's address go together; the password is optional and is
// checked here (never echoed) so that a weak one stops the start.
func (c *Config) loadBootstrap(src Source) error {
	org, orgOrigin := src.Value(EnvBootstrapOrg, "")
	email, emailOrigin := src.Value(EnvBootstrapEmail, "")
	password, passwordOrigin := src.Value(EnvBootstrapPassword, "")
	c.Bootstrap = Bootstrap{OrgName: strings.TrimSpace(org), Email: strings.TrimSpace(email), Password: Secret(password)}
	switch {
	case c.Bootstrap.OrgName == "" && c.Bootstrap.Email == "" && password == "":
		return nil
	case c.Bootstrap.OrgName == "":
		return fmt.Errorf("%s is required with %s and %s", orgOrigin, emailOrigin, passwordOrigin)
	case c.Bootstrap.Email == "":
		return fmt.Errorf("%s is required with %s (the owner's address)", emailOrigin, orgOrigin)
	}
	var errs []error
	if _, err := domain.ParseOrganizationName(c.Bootstrap.OrgName); err != nil {
		errs = append(errs, invalid(orgOrigin, c.Bootstrap.OrgName, messageOf(err)))
	}
	parsed, err := domain.ParseEmail(c.Bootstrap.Email)
	if err != nil {
		errs = append(errs, invalid(emailOrigin, c.Bootstrap.Email, messageOf(err)))
	} else if password != "" {
		if err := domain.CheckPassword(password, parsed); err != nil {
			errs = append(errs, fmt.Errorf("invalid %s: %s", passwordOrigin, messageOf(err)))
		}
	}
	return errors.Join(errs...)
}

func messageOf(err error) string {
	var de *domain.Error
	if errors.As(err, &de) {
		return de.Message
	}
	return err.Error()
}

// LoadEventStore resolves and validates the configuration of
// `portal eventstore`. dataFlag, when non-empty, is the --data flag; it
// overrides PORTAL_DATA_DIR/eventstore.
func LoadEventStore(src Source, dataFlag string) (EventStore, error) {
	var errs []error
	var c EventStore
	var origin string

	c.ListenAddr, origin = src.Value(EnvEventStoreListen, DefaultStandaloneEventStoreListen)
	if err := validateHostPort(origin, c.ListenAddr); err != nil {
		errs = append(errs, err)
	}

	if dataFlag != "" {
		c.DataDir = dataFlag
	} else {
		dir, origin := src.Value(EnvDataDir, DefaultDataDir)
		if strings.TrimSpace(dir) == "" {
			errs = append(errs, invalid(origin, dir, "must not be empty"))
		}
		c.DataDir = filepath.Join(dir, "eventstore")
	}

	var err error
	c.Logging, err = LoadLogging(src)
	if err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

func invalid(origin, value, why string) error {
	return fmt.Errorf("invalid %s %q: %s", origin, value, why)
}

func validateHostPort(origin, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return invalid(origin, addr, "want host:port, e.g. 127.0.0.1:8080")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return invalid(origin, addr, "port must be a number from 0 to 65535")
	}
	return nil
}

func validateURL(origin, raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return invalid(origin, raw, "not a URL")
	}
	for _, s := range schemes {
		if strings.EqualFold(u.Scheme, s) {
			if u.Host == "" {
				return invalid(origin, raw, "missing host")
			}
			return nil
		}
	}
	return invalid(origin, raw, "scheme must be "+strings.Join(schemes, " or "))
}
