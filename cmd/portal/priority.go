package main

import (
	"bytes"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orgportal/onboarding/adapters/httpapi"
	"github.com/orgportal/onboarding/projections/priority"
)

// commandsFirst counts every request that may change something (any
// method but GET, HEAD and OPTIONS) as a command in flight on gate, from
// the moment its body is in until it is answered. Reads are not counted: a
// read that waits for a consistency token waits for the very background
// work the gate would hold back. Nor is a body on its way: a client that
// sends one slowly must not hold the background back meanwhile, so the
// body (up to bufferedBodyBytes, more than any route accepts) is read
// before the command counts.
func commandsFirst(gate *priority.Gate) gin.HandlerFunc {
	return func(c *gin.Context) {
		switch c.Request.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			c.Next()
			return
		}
		// A body declared larger than any route takes is refused before
		// it is read (httpkit.LimitBody): no need to read it ahead.
		if gate != nil && c.Request.ContentLength <= httpapi.MaxBodyBytes {
			bufferBody(c.Request)
		}
		gate.Begin()
		defer gate.End()
		c.Next()
	}
}

// bufferedBodyBytes bounds what commandsFirst reads ahead: one byte more
// than the largest body a route takes (the API's; the pages' forms take
// less), so that the route still sees a larger one and refuses it (413).
const bufferedBodyBytes = httpapi.MaxBodyBytes + 1

// bufferBody reads up to bufferedBodyBytes of r's body into memory and
// leaves r.Body reading the same bytes, then whatever follows them, or
// the error that stopped the read, where it happened.
func bufferBody(r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	body := r.Body
	read, err := io.ReadAll(io.LimitReader(body, bufferedBodyBytes))
	rest := io.Reader(body)
	if err != nil {
		rest = failedRead{err}
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(read), rest), body}
}

// failedRead answers every Read with the error a read ended with.
type failedRead struct{ err error }

func (f failedRead) Read([]byte) (int, error) { return 0, f.err }

var (
	metricYields = prometheus.NewDesc("portal_background_yields_total",
		"Times a projection or the mail reactor waited for commands before handling an event: for those in flight, or through the gaps between back-to-back ones (PORTAL_BACKGROUND_YIELD).", nil, nil)
	metricYieldSeconds = prometheus.NewDesc("portal_background_yield_seconds_total",
		"Time the projections and the mail reactor spent waiting for commands.", nil, nil)
	metricYieldBound = prometheus.NewDesc("portal_background_yield_bound_seconds",
		"How old an event may get before the background stops waiting for commands to handle it (0: it never waits).", nil, nil)
)

// gateCollector exports what the gate held back.
type gateCollector struct{ gate *priority.Gate }

func (c gateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- metricYields
	ch <- metricYieldSeconds
	ch <- metricYieldBound
}

func (c gateCollector) Collect(ch chan<- prometheus.Metric) {
	yields, waited := c.gate.Stats()
	ch <- prometheus.MustNewConstMetric(metricYields, prometheus.CounterValue, float64(yields))
	ch <- prometheus.MustNewConstMetric(metricYieldSeconds, prometheus.CounterValue, waited.Seconds())
	ch <- prometheus.MustNewConstMetric(metricYieldBound, prometheus.GaugeValue, c.gate.MaxLag().Seconds())
}
