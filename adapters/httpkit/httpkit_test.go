package httpkit_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/httpkit"
)

// A well-formed request id is kept; anything that could forge a log line
// is replaced. The access log names the route template, the level follows
// the status, and the outcome's code and the user are on the line.
func TestRequestIDAndAccessLog(t *testing.T) {
	var logs bytes.Buffer
	access := httpkit.AccessLog{
		Log:    slog.New(slog.NewJSONHandler(&logs, nil)),
		UserID: func(*gin.Context) string { return "u-1" },
	}
	r := httpkit.NewEngine()
	r.GET("/links/:token", httpkit.RequestID, access.Handle, func(c *gin.Context) {
		httpkit.SetLogCode(c, "rate_limited")
		c.Status(http.StatusTooManyRequests)
	})
	for id, keep := range map[string]bool{"req-123.abc": true, "abc def\tinjected=1": false, "": false} {
		logs.Reset()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/links/secret-token?next=x", nil)
		req.Header.Set(httpkit.RequestIDHeader, id)
		r.ServeHTTP(rec, req)
		got := rec.Header().Get(httpkit.RequestIDHeader)
		if (got == id) != keep || got == "" {
			t.Errorf("request id %q answered as %q", id, got)
		}
		var line map[string]any
		if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
			t.Fatalf("log: %v\n%s", err, logs.String())
		}
		want := map[string]any{"level": "WARN", "route": "/links/:token", "status": float64(429), "code": "rate_limited",
			"user_id": "u-1", "request_id": got}
		for k, v := range want {
			if line[k] != v {
				t.Errorf("log %s = %v, want %v", k, line[k], v)
			}
		}
		if bytes.Contains(logs.Bytes(), []byte("secret-token")) {
			t.Errorf("the log holds the path: %s", logs.String())
		}
	}
}
