package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/eventstoredb"
	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/cmd/portal/config"
	"github.com/orgportal/onboarding/projections"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// A runner that was never started: enough for the admin API's answers
// about standby projections, unknown names and a runner not running.
func idleRunner(t *testing.T) *projections.Runner {
	t.Helper()
	conn, err := eventstoredb.Dial(context.Background(), "esdb://127.0.0.1:1?tls=false", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	r, err := projections.NewRunner(projections.RunnerConfig{
		Source:      projections.Source{Conn: conn, Decode: (&eventstoredb.Codec{}).DecodeMessage, EventTypes: []string{"UserInvited"}},
		Projections: readmodels.Projections(nil, readmodels.Options{}),
		Checkpoints: eventstoredb.NewMemoryCheckpoints(), Versions: noVersions{}, Leases: noLeases{}, Owner: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type noVersions struct{}

func (noVersions) Active(context.Context, string) (mongodb.Active, bool, error) {
	return mongodb.Active{}, false, nil
}
func (noVersions) Switch(context.Context, string, int) error     { return nil }
func (noVersions) Stored(context.Context, string) ([]int, error) { return nil, nil }

type noLeases struct{}

func (noLeases) Acquire(context.Context, string, string, time.Duration) (bool, error) {
	return false, nil
}
func (noLeases) Renew(context.Context, string, string, time.Duration) (bool, error) {
	return false, nil
}
func (noLeases) Release(context.Context, string, string) error { return nil }

func adminCall(t *testing.T, h http.Handler, method, path, token string) (int, map[string]any, http.Header) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	raw, _ := io.ReadAll(rec.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("%s %s: %d, not JSON: %s", method, path, rec.Code, raw)
	}
	return rec.Code, body, rec.Header()
}

func TestAdminAPI(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef-admin"
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	var logs strings.Builder
	mountAdmin(r, idleRunner(t), config.Secret(token), slog.New(slog.NewTextHandler(&logs, nil)))

	for _, tc := range []struct {
		method, path, token string
		status              int
		code                string
	}{
		{"GET", "/api/v1/admin/projections", "", 401, "admin_token_invalid"},
		{"GET", "/api/v1/admin/projections", token + "x", 401, "admin_token_invalid"},
		{"GET", "/api/v1/admin/projections", token[:10], 401, "admin_token_invalid"},
		{"GET", "/api/v1/admin/projections/nosuch", token, 404, "projection_not_found"},
		{"POST", "/api/v1/admin/projections/users/resume", token, 409, "projection_not_stalled"},
		{"POST", "/api/v1/admin/projections/nosuch/resume", token, 404, "projection_not_found"},
		{"POST", "/api/v1/admin/projections/all/rebuild", token, 503, "service_unavailable"},
		{"POST", "/api/v1/admin/projections/nosuch/rebuild", token, 404, "projection_not_found"},
	} {
		status, body, header := adminCall(t, r, tc.method, tc.path, tc.token)
		if status != tc.status || body["code"] != tc.code || body["type"] != "urn:orgportal:problem:"+tc.code {
			t.Errorf("%s %s: %d %v, want %d %s", tc.method, tc.path, status, body, tc.status, tc.code)
		}
		if ct := header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%s %s: content type %q", tc.method, tc.path, ct)
		}
		if status == 401 && header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s: 401 without WWW-Authenticate", tc.method, tc.path)
		}
	}
	status, body, _ := adminCall(t, r, "GET", "/api/v1/admin/projections", token)
	list, _ := body["projections"].([]any)
	if status != 200 || len(list) != 3 || list[0].(map[string]any)["state"] != "standby" {
		t.Errorf("list: %d %v", status, body)
	}
	status, body, _ = adminCall(t, r, "GET", "/api/v1/admin/projections/audit", token)
	if status != 200 || body["name"] != "audit" {
		t.Errorf("one: %d %v", status, body)
	}
	if strings.Contains(logs.String(), token) {
		t.Error("the token reached the log")
	}
}

func TestAdminAPIOffWithoutToken(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	mountAdmin(r, idleRunner(t), "", slog.New(slog.DiscardHandler))
	status, body, _ := adminCall(t, r, "GET", "/api/v1/admin/projections", "anything")
	if status != 404 || body["code"] != "admin_api_disabled" || !strings.Contains(body["detail"].(string), config.EnvAdminToken) {
		t.Errorf("%d %v", status, body)
	}
}
