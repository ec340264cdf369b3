package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/orgportal/onboarding/cmd/portal/config"
)

// runCLI runs the portal's command line in process with the given
// environment; serve and eventstore only record the configuration they would
// run with.
func runCLI(t *testing.T, env map[string]string, args ...string) (serveCfg *config.Config, esCfg *config.EventStore, allowNonLoopback bool, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	a := newApp(&out, &errOut, func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	a.serve = func(_ context.Context, cfg config.Config) error {
		serveCfg = &cfg
		return nil
	}
	a.eventStore = func(_ context.Context, cfg config.EventStore, allow bool) error {
		esCfg, allowNonLoopback = &cfg, allow
		return nil
	}
	root := a.rootCmd()
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return serveCfg, esCfg, allowNonLoopback, errOut.String(), err
}

func TestServeIsTheDefaultCommand(t *testing.T) {
	for _, args := range [][]string{nil, {"serve"}} {
		cfg, _, _, _, err := runCLI(t, nil, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if cfg == nil {
			t.Fatalf("%v: serve did not run", args)
		}
		if cfg.HTTPAddr != config.DefaultHTTPAddr || cfg.DataDir != config.DefaultDataDir {
			t.Errorf("%v: defaults not applied: %+v", args, cfg)
		}
	}
}

func TestServePrecedenceFlagEnvDefault(t *testing.T) {
	env := map[string]string{
		config.EnvHTTPAddr:      "127.0.0.1:9000",
		config.EnvEventStoreURL: "esdb://env-store:2113?tls=false",
		config.EnvLogLevel:      "debug",
		config.EnvDataDir:       "/env/data",
	}
	for _, args := range [][]string{
		{"--http-addr", "127.0.0.1:9100", "--log-level", "warn"},
		{"serve", "--http-addr", "127.0.0.1:9100", "--log-level", "warn"},
		{"--log-level", "warn", "serve", "--http-addr=127.0.0.1:9100"}, // persistent flag before the subcommand
	} {
		cfg, _, _, _, err := runCLI(t, env, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if cfg.HTTPAddr != "127.0.0.1:9100" {
			t.Errorf("%v: flag should beat env: HTTPAddr = %q", args, cfg.HTTPAddr)
		}
		if cfg.Logging.Level != slog.LevelWarn {
			t.Errorf("%v: flag should beat env: level = %v", args, cfg.Logging.Level)
		}
		if cfg.EventStoreURL != "esdb://env-store:2113?tls=false" || cfg.DataDir != "/env/data" {
			t.Errorf("%v: env should beat default: %+v", args, cfg)
		}
		if cfg.Logging.Format != "text" || cfg.EventStoreListen != config.DefaultEmbeddedEventStoreListen {
			t.Errorf("%v: defaults: %+v", args, cfg)
		}
	}
}

func TestServeValidationErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"bad address flag", nil, []string{"serve", "--http-addr", "localhost"}, []string{"--http-addr", "host:port"}},
		{"bad address env", map[string]string{config.EnvHTTPAddr: "127.0.0.1:99999"}, nil, []string{"PORTAL_HTTP_ADDR", "port"}},
		{"bad event store URL", map[string]string{config.EnvEventStoreURL: "http://x:2113"}, nil, []string{"PORTAL_EVENTSTORE_URL"}},
		{"bad public URL", nil, []string{"--public-url", "example.org"}, []string{"--public-url"}},
		{"bad mongo URL", nil, []string{"--mongo-url", "mysql://db"}, []string{"--mongo-url", "mongodb"}},
		{"unknown flag", nil, []string{"--no-such-flag"}, []string{"unknown flag"}},
		{"stray argument", nil, []string{"serve", "now"}, []string{"unknown command"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, _, stderr, err := runCLI(t, tt.env, tt.args...)
			if err == nil {
				t.Fatalf("no error; config %+v", cfg)
			}
			if cfg != nil {
				t.Error("serve ran despite the error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if !strings.Contains(stderr, "Error:") {
				t.Errorf("the error is not printed: %q", stderr)
			}
		})
	}
}

func TestEventStoreCommandConfig(t *testing.T) {
	_, es, allow, _, err := runCLI(t, map[string]string{config.EnvDataDir: "/env/data"}, "eventstore")
	if err != nil {
		t.Fatal(err)
	}
	if es.ListenAddr != config.DefaultStandaloneEventStoreListen || es.DataDir != "/env/data/eventstore" || allow {
		t.Errorf("defaults: %+v allow=%v", es, allow)
	}

	_, es, allow, _, err = runCLI(t,
		map[string]string{config.EnvEventStoreListen: "127.0.0.1:3000", config.EnvLogFormat: "json"},
		"eventstore", "--listen", "0.0.0.0:2113", "--data", "/tmp/es", "--allow-non-loopback")
	if err != nil {
		t.Fatal(err)
	}
	if es.ListenAddr != "0.0.0.0:2113" || es.DataDir != "/tmp/es" || !allow || es.Logging.Format != "json" {
		t.Errorf("flags: %+v allow=%v", es, allow)
	}

	_, _, _, _, err = runCLI(t, nil, "eventstore", "--listen", "2113")
	if err == nil || !strings.Contains(err.Error(), "--listen") {
		t.Errorf("bad --listen: err = %v", err)
	}
	_, _, _, _, err = runCLI(t, nil, "eventstore", "--data", "")
	if err == nil || !strings.Contains(err.Error(), "--data") {
		t.Errorf("empty --data: err = %v", err)
	}
}

// Every flag's help names its variable, so `portal --help` documents both.
func TestFlagHelpNamesVariables(t *testing.T) {
	a := newApp(&bytes.Buffer{}, &bytes.Buffer{}, func(string) (string, bool) { return "", false })
	root := a.rootCmd()
	seen := map[string]bool{}
	record := func(f *pflag.Flag) {
		for _, env := range config.KnownEnv() {
			if strings.Contains(f.Usage, "[$"+env+"]") {
				seen[env] = true
			}
		}
	}
	root.PersistentFlags().VisitAll(record)
	for _, cmd := range root.Commands() {
		cmd.Flags().VisitAll(record)
	}
	for _, env := range config.KnownEnv() {
		if !seen[env] {
			t.Errorf("no flag documents %s", env)
		}
	}
}
