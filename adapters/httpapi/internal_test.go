package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/httpkit"
)

// A handler that panics answers a 500 problem and is logged by route.
func TestPanicIsA500Problem(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	a := &API{log: log, clock: time.Now}
	r := httpkit.NewEngine()
	r.GET("/boom/:token", httpkit.RequestID, httpkit.AccessLog{Log: log}.Handle, httpkit.Recover(a.fail), func(*gin.Context) { panic("nil map") })
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/boom/secret-token", nil))
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || rec.Code != http.StatusInternalServerError || p.Code != CodeInternal {
		t.Fatalf("answer %d %s", rec.Code, rec.Body)
	}
	if strings.Contains(p.Detail, "nil map") {
		t.Error("the 500 detail leaks the error")
	}
	if out := logs.String(); !strings.Contains(out, "nil map") || !strings.Contains(out, "/boom/:token") || strings.Contains(out, "secret-token") {
		t.Errorf("log: %s", out)
	}
}
