package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

func TestParseRate(t *testing.T) {
	for in, want := range map[string]Rate{
		"30/1m": {30, time.Minute}, " 10 / 15m ": {10, 15 * time.Minute}, "off": {}, "OFF": {},
	} {
		got, err := ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "30", "0/1m", "-1/1m", "30/0s", "30/minute", "x/1m"} {
		if _, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) accepted", in)
		}
	}
}

func TestLimiterRefillsAndRefunds(t *testing.T) {
	l := newLimiter(Rate{Events: 2, Per: time.Minute}, 10)
	now := time.Unix(0, 0)
	for i := range 2 {
		if ok, _ := l.take("k", 1, now); !ok {
			t.Fatalf("take %d refused", i)
		}
	}
	ok, wait := l.take("k", 1, now)
	if ok || wait != 30*time.Second {
		t.Fatalf("third take: ok=%v wait=%v, want refused for 30s", ok, wait)
	}
	if ok, _ := l.take("k", 1, now.Add(30*time.Second)); !ok {
		t.Error("no refill after 30s")
	}
	l.give("k", 1, now.Add(30*time.Second))
	if ok, _ := l.take("k", 1, now.Add(30*time.Second)); !ok {
		t.Error("a refunded token is not there")
	}
	if ok, wait := l.take("other", 3, now); ok || wait != time.Minute {
		t.Errorf("more than the bucket holds: ok=%v wait=%v", ok, wait)
	}
	if ok, _ := newLimiter(Rate{}, 1).take("k", 1000, now); !ok {
		t.Error("the zero rate limits")
	}
}

// The map of buckets stays bounded: full buckets go first, then the least
// recently used.
func TestLimiterIsBounded(t *testing.T) {
	l := newLimiter(Rate{Events: 1, Per: time.Hour}, 100)
	now := time.Unix(0, 0)
	for i := range 10_000 {
		now = now.Add(time.Millisecond)
		l.take(fmt.Sprintf("client-%d", i), 1, now)
		if l.size() > 100 {
			t.Fatalf("%d buckets after %d keys", l.size(), i+1)
		}
	}
	// The most recent keys are still limited.
	if ok, _ := l.take("client-9999", 1, now); ok {
		t.Error("the newest key lost its bucket")
	}
}

// A handler that panics answers a 500 problem and is logged by route.
func TestPanicIsA500Problem(t *testing.T) {
	var logs bytes.Buffer
	a := &API{log: slog.New(slog.NewTextHandler(&logs, nil)), clock: time.Now}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/boom/:token", a.requestID, a.accessLog, a.recover, func(*gin.Context) { panic("nil map") })
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
