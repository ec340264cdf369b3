package bench

import (
	"math"
	"slices"
	"time"
)

// Latency summarizes one load: successful operations, their latency
// percentiles (nearest rank) and the throughput over the load's wall time.
type Latency struct {
	Count    int     `json:"count"`
	Errors   int     `json:"errors"`
	ElapsedS float64 `json:"elapsedS"`
	PerS     float64 `json:"throughputPerS"`
	P50Ms    float64 `json:"p50Ms"`
	P95Ms    float64 `json:"p95Ms"`
	P99Ms    float64 `json:"p99Ms"`
	MaxMs    float64 `json:"maxMs"`
	MeanMs   float64 `json:"meanMs"`
	// Missed counts ticks of an open loop that found every client busy
	// and were not sent: the portal fell behind the asked rate.
	Missed int `json:"missed,omitempty"`
	// ErrorKinds counts failures by kind ("409 already_member",
	// "transport"); a few kinds at most.
	ErrorKinds map[string]int `json:"errorKinds,omitempty"`
}

// summarize sorts lat in place and returns its summary over elapsed.
func summarize(lat []time.Duration, elapsed time.Duration) Latency {
	slices.Sort(lat)
	l := Latency{Count: len(lat), ElapsedS: elapsed.Seconds()}
	if elapsed > 0 {
		l.PerS = float64(len(lat)) / elapsed.Seconds()
	}
	if len(lat) == 0 {
		return l
	}
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	l.P50Ms = ms(percentile(lat, 50))
	l.P95Ms = ms(percentile(lat, 95))
	l.P99Ms = ms(percentile(lat, 99))
	l.MaxMs = ms(lat[len(lat)-1])
	l.MeanMs = ms(sum / time.Duration(len(lat)))
	return l
}

// percentile is the nearest-rank percentile p of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p*float64(len(sorted))/100 - 1e-9)) // the epsilon keeps 0.99*100 at rank 99
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
