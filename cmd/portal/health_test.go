package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orgportal/onboarding/cmd/portal/config"
)

func get(t *testing.T, h http.Handler, path string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s: body is not JSON: %q", path, rec.Body.String())
	}
	return rec.Code, body
}

func TestHealthz(t *testing.T) {
	r := newRouter(slog.New(slog.DiscardHandler), []readinessCheck{
		{name: "eventstore", check: func(context.Context) error { return errors.New("down") }},
	})
	if code, _ := get(t, r, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200 even when a dependency is down", code)
	}
}

func TestReadyz(t *testing.T) {
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("connection refused") }
	hangs := func(ctx context.Context) error { time.Sleep(readinessTimeout + time.Second); return nil }

	r := newRouter(slog.New(slog.DiscardHandler), []readinessCheck{{name: "eventstore", check: ok}})
	if code, body := get(t, r, "/readyz"); code != http.StatusOK || body["status"] != "ready" {
		t.Errorf("all ok: %d %v", code, body)
	}

	r = newRouter(slog.New(slog.DiscardHandler), []readinessCheck{
		{name: "eventstore", check: down},
		{name: "mongo", check: ok},
	})
	code, body := get(t, r, "/readyz")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("one down: %d, want 503", code)
	}
	failing, _ := body["failing"].([]any)
	if len(failing) != 1 || failing[0] != "eventstore" {
		t.Errorf("failing = %v, want [eventstore]", body["failing"])
	}
	checks, _ := body["checks"].(map[string]any)
	if !strings.Contains(checks["eventstore"].(string), "connection refused") || checks["mongo"] != "ok" {
		t.Errorf("checks = %v", checks)
	}

	start := time.Now()
	r = newRouter(slog.New(slog.DiscardHandler), []readinessCheck{{name: "eventstore", check: hangs}})
	if code, _ := get(t, r, "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("hanging check: %d, want 503", code)
	}
	if took := time.Since(start); took > readinessTimeout+500*time.Millisecond {
		t.Errorf("a hanging check held /readyz for %v", took)
	}
}

func TestReadyzURL(t *testing.T) {
	tests := map[string]string{
		"127.0.0.1:8080": "http://127.0.0.1:8080/readyz",
		"0.0.0.0:8080":   "http://127.0.0.1:8080/readyz",
		":8080":          "http://127.0.0.1:8080/readyz",
		"[::]:8080":      "http://[::1]:8080/readyz",
		"portal:80":      "http://portal:80/readyz",
	}
	for addr, want := range tests {
		got, err := readyzURL(addr)
		if err != nil || got != want {
			t.Errorf("readyzURL(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
	if _, err := readyzURL("nope"); err == nil {
		t.Error("readyzURL accepted an address without port")
	}
}

func TestHealthcheckCommand(t *testing.T) {
	ready := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write([]byte(`{"status":"x"}`))
	}))
	defer srv.Close()

	env := map[string]string{config.EnvHTTPAddr: strings.TrimPrefix(srv.URL, "http://")}
	run := func(args ...string) error {
		a := newApp(&bytes.Buffer{}, &bytes.Buffer{}, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		root := a.rootCmd()
		root.SetArgs(args)
		return root.Execute()
	}
	if err := run("healthcheck"); err != nil {
		t.Errorf("ready portal (address from PORTAL_HTTP_ADDR): %v", err)
	}
	if err := run("healthcheck", "--url", srv.URL+"/readyz"); err != nil {
		t.Errorf("ready portal (--url): %v", err)
	}
	ready = false
	if err := run("healthcheck"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("unready portal: err = %v", err)
	}
	srv.Close()
	if err := run("healthcheck", "--timeout", "1s"); err == nil {
		t.Error("no portal: no error")
	}
}

func TestLogGateHoldsRecordsUntilOpen(t *testing.T) {
	var buf bytes.Buffer
	base := slog.NewTextHandler(&buf, nil)
	gate := &logGate{}
	held := slog.New(gate.handler(base)).With("component", "eventstore")

	held.Info("opened storage")
	if buf.Len() != 0 {
		t.Fatalf("a record passed the closed gate: %q", buf.String())
	}
	slog.New(base).Info("event store listening")
	gate.openGate(context.Background())
	held.Info("after")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 ||
		!strings.Contains(lines[0], "event store listening") ||
		!strings.Contains(lines[1], "opened storage") || !strings.Contains(lines[1], "component=eventstore") ||
		!strings.Contains(lines[2], "after") {
		t.Errorf("order:\n%s", buf.String())
	}
}
