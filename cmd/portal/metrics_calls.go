package main

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orgportal/onboarding/adapters/httpkit"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// latencyBuckets spans 100 µs to 6.6 s by doubling: an append on a local
// disk takes a few hundred µs, a request that waits for its read model up
// to seconds.
var latencyBuckets = prometheus.ExponentialBuckets(100e-6, 2, 17)

// callMetrics times what a replica is asked and what it asks the event
// store, for /metrics: where a slow request spends its time.
type callMetrics struct {
	http   *prometheus.HistogramVec
	events *prometheus.HistogramVec
}

func newCallMetrics() *callMetrics {
	return &callMetrics{
		http: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portal_http_request_duration_seconds",
			Help:    "Time from a request's arrival to its answer, by method, route template and status code.",
			Buckets: latencyBuckets,
		}, []string{"method", "route", "code"}),
		events: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "portal_eventstore_call_duration_seconds",
			Help: "Time of this replica's calls to the event store (the commands' and the mail reactor's) as the client sees them: " +
				"call read (a stream, or what follows a revision of it) or append; outcome ok, conflict (an append that lost an " +
				"optimistic-concurrency race) or error.",
			Buckets: latencyBuckets,
		}, []string{"call", "outcome"}),
	}
}

func (m *callMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.http, m.events}
}

// timeRequests is middleware: it observes each request once the rest of
// the chain has answered. Routes are templates and methods the standard
// ones, so that no client can add series.
func (m *callMetrics) timeRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	m.http.WithLabelValues(methodLabel(c.Request.Method), httpkit.Route(c), strconv.Itoa(c.Writer.Status())).Observe(time.Since(start).Seconds())
}

// methodLabel is method if it is one of HTTP's standard methods, else
// "other": net/http lets any token through as a method.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return method
	}
	return "other"
}

// timeCalls returns store with its calls timed.
func (m *callMetrics) timeCalls(store commands.EventStore) commands.EventStore {
	return timedStore{EventStore: store, reads: m.observer("read"), appends: m.observer("append")}
}

// outcomeObservers are a call's histograms by outcome, looked up once.
type outcomeObservers struct{ ok, conflict, failed prometheus.Observer }

func (m *callMetrics) observer(call string) outcomeObservers {
	return outcomeObservers{
		ok:       m.events.WithLabelValues(call, "ok"),
		conflict: m.events.WithLabelValues(call, "conflict"),
		failed:   m.events.WithLabelValues(call, "error"),
	}
}

func (o outcomeObservers) observe(start time.Time, err error) {
	d := time.Since(start).Seconds()
	switch {
	case err == nil:
		o.ok.Observe(d)
	case domain.CodeOf(err) == commands.CodeConcurrentChange:
		o.conflict.Observe(d)
	default:
		o.failed.Observe(d)
	}
}

type timedStore struct {
	commands.EventStore
	reads, appends outcomeObservers
}

func (s timedStore) Load(ctx context.Context, stream domain.StreamName) (commands.Loaded, error) {
	start := time.Now()
	loaded, err := s.EventStore.Load(ctx, stream)
	s.reads.observe(start, err)
	return loaded, err
}

func (s timedStore) LoadFrom(ctx context.Context, stream domain.StreamName, after commands.Revision) (commands.Loaded, error) {
	start := time.Now()
	loaded, err := s.EventStore.LoadFrom(ctx, stream, after)
	s.reads.observe(start, err)
	return loaded, err
}

func (s timedStore) Append(ctx context.Context, stream domain.StreamName, expected commands.Revision, meta commands.Metadata, events ...domain.Event) (commands.Position, error) {
	start := time.Now()
	pos, err := s.EventStore.Append(ctx, stream, expected, meta, events...)
	s.appends.observe(start, err)
	return pos, err
}
