package config

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/httpapi"
)

func envOf(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(Source{LookupEnv: envOf(nil)})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Config{
		HTTPAddr:         "127.0.0.1:8080",
		DataDir:          "./data",
		EventStoreListen: "127.0.0.1:0",
		Logging:          Logging{Level: slog.LevelInfo, Format: "text"},
		InvitationTTL:    7 * 24 * time.Hour,
		Limits: Limits{
			Client:            httpapi.Rate{Events: 30, Per: time.Minute},
			Subject:           httpapi.Rate{Events: 10, Per: 15 * time.Minute},
			InvitationsPerDay: 1000,
		},
		ConsistencyWait: 2 * time.Second,
		SessionCacheTTL: time.Second,
		BackgroundYield: 30 * time.Second,
		MailConcurrency: 8,
		Role:            RoleAll,
	}
	if c != want {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
	bound := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	if got := c.PublicURLFor(bound); got != "http://127.0.0.1:8080" {
		t.Errorf("default public URL = %q", got)
	}
	if got := c.EventStoreDataDir(); got != "data/eventstore" {
		t.Errorf("event store data dir = %q", got)
	}
}

func TestPrecedenceFlagOverEnvOverDefault(t *testing.T) {
	env := envOf(map[string]string{
		EnvHTTPAddr:  "127.0.0.1:9000",
		EnvDataDir:   "/var/lib/portal",
		EnvLogLevel:  "debug",
		EnvPublicURL: "https://portal.example.org/",
		EnvMongoURL:  "", // empty counts as unset
	})
	flags := map[string]string{
		EnvHTTPAddr:  "127.0.0.1:9100",
		EnvLogFormat: "json",
	}
	c, err := Load(Source{Flags: flags, LookupEnv: env})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checks := []struct{ name, got, want string }{
		{"flag beats env", c.HTTPAddr, "127.0.0.1:9100"},
		{"env beats default", c.DataDir, "/var/lib/portal"},
		{"flag beats default", c.Logging.Format, "json"},
		{"public URL from env, trailing slash trimmed", c.PublicURL, "https://portal.example.org"},
		{"empty env is unset", c.MongoURL, ""},
		{"default", c.EventStoreListen, "127.0.0.1:0"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %q, want %q", ch.name, ch.got, ch.want)
		}
	}
	if c.Logging.Level != slog.LevelDebug {
		t.Errorf("log level = %v, want debug from env", c.Logging.Level)
	}
}

func TestExplicitEmptyFlagBeatsEnv(t *testing.T) {
	// `--eventstore-url=` selects the embedded store even if the environment
	// names a remote one.
	c, err := Load(Source{
		Flags:     map[string]string{EnvEventStoreURL: ""},
		LookupEnv: envOf(map[string]string{EnvEventStoreURL: "esdb://remote:2113?tls=false"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.EventStoreURL != "" {
		t.Errorf("EventStoreURL = %q, want empty", c.EventStoreURL)
	}
}

func TestLoadAcceptsProductionValues(t *testing.T) {
	c, err := Load(Source{LookupEnv: envOf(map[string]string{
		EnvHTTPAddr:      "0.0.0.0:8080",
		EnvEventStoreURL: "esdb://eventstore:2113?tls=false",
		EnvMongoURL:      "mongodb://mongo:27017/?replicaSet=rs0",
		EnvSMTPURL:       "smtp://mailpit:1025",
		EnvPublicURL:     "http://localhost:8080",
		EnvLogLevel:      "WARN",
		EnvLogFormat:     "JSON",
	})})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Logging.Level != slog.LevelWarn || c.Logging.Format != "json" {
		t.Errorf("logging = %+v", c.Logging)
	}
}

func TestLoadValidation(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		flags map[string]string
		want  []string // substrings of the error
	}{
		{"address without port", map[string]string{EnvHTTPAddr: "localhost"}, nil,
			[]string{"PORTAL_HTTP_ADDR", `"localhost"`, "host:port"}},
		{"port out of range", nil, map[string]string{EnvHTTPAddr: "127.0.0.1:70000"},
			[]string{"--http-addr", "port"}},
		{"port not a number", map[string]string{EnvEventStoreListen: "127.0.0.1:http"}, nil,
			[]string{"PORTAL_EVENTSTORE_LISTEN", "port"}},
		{"event store URL with wrong scheme", map[string]string{EnvEventStoreURL: "http://eventstore:2113"}, nil,
			[]string{"PORTAL_EVENTSTORE_URL"}},
		{"public URL not absolute", map[string]string{EnvPublicURL: "portal.example.org"}, nil,
			[]string{"PORTAL_PUBLIC_URL", "scheme"}},
		{"public URL unparsable", map[string]string{EnvPublicURL: "http://[::1"}, nil,
			[]string{"PORTAL_PUBLIC_URL", "not a URL"}},
		{"mongo URL wrong scheme", map[string]string{EnvMongoURL: "postgres://db"}, nil,
			[]string{"PORTAL_MONGO_URL", "mongodb"}},
		{"smtp URL without host", map[string]string{EnvSMTPURL: "smtp://"}, nil,
			[]string{"PORTAL_SMTP_URL", "missing host"}},
		{"mail templates directory missing", map[string]string{EnvMailTemplates: "/nonexistent/templates"}, nil,
			[]string{"PORTAL_MAIL_TEMPLATES", "/nonexistent/templates", "directory"}},
		{"mail templates not a directory", nil, map[string]string{EnvMailTemplates: "config_test.go"},
			[]string{"--mail-templates", "not a directory"}},
		{"log level", map[string]string{EnvLogLevel: "loud"}, nil,
			[]string{"PORTAL_LOG_LEVEL", "loud"}},
		{"log format", nil, map[string]string{EnvLogFormat: "xml"},
			[]string{"--log-format", "text or json"}},
		{"empty data dir flag", nil, map[string]string{EnvDataDir: " "},
			[]string{"--data-dir", "empty"}},
		{"all problems at once", map[string]string{EnvHTTPAddr: "x", EnvLogFormat: "xml"}, nil,
			[]string{"PORTAL_HTTP_ADDR", "PORTAL_LOG_FORMAT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(Source{Flags: tt.flags, LookupEnv: envOf(tt.env)})
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestFlagNamesInErrors(t *testing.T) {
	// `portal eventstore` calls its flag --listen, not --eventstore-listen.
	_, err := LoadEventStore(Source{
		Flags:     map[string]string{EnvEventStoreListen: "nope"},
		FlagNames: map[string]string{EnvEventStoreListen: "listen"},
	}, "")
	if err == nil || !strings.Contains(err.Error(), "--listen") {
		t.Fatalf("error %v does not name --listen", err)
	}
}

func TestLoadEventStore(t *testing.T) {
	c, err := LoadEventStore(Source{LookupEnv: envOf(nil)}, "")
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != "127.0.0.1:2113" || c.DataDir != "data/eventstore" {
		t.Errorf("defaults = %+v", c)
	}

	c, err = LoadEventStore(Source{
		Flags:     map[string]string{EnvEventStoreListen: "127.0.0.1:0"},
		LookupEnv: envOf(map[string]string{EnvEventStoreListen: "127.0.0.1:3000", EnvDataDir: "/srv/portal"}),
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != "127.0.0.1:0" || c.DataDir != "/srv/portal/eventstore" {
		t.Errorf("flag/env = %+v", c)
	}

	c, err = LoadEventStore(Source{LookupEnv: envOf(map[string]string{EnvDataDir: "/srv/portal"})}, "/tmp/es")
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/tmp/es" {
		t.Errorf("--data should win over PORTAL_DATA_DIR: %+v", c)
	}
}

func TestSettingsTable(t *testing.T) {
	seenEnv := map[string]bool{}
	seenFlag := map[string]bool{}
	for _, s := range Settings() {
		if !strings.HasPrefix(s.Env, "PORTAL_") {
			t.Errorf("%s: variables start with PORTAL_", s.Env)
		}
		if seenEnv[s.Env] || seenFlag[s.Flag] {
			t.Errorf("duplicate setting %s / --%s", s.Env, s.Flag)
		}
		seenEnv[s.Env], seenFlag[s.Flag] = true, true
		if s.Usage == "" || s.DefaultDoc == "" {
			t.Errorf("%s: document usage and default", s.Env)
		}
		if _, ok := Lookup(s.Env); !ok {
			t.Errorf("Lookup(%s) failed", s.Env)
		}
	}
	if len(KnownEnv()) != len(Settings()) {
		t.Error("KnownEnv and Settings disagree")
	}
}

func TestBootstrapAndAPISettings(t *testing.T) {
	c, err := Load(Source{LookupEnv: envOf(map[string]string{
		EnvBootstrapOrg:      "Acme",
		EnvBootstrapEmail:    "owner@acme.example",
		EnvBootstrapPassword: "a long enough secret phrase",
		EnvTokenKeys:         strings.Repeat("ab", 32),
		EnvInvitationTTL:     "72h",
		EnvRateLimitClient:   "off",
		EnvRateLimitSubject:  "5/1h",
		EnvInvitationsPerDay: "0",
		EnvTrustedProxies:    "10.0.0.0/8, 192.168.1.1",
		EnvConsistencyWait:   "250ms",
		EnvSessionCacheTTL:   "0",
		EnvBackgroundYield:   "0",
		EnvMailConcurrency:   "1",
	})})
	if err != nil {
		t.Fatal(err)
	}
	want := Bootstrap{OrgName: "Acme", Email: "owner@acme.example", Password: "a long enough secret phrase"}
	if c.Bootstrap != want || !c.Bootstrap.Enabled() || c.InvitationTTL != 72*time.Hour ||
		!c.Limits.Client.Unlimited() || c.Limits.Subject != (httpapi.Rate{Events: 5, Per: time.Hour}) || c.Limits.InvitationsPerDay != 0 ||
		len(c.TrustedProxyList()) != 2 || c.ConsistencyWait != 250*time.Millisecond || c.SessionCacheTTL != 0 || c.BackgroundYield != 0 || c.MailConcurrency != 1 {
		t.Errorf("config: %+v", c)
	}
	// Secrets never print.
	for _, format := range []string{"%v", "%+v", "%#v"} {
		if out := fmt.Sprintf(format, c); strings.Contains(out, "secret phrase") || strings.Contains(out, "abab") {
			t.Errorf("%s prints a secret: %s", format, out)
		}
	}
}

func TestBootstrapAndAPIValidation(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
		not  string
	}{
		{"org without email", map[string]string{EnvBootstrapOrg: "Acme"}, []string{EnvBootstrapEmail}, ""},
		{"email without org", map[string]string{EnvBootstrapEmail: "a@b.example"}, []string{EnvBootstrapOrg}, ""},
		{"password alone", map[string]string{EnvBootstrapPassword: "a long enough secret"}, []string{EnvBootstrapOrg}, "long enough"},
		{"bad email", map[string]string{EnvBootstrapOrg: "Acme", EnvBootstrapEmail: "nope"}, []string{EnvBootstrapEmail}, ""},
		{"weak password", map[string]string{EnvBootstrapOrg: "Acme", EnvBootstrapEmail: "a@b.example", EnvBootstrapPassword: "hunter2"},
			[]string{EnvBootstrapPassword, "12"}, "hunter2"},
		{"bad keys", map[string]string{EnvTokenKeys: "zz-not-hex-secretvalue"}, []string{EnvTokenKeys}, "secretvalue"},
		{"short key", map[string]string{EnvTokenKeys: "abcd"}, []string{EnvTokenKeys}, "abcd"},
		{"bad ttl", map[string]string{EnvInvitationTTL: "7d"}, []string{EnvInvitationTTL}, ""},
		{"bad rate", map[string]string{EnvRateLimitClient: "30 per minute"}, []string{EnvRateLimitClient, "N/DURATION"}, ""},
		{"zero rate", map[string]string{EnvRateLimitSubject: "0/1m"}, []string{EnvRateLimitSubject}, ""},
		{"bad per day", map[string]string{EnvInvitationsPerDay: "-1"}, []string{EnvInvitationsPerDay}, ""},
		{"bad proxy", map[string]string{EnvTrustedProxies: "10.0.0.0/8,proxy.local"}, []string{EnvTrustedProxies, "proxy.local"}, ""},
		{"no consistency wait", map[string]string{EnvConsistencyWait: "0s"}, []string{EnvConsistencyWait, "1ms to 1m"}, ""},
		{"long consistency wait", map[string]string{EnvConsistencyWait: "2m"}, []string{EnvConsistencyWait}, ""},
		{"bad consistency wait", map[string]string{EnvConsistencyWait: "2"}, []string{EnvConsistencyWait}, ""},
		{"negative session cache", map[string]string{EnvSessionCacheTTL: "-1s"}, []string{EnvSessionCacheTTL, "0 (no cache) to 1m"}, ""},
		{"long session cache", map[string]string{EnvSessionCacheTTL: "5m"}, []string{EnvSessionCacheTTL}, ""},
		{"negative background yield", map[string]string{EnvBackgroundYield: "-1s"}, []string{EnvBackgroundYield, "0 (off) to 10m"}, ""},
		{"long background yield", map[string]string{EnvBackgroundYield: "1h"}, []string{EnvBackgroundYield}, ""},
		{"bad background yield", map[string]string{EnvBackgroundYield: "30"}, []string{EnvBackgroundYield, `"30"`}, ""},
		{"no mail concurrency", map[string]string{EnvMailConcurrency: "0"}, []string{EnvMailConcurrency, "1 to 64"}, ""},
		{"mail concurrency too high", map[string]string{EnvMailConcurrency: "65"}, []string{EnvMailConcurrency}, ""},
		{"mail concurrency not a number", map[string]string{EnvMailConcurrency: "eight"}, []string{EnvMailConcurrency, `"eight"`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(Source{LookupEnv: envOf(tt.env)})
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if tt.not != "" && strings.Contains(err.Error(), tt.not) {
				t.Errorf("error %q echoes a secret", err)
			}
		})
	}
}

func TestMailTemplatesSetting(t *testing.T) {
	dir := t.TempDir()
	c, err := Load(Source{LookupEnv: envOf(map[string]string{EnvMailTemplates: dir})})
	if err != nil || c.MailTemplates != dir {
		t.Fatalf("Load: %+v, %v", c.MailTemplates, err)
	}
	if c, err = Load(Source{}); err != nil || c.MailTemplates != "" {
		t.Fatalf("default: %q, %v; want empty (embedded templates)", c.MailTemplates, err)
	}
}

func TestRoleSetting(t *testing.T) {
	c, err := Load(Source{})
	if err != nil || c.Role != RoleAll || c.APIOnly() {
		t.Fatalf("default: role %q, api only %v, %v; want all", c.Role, c.APIOnly(), err)
	}
	shared := map[string]string{EnvRole: "API", EnvMongoURL: "mongodb://127.0.0.1:27017", EnvEventStoreURL: "esdb://127.0.0.1:2113?tls=false"}
	if c, err = Load(Source{LookupEnv: envOf(shared)}); err != nil || c.Role != RoleAPI || !c.APIOnly() {
		t.Fatalf("api with shared stores: role %q, %v", c.Role, err)
	}
	// The embedded event store on a fixed port: replicas of role all can
	// be pointed at it.
	fixed := map[string]string{EnvRole: "api", EnvMongoURL: "mongodb://127.0.0.1:27017", EnvEventStoreListen: "127.0.0.1:2113"}
	if c, err = Load(Source{LookupEnv: envOf(fixed)}); err != nil || !c.APIOnly() {
		t.Fatalf("api with the embedded event store on a fixed port: %v", err)
	}
	c, err = Load(Source{Flags: map[string]string{EnvRole: "api"}, LookupEnv: envOf(map[string]string{EnvMongoURL: "mongodb://127.0.0.1:27017", EnvEventStoreURL: "esdb://127.0.0.1:2113?tls=false"})})
	if err != nil || !c.APIOnly() {
		t.Fatalf("--role api: %v", err)
	}

	tests := []struct {
		name  string
		flags map[string]string
		env   map[string]string
		want  []string
	}{
		{"unknown role", nil, map[string]string{EnvRole: "worker"}, []string{EnvRole, `"worker"`, "all", "api"}},
		{"api embedding the read models", nil, map[string]string{EnvRole: "api", EnvEventStoreURL: "esdb://127.0.0.1:2113?tls=false"},
			[]string{"PORTAL_ROLE=api needs " + EnvMongoURL, "portal mongo"}},
		{"api embedding the event store on a free port", nil, map[string]string{EnvRole: "api", EnvMongoURL: "mongodb://127.0.0.1:27017"},
			[]string{EnvEventStoreURL, EnvEventStoreListen}},
		{"api by flag, nothing shared", map[string]string{EnvRole: "api"}, nil, []string{"--role=api needs " + EnvMongoURL, EnvEventStoreListen}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(Source{Flags: tt.flags, LookupEnv: envOf(tt.env)})
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
