package bench

import (
	"context"

	dto "github.com/prometheus/client_model/go"
)

// The portal's timings of its own work (README, "Metrics"): requests from
// arrival to answer, and its calls to the event store as its client sees
// them.
const (
	metricHTTPDuration       = "portal_http_request_duration_seconds"
	metricEventStoreDuration = "portal_eventstore_call_duration_seconds"
)

// callTotals are the counts and summed seconds of the portal's timed work,
// by kind: "request" (every route but /metrics), "read" and "append" (the
// event store calls that succeeded).
type callTotals map[string]struct{ count, seconds float64 }

// callTimes scrapes the portal's timings; ok is false when it does not
// export them (a portal older than them) or cannot be scraped.
func (r *runner) callTimes(ctx context.Context) (t callTotals, ok bool) {
	families, err := r.api.metrics(ctx)
	if err != nil || families[metricHTTPDuration] == nil || families[metricEventStoreDuration] == nil {
		return nil, false
	}
	t = callTotals{}
	add := func(kind string, h *dto.Histogram) {
		v := t[kind]
		v.count += float64(h.GetSampleCount())
		v.seconds += h.GetSampleSum()
		t[kind] = v
	}
	for _, m := range families[metricHTTPDuration].GetMetric() {
		if label(m, "route") != "/metrics" {
			add("request", m.GetHistogram())
		}
	}
	for _, m := range families[metricEventStoreDuration].GetMetric() {
		if label(m, "outcome") == "ok" {
			add(label(m, "call"), m.GetHistogram())
		}
	}
	return t, true
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// figureCallTimes adds to s what the portal's timings say of the load
// between before and after, for each command (sent of them): the mean
// time the portal took to answer a request (serverMs, against the
// client's latency), and its event store calls: how many a command made
// and their mean time (eventStoreReadsPerCommand, eventStoreReadMs, the
// same for appends). In one process they include the mail reactor's
// calls; a replica of role api makes only the commands'.
func figureCallTimes(s *Stage, before, after callTotals, sent int) {
	if sent == 0 {
		return
	}
	for _, f := range []struct{ kind, mean, perCommand string }{
		{"request", "serverMs", ""},
		{"read", "eventStoreReadMs", "eventStoreReadsPerCommand"},
		{"append", "eventStoreAppendMs", "eventStoreAppendsPerCommand"},
	} {
		n := after[f.kind].count - before[f.kind].count
		if n <= 0 {
			continue
		}
		s.figure(f.mean, (after[f.kind].seconds-before[f.kind].seconds)/n*1000)
		if f.perCommand != "" {
			s.figure(f.perCommand, n/float64(sent))
		}
	}
}
