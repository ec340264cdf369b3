package ratelimit

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rate is a number of events per period: a token bucket that holds Events
// tokens and refills them evenly over Per. The zero Rate is unlimited.
type Rate struct {
	Events int
	Per    time.Duration
}

// Unlimited reports whether the rate imposes no limit.
func (r Rate) Unlimited() bool { return r.Events <= 0 || r.Per <= 0 }

func (r Rate) String() string {
	if r.Unlimited() {
		return "off"
	}
	return strconv.Itoa(r.Events) + "/" + r.Per.String()
}

// ParseRate reads "N/DURATION" (e.g. "30/1m", "10/15m", "1000/24h"), or
// "off" for no limit.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "off") {
		return Rate{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	events, err := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err != nil || events < 1 {
		return Rate{}, fmt.Errorf("want N/DURATION such as 30/1m, or off")
	}
	d, err := time.ParseDuration(strings.TrimSpace(per))
	if err != nil || d <= 0 {
		return Rate{}, fmt.Errorf("want N/DURATION such as 30/1m (duration: %q), or off", per)
	}
	return Rate{Events: events, Per: d}, nil
}
