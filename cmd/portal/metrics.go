package main

import (
	"regexp"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/orgportal/onboarding/projections"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// mountMetrics serves Prometheus metrics at /metrics: the projections as
// this replica sees them, its Users page cache, plus the Go runtime and
// process (with go_gc_heap_live_bytes, the heap the last collection
// found live: RSS also holds the collector's headroom, up to GOGC % more,
// so the live heap is what tells a leak from a busy moment). Figures of a
// projection come from the replica that runs it; standby replicas report
// it as not active (sum or max over replicas in queries), replicas of
// role api too. more are collectors of the caller's (callMetrics).
func mountMetrics(r *gin.Engine, runner *projections.Runner, reader *readmodels.MongoReader, more ...prometheus.Collector) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		projectionCollector{runner: runner},
		usersCacheCollector{reader: reader},
	)
	reg.MustRegister(more...)
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	r.GET("/metrics", gin.WrapH(h))
}

var (
	metricPosition = prometheus.NewDesc("portal_projection_position",
		"Commit position of the last event the projection processed.", []string{"projection"}, nil)
	metricVersion = prometheus.NewDesc("portal_projection_version",
		"Collection version the projection writes and readers read.", []string{"projection"}, nil)
	metricActive = prometheus.NewDesc("portal_projection_active",
		"1 when this replica runs the projection (holds its lease), 0 on standby.", []string{"projection"}, nil)
	metricStalled = prometheus.NewDesc("portal_projection_stalled",
		"1 when the projection stopped at an event that keeps failing (see the admin API), else 0.", []string{"projection"}, nil)
	metricLagEvents = prometheus.NewDesc("portal_projection_lag_events",
		"Domain events written but not yet processed (counted up to 10000).", []string{"projection"}, nil)
	metricLagSeconds = prometheus.NewDesc("portal_projection_lag_seconds",
		"Age of the oldest domain event not yet processed; 0 when caught up.", []string{"projection"}, nil)
	metricApplied = prometheus.NewDesc("portal_projection_events_applied_total",
		"Events that changed the read model, since this process started.", []string{"projection"}, nil)
	metricFailures = prometheus.NewDesc("portal_projection_failures_total",
		"Failed attempts at an event (decode or apply), since this process started.", []string{"projection"}, nil)
	metricRebuildRunning = prometheus.NewDesc("portal_projection_rebuild_running",
		"1 while a rebuild started by this replica runs.", []string{"projection"}, nil)
	metricRebuildProgress = prometheus.NewDesc("portal_projection_rebuild_progress",
		"Share of $all the latest rebuild has read, 0 to 1.", []string{"projection"}, nil)
	metricRebuildEvents = prometheus.NewDesc("portal_projection_rebuild_events",
		"Events the latest rebuild has read.", []string{"projection"}, nil)
	metricRebuildRate = prometheus.NewDesc("portal_projection_rebuild_events_per_second",
		"Read rate of the latest rebuild.", []string{"projection"}, nil)
)

// projectionCollector reads the runner's statuses at each scrape.
type projectionCollector struct{ runner *projections.Runner }

func (c projectionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{metricPosition, metricVersion, metricActive, metricStalled, metricLagEvents, metricLagSeconds,
		metricApplied, metricFailures, metricRebuildRunning, metricRebuildProgress, metricRebuildEvents, metricRebuildRate} {
		ch <- d
	}
}

func (c projectionCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, name string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, name)
	}
	for _, st := range c.runner.Statuses() {
		gauge(metricPosition, float64(st.Position), st.Name)
		gauge(metricVersion, float64(st.Version), st.Name)
		gauge(metricActive, boolValue(st.State != projections.StateStandby), st.Name)
		gauge(metricStalled, boolValue(st.State == projections.StateStalled), st.Name)
		gauge(metricLagEvents, float64(st.LagEvents), st.Name)
		gauge(metricLagSeconds, st.LagSeconds, st.Name)
		ch <- prometheus.MustNewConstMetric(metricApplied, prometheus.CounterValue, float64(st.EventsApplied), st.Name)
		ch <- prometheus.MustNewConstMetric(metricFailures, prometheus.CounterValue, float64(st.Failures), st.Name)
		running := st.Rebuild != nil && st.Rebuild.State == projections.RebuildRunning
		gauge(metricRebuildRunning, boolValue(running), st.Name)
		if rb := st.Rebuild; rb != nil {
			gauge(metricRebuildProgress, rb.Fraction(), st.Name)
			gauge(metricRebuildEvents, float64(rb.Events), st.Name)
			gauge(metricRebuildRate, rb.Rate, st.Name)
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

var (
	metricCacheRows = prometheus.NewDesc("portal_users_cache_rows",
		"Rows the Users page cache of this replica holds, across organizations.", nil, nil)
	metricCacheBytes = prometheus.NewDesc("portal_users_cache_bytes",
		"Estimated bytes of Go heap the rows of the Users page cache of this replica hold (documents, their strings and times, and the cache's pointers to them).", nil, nil)
	metricCacheRefreshes = prometheus.NewDesc("portal_users_cache_refreshes_total",
		"Refreshes of a cached organization: pushed by the live projection of this replica (no read), patched (the changed rows read), reloaded (all rows read).",
		[]string{"kind"}, nil)
	metricCacheStampReads = prometheus.NewDesc("portal_users_cache_stamp_reads_total",
		"Users page reads that read their organization's stamp from the database (the others used a copy the live projection keeps current).", nil, nil)
)

// usersCacheCollector reads the reader's Users page cache figures at each
// scrape: mostly pushed and few stamp reads is the healthy state of a
// replica that runs the users projection; patches and reloads are what
// the other replicas do.
type usersCacheCollector struct{ reader *readmodels.MongoReader }

func (c usersCacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{metricCacheRows, metricCacheBytes, metricCacheRefreshes, metricCacheStampReads} {
		ch <- d
	}
}

func (c usersCacheCollector) Collect(ch chan<- prometheus.Metric) {
	if c.reader == nil {
		return
	}
	st := c.reader.CacheStats()
	ch <- prometheus.MustNewConstMetric(metricCacheRows, prometheus.GaugeValue, float64(st.Rows))
	ch <- prometheus.MustNewConstMetric(metricCacheBytes, prometheus.GaugeValue, float64(st.Bytes))
	for kind, n := range map[string]int64{"pushed": st.Pushed, "patched": st.Patched, "reloaded": st.Reloaded} {
		ch <- prometheus.MustNewConstMetric(metricCacheRefreshes, prometheus.CounterValue, float64(n), kind)
	}
	ch <- prometheus.MustNewConstMetric(metricCacheStampReads, prometheus.CounterValue, float64(st.StampReads))
}
