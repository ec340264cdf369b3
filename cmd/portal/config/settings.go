// Package config resolves the portal's configuration from command-line flags
// and PORTAL_* environment variables. A flag given on the command line wins
// over the environment, and the environment wins over the default.
//
// The table returned by Settings is the single list of variables the portal
// knows; the README, the compose file and the CLI flags are checked against it.
package config

// Names of the environment variables the portal reads.
const (
	EnvHTTPAddr         = "PORTAL_HTTP_ADDR"
	EnvDataDir          = "PORTAL_DATA_DIR"
	EnvPublicURL        = "PORTAL_PUBLIC_URL"
	EnvEventStoreURL    = "PORTAL_EVENTSTORE_URL"
	EnvEventStoreListen = "PORTAL_EVENTSTORE_LISTEN"
	EnvMongoURL         = "PORTAL_MONGO_URL"
	EnvSMTPURL          = "PORTAL_SMTP_URL"
	EnvMailFrom         = "PORTAL_MAIL_FROM"
	EnvMailFromName     = "PORTAL_MAIL_FROM_NAME"
	EnvMailTemplates    = "PORTAL_MAIL_TEMPLATES"
	EnvMailConcurrency  = "PORTAL_MAIL_CONCURRENCY"
	EnvLogLevel         = "PORTAL_LOG_LEVEL"
	EnvLogFormat        = "PORTAL_LOG_FORMAT"

	EnvBootstrapOrg      = "PORTAL_BOOTSTRAP_ORG"
	EnvBootstrapEmail    = "PORTAL_BOOTSTRAP_EMAIL"
	EnvBootstrapPassword = "PORTAL_BOOTSTRAP_PASSWORD"
	EnvTokenKeys         = "PORTAL_TOKEN_KEYS"
	EnvInvitationTTL     = "PORTAL_INVITATION_TTL"
	EnvRateLimitClient   = "PORTAL_RATE_LIMIT_CLIENT"
	EnvRateLimitSubject  = "PORTAL_RATE_LIMIT_SUBJECT"
	EnvInvitationsPerDay = "PORTAL_INVITATIONS_PER_DAY"
	EnvTrustedProxies    = "PORTAL_TRUSTED_PROXIES"
	EnvConsistencyWait   = "PORTAL_CONSISTENCY_WAIT"
	EnvSessionCacheTTL   = "PORTAL_SESSION_CACHE_TTL"
	EnvBackgroundYield   = "PORTAL_BACKGROUND_YIELD"
	EnvAdminToken        = "PORTAL_ADMIN_TOKEN"
	EnvRole              = "PORTAL_ROLE"
)

// Roles of a replica (PORTAL_ROLE).
const (
	// RoleAll serves the API and the pages and runs the background work:
	// the projections and the mail reactor, each of which runs on one
	// replica at a time (the holder of its lease).
	RoleAll = "all"
	// RoleAPI serves the API and the pages only, reading the read models
	// that replicas of role all project and leaving the mail to them.
	RoleAPI     = "api"
	DefaultRole = RoleAll
)

// EnvPprofAddr opts in to profiling: net/http/pprof on a loopback
// listener of its own, never on the public HTTP server.
const EnvPprofAddr = "PORTAL_PPROF_ADDR"

// Defaults that are not derived from other settings.
const (
	DefaultHTTPAddr = "127.0.0.1:8080"
	// DefaultMailFromName is the display name of the portal's mail sender.
	DefaultMailFromName = "Organization Portal"
	DefaultDataDir      = "./data"
	// DefaultEmbeddedEventStoreListen lets `serve` pick a free loopback port
	// for the in-process event store: nothing outside the process needs it.
	DefaultEmbeddedEventStoreListen = "127.0.0.1:0"
	// DefaultStandaloneEventStoreListen is where `portal eventstore` listens:
	// a fixed port, the one EventStoreDB uses, so clients know where to go.
	// It equals esdbserver.DefaultListenAddr.
	DefaultStandaloneEventStoreListen = "127.0.0.1:2113"
	DefaultLogLevel                   = "info"
	DefaultLogFormat                  = "text"

	DefaultInvitationTTL     = "168h"
	DefaultRateLimitClient   = "30/1m"
	DefaultRateLimitSubject  = "10/15m"
	DefaultInvitationsPerDay = "1000"
	DefaultConsistencyWait   = "2s"
	DefaultSessionCacheTTL   = "1s"
	DefaultBackgroundYield   = "30s"
	DefaultMailConcurrency   = "8"
)

// Setting describes one configuration value: its environment variable, the
// flag that overrides it, and its default as documented.
type Setting struct {
	Env     string
	Flag    string
	Default string // the literal default, "" when empty or derived
	// DefaultDoc describes the default for people (README, --help).
	DefaultDoc string
	Usage      string
}

// Settings returns every setting the portal reads, in documentation order.
func Settings() []Setting {
	return []Setting{
		{Env: EnvHTTPAddr, Flag: "http-addr", Default: DefaultHTTPAddr, DefaultDoc: "`" + DefaultHTTPAddr + "`",
			Usage: "host:port the HTTP server listens on (port 0 picks a free port)"},
		{Env: EnvDataDir, Flag: "data-dir", Default: DefaultDataDir, DefaultDoc: "`" + DefaultDataDir + "`",
			Usage: "directory for the embedded servers' data (event store under eventstore/)"},
		{Env: EnvPublicURL, Flag: "public-url", DefaultDoc: "`http://` + the bound HTTP address",
			Usage: "absolute URL people use to reach the portal (links in mails); default http:// + the bound HTTP address"},
		{Env: EnvEventStoreURL, Flag: "eventstore-url", DefaultDoc: "empty: embedded event store",
			Usage: "esdb:// connection string of an EventStoreDB/KurrentDB; empty runs the embedded store"},
		{Env: EnvEventStoreListen, Flag: "eventstore-listen", Default: DefaultEmbeddedEventStoreListen,
			DefaultDoc: "`" + DefaultEmbeddedEventStoreListen + "` for `serve`, `" + DefaultStandaloneEventStoreListen + "` for `eventstore`",
			Usage:      "address of the embedded event store (loopback only)"},
		{Env: EnvMongoURL, Flag: "mongo-url", DefaultDoc: "empty: embedded FerretDB",
			Usage: "mongodb:// URL of the read-model database; empty runs the embedded one"},
		{Env: EnvSMTPURL, Flag: "smtp-url", DefaultDoc: "empty: `.eml` files in `$PORTAL_DATA_DIR/outbox`",
			Usage: "smtp:// or smtps:// URL of the mail server ([user:pass@]host[:port], ?starttls=opportunistic|required|none, ?timeout=15s); empty writes mail to the outbox folder"},
		{Env: EnvMailFrom, Flag: "mail-from", DefaultDoc: "empty: `noreply@` + the public URL's host",
			Usage: "sender address of the portal's mail"},
		{Env: EnvMailFromName, Flag: "mail-from-name", DefaultDoc: "`" + DefaultMailFromName + "`",
			Usage: "sender display name of the portal's mail"},
		{Env: EnvMailTemplates, Flag: "mail-templates", DefaultDoc: "empty: the embedded templates",
			Usage: "directory of mail templates (<language>/<kind>.subject.txt, .txt, .html) overriding the embedded ones file by file"},
		{Env: EnvMailConcurrency, Flag: "mail-concurrency", Default: DefaultMailConcurrency, DefaultDoc: "`" + DefaultMailConcurrency + "`",
			Usage: "mails (of different invitations, registrations or accounts) sent at once, 1 to 64; a crash can send each of those in flight a second time (see Mail)"},
		{Env: EnvLogLevel, Flag: "log-level", Default: DefaultLogLevel, DefaultDoc: "`" + DefaultLogLevel + "`",
			Usage: "debug, info, warn or error"},
		{Env: EnvLogFormat, Flag: "log-format", Default: DefaultLogFormat, DefaultDoc: "`" + DefaultLogFormat + "`",
			Usage: "text or json"},
		{Env: EnvBootstrapOrg, Flag: "bootstrap-org", DefaultDoc: "empty: no bootstrap",
			Usage: "name of the organization created on first start, with its owner (needs the bootstrap email)"},
		{Env: EnvBootstrapEmail, Flag: "bootstrap-email", DefaultDoc: "empty",
			Usage: "email address of the bootstrap organization's owner"},
		{Env: EnvBootstrapPassword, Flag: "bootstrap-password", DefaultDoc: "empty: generated and printed once on stdout",
			Usage: "the bootstrap owner's password (at least 12 characters); prefer the variable: flags show in the process list"},
		{Env: EnvTokenKeys, Flag: "token-keys", DefaultDoc: "empty: keys in `$PORTAL_DATA_DIR/keys/token-keys.json`, generated on first start",
			Usage: "hex token keys (openssl rand -hex 32), comma-separated, newest first; prefer the variable: flags show in the process list"},
		{Env: EnvInvitationTTL, Flag: "invitation-ttl", Default: DefaultInvitationTTL, DefaultDoc: "`" + DefaultInvitationTTL + "` (7 days)",
			Usage: "how long an invitation link stays valid (Go duration, e.g. 72h)"},
		{Env: EnvRateLimitClient, Flag: "rate-limit-client", Default: DefaultRateLimitClient, DefaultDoc: "`" + DefaultRateLimitClient + "`",
			Usage: "requests per client address to each public endpoint group (sign-in, password reset, accept, join, verify), as N/DURATION, or off"},
		{Env: EnvRateLimitSubject, Flag: "rate-limit-subject", Default: DefaultRateLimitSubject, DefaultDoc: "`" + DefaultRateLimitSubject + "`",
			Usage: "attempts per email address or link token to each public endpoint group, as N/DURATION, or off"},
		{Env: EnvInvitationsPerDay, Flag: "invitations-per-day", Default: DefaultInvitationsPerDay, DefaultDoc: "`" + DefaultInvitationsPerDay + "`",
			Usage: "invitations (new and resent) one organization may send per 24 hours; 0 for no limit"},
		{Env: EnvTrustedProxies, Flag: "trusted-proxies", DefaultDoc: "empty: none",
			Usage: "comma-separated IPs or CIDRs of reverse proxies whose X-Forwarded-For names the client (for rate limits and logs)"},
		{Env: EnvConsistencyWait, Flag: "consistency-wait", Default: DefaultConsistencyWait, DefaultDoc: "`" + DefaultConsistencyWait + "`",
			Usage: "how long a read given a consistency token waits for the read models to catch up before answering stale (Go duration, 1ms to 1m)"},
		{Env: EnvSessionCacheTTL, Flag: "session-cache-ttl", Default: DefaultSessionCacheTTL, DefaultDoc: "`" + DefaultSessionCacheTTL + "`",
			Usage: "how long a checked session is trusted without reading it again; a sign-out or removal through another replica takes effect here within this time (Go duration up to 1m; 0 turns the cache off)"},
		{Env: EnvBackgroundYield, Flag: "background-yield", Default: DefaultBackgroundYield, DefaultDoc: "`" + DefaultBackgroundYield + "`",
			Usage: "while this replica serves commands, its projections and mail wait for them, unless the next event is this old: how far behind the read models and the mail may fall during a burst of commands (Go duration up to 10m; 0 turns it off)"},
		{Env: EnvAdminToken, Flag: "admin-token", DefaultDoc: "empty: the admin API is off",
			Usage: "bearer token of the operator admin API (/api/v1/admin/projections: status, resume, rebuild), at least 32 characters (openssl rand -hex 32); prefer the variable: flags show in the process list"},
		{Env: EnvRole, Flag: "role", Default: DefaultRole, DefaultDoc: "`" + DefaultRole + "`",
			Usage: "what this replica runs: all (the API and pages, the projections and the mail) or api (the API and pages only, beside replicas of role all that share its stores)"},
		{Env: EnvPprofAddr, Flag: "pprof-addr", DefaultDoc: "empty: off",
			Usage: "loopback host:port serving net/http/pprof (/debug/pprof/) on a listener of its own, for profiling (portal bench --cpuprofile); port 0 picks a free port"},
	}
}

// KnownEnv returns the names of all PORTAL_* variables the portal reads.
func KnownEnv() []string {
	settings := Settings()
	names := make([]string, len(settings))
	for i, s := range settings {
		names[i] = s.Env
	}
	return names
}

// Lookup returns the setting for an environment variable name.
func Lookup(env string) (Setting, bool) {
	for _, s := range Settings() {
		if s.Env == env {
			return s, true
		}
	}
	return Setting{}, false
}
