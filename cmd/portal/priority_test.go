package main

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orgportal/onboarding/projections/priority"
)

// Requests that may change something count as commands in flight while
// they are served; reads never do.
func TestCommandsFirstCountsWhatMayChangeSomething(t *testing.T) {
	gin.SetMode(gin.TestMode)
	for _, gate := range []*priority.Gate{priority.New(time.Minute), nil} {
		r := gin.New()
		r.Use(commandsFirst(gate))
		var during int64 = -1
		r.Any("/x", func(c *gin.Context) {
			during = gate.InFlight()
			c.Status(http.StatusNoContent)
		})
		for _, tt := range []struct {
			method string
			want   int64
		}{
			{http.MethodGet, 0}, {http.MethodHead, 0}, {http.MethodOptions, 0},
			{http.MethodPost, 1}, {http.MethodPut, 1}, {http.MethodPatch, 1}, {http.MethodDelete, 1},
		} {
			if gate == nil {
				tt.want = 0
			}
			during = -1
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, httptest.NewRequest(tt.method, "/x", nil))
			if rec.Code != http.StatusNoContent || during != tt.want {
				t.Errorf("gate %v, %s: status %d, %d in flight during the request, want %d", gate != nil, tt.method, rec.Code, during, tt.want)
			}
			if n := gate.InFlight(); n != 0 {
				t.Errorf("gate %v, %s: %d in flight after the request", gate != nil, tt.method, n)
			}
		}
	}
}

// The gate's counters and bound are on /metrics.
func TestGateMetrics(t *testing.T) {
	gather := func(gate *priority.Gate) map[string]float64 {
		t.Helper()
		reg := prometheus.NewRegistry()
		reg.MustRegister(gateCollector{gate})
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, f := range families {
			m := f.GetMetric()[0]
			got[f.GetName()] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
		return got
	}
	gate := priority.New(30 * time.Second)
	want := map[string]float64{"portal_background_yield_bound_seconds": 30, "portal_background_yields_total": 0, "portal_background_yield_seconds_total": 0}
	if got := gather(gate); !maps.Equal(got, want) {
		t.Errorf("metrics %v, want %v", got, want)
	}
	want["portal_background_yield_bound_seconds"] = 0
	if got := gather(nil); !maps.Equal(got, want) {
		t.Errorf("metrics of a replica without a gate %v, want %v", got, want)
	}
}

// A command counts once its body is in, and the handler reads the same
// body: all of it past the read-ahead, and the error that cut it short.
func TestCommandsFirstCountsACommandOnceItsBodyIsIn(t *testing.T) {
	gin.SetMode(gin.TestMode)
	gate := priority.New(time.Minute)
	r := gin.New()
	r.Use(commandsFirst(gate))
	type seen struct {
		inFlight  int64
		readAhead int // bytes of the body read before the handler ran
		body      []byte
		err       error
	}
	seenBy := make(chan seen, 1)
	readAhead := func() int { return -1 }
	r.POST("/x", func(c *gin.Context) {
		ahead := readAhead()
		body, err := io.ReadAll(c.Request.Body)
		seenBy <- seen{gate.InFlight(), ahead, body, err}
		c.Status(http.StatusNoContent)
	})

	// A body sent slowly: nothing counts until its last byte.
	pr, pw := io.Pipe()
	served := make(chan struct{})
	go func() {
		defer close(served)
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/x", pr))
	}()
	if _, err := pw.Write([]byte("first half, ")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := gate.InFlight(); n != 0 {
		t.Errorf("%d commands in flight while the body is on its way, want 0", n)
	}
	if _, err := pw.Write([]byte("second half")); err != nil {
		t.Fatal(err)
	}
	_ = pw.Close()
	<-served
	if s := <-seenBy; s.inFlight != 1 || string(s.body) != "first half, second half" || s.err != nil {
		t.Errorf("handler saw %d in flight, body %q, error %v", s.inFlight, s.body, s.err)
	}

	// A body larger than the read-ahead reaches the handler whole, and
	// one declared that large is not read ahead at all (the routes refuse
	// it unread).
	big := bytes.Repeat([]byte("0123456789abcdef"), bufferedBodyBytes/16+100)
	for _, declared := range []bool{false, true} {
		body := &countingReader{r: bytes.NewReader(big)}
		req := httptest.NewRequest(http.MethodPost, "/x", body)
		req.ContentLength = -1 // length unknown, as with a chunked body
		if declared {
			req.ContentLength = int64(len(big))
		}
		readAhead = func() int { return body.n }
		r.ServeHTTP(httptest.NewRecorder(), req)
		s := <-seenBy
		if !bytes.Equal(s.body, big) || s.err != nil {
			t.Errorf("declared %v: handler read %d of %d bytes, error %v", declared, len(s.body), len(big), s.err)
		}
		if want := map[bool]int{false: bufferedBodyBytes, true: 0}[declared]; s.readAhead != want {
			t.Errorf("declared %v: %d bytes read before the handler, want %d", declared, s.readAhead, want)
		}
	}
	readAhead = func() int { return -1 }

	// A body cut short: the handler gets what came, then the error.
	cut := errors.New("connection reset")
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/x",
		io.MultiReader(strings.NewReader("partial"), failedRead{cut})))
	if s := <-seenBy; string(s.body) != "partial" || !errors.Is(s.err, cut) {
		t.Errorf("handler read %q, error %v; want the partial body, then %v", s.body, s.err, cut)
	}
	if n := gate.InFlight(); n != 0 {
		t.Errorf("%d in flight after every request", n)
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
