package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/domain"
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

// limiter is a set of token buckets, one per key, in memory. It holds at
// most maxKeys buckets: when full, buckets that have refilled completely
// (indistinguishable from new ones) are dropped, then the least recently
// used one. Limits are per process: with several replicas each enforces
// its own.
type limiter struct {
	rate    Rate
	maxKeys int

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(r Rate, maxKeys int) *limiter {
	return &limiter{rate: r, maxKeys: maxKeys, buckets: map[string]*bucket{}}
}

func (l *limiter) perToken() time.Duration { return l.rate.Per / time.Duration(l.rate.Events) }

func (l *limiter) refill(b *bucket, now time.Time) {
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(float64(l.rate.Events), b.tokens+float64(elapsed)/float64(l.perToken()))
		b.last = now
	}
}

// take removes n tokens from key's bucket. When there are not enough it
// takes nothing and returns how long until there will be (the whole period
// when n exceeds the bucket).
func (l *limiter) take(key string, n int, now time.Time) (ok bool, retryAfter time.Duration) {
	if l.rate.Unlimited() || n <= 0 {
		return true, 0
	}
	if n > l.rate.Events {
		return false, l.rate.Per
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, found := l.buckets[key]
	if !found {
		l.makeRoom(now)
		b = &bucket{tokens: float64(l.rate.Events), last: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	if b.tokens < float64(n) {
		missing := float64(n) - b.tokens
		return false, time.Duration(missing * float64(l.perToken()))
	}
	b.tokens -= float64(n)
	return true, 0
}

// give returns n tokens taken for work that did not happen.
func (l *limiter) give(key string, n int, now time.Time) {
	if l.rate.Unlimited() || n <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.buckets[key]; ok {
		l.refill(b, now)
		b.tokens = min(float64(l.rate.Events), b.tokens+float64(n))
	}
}

func (l *limiter) makeRoom(now time.Time) {
	if len(l.buckets) < l.maxKeys {
		return
	}
	var oldestKey string
	var oldest time.Time
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= float64(l.rate.Events) {
			delete(l.buckets, k)
			continue
		}
		if oldestKey == "" || b.last.Before(oldest) {
			oldestKey, oldest = k, b.last
		}
	}
	if len(l.buckets) >= l.maxKeys {
		delete(l.buckets, oldestKey)
	}
}

func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

func rateLimited(retryAfter time.Duration, what string) error {
	return &apiError{Status: http.StatusTooManyRequests, Code: CodeRateLimited, RetryAfter: max(retryAfter, time.Second),
		Detail: "too many " + what + "; wait for the time in the Retry-After header, then try again"}
}

// limitClient is middleware: the route group's budget per client address.
func (a *API) limitClient(group string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if ok, wait := a.perClient.take(group+"\x00"+c.ClientIP(), 1, a.clock()); !ok {
			a.fail(c, rateLimited(wait, "requests from your address"))
		}
	}
}

// limitSubject spends one request of the group's budget for an email
// address or a token. Tokens are hashed so the limiter's memory holds none.
func (a *API) limitSubject(group, subject string) error {
	if ok, wait := a.perSubject.take(group+"\x00"+subject, 1, a.clock()); !ok {
		return rateLimited(wait, "attempts for this address or link")
	}
	return nil
}

func tokenSubject(token string) string { return "t:" + digest(token) }

// emailSubject keys an address by its normalized form, so that case and
// spacing do not buy new attempts; hashed to bound the key's size.
func emailSubject(raw string) string {
	key := strings.ToLower(strings.TrimSpace(raw))
	if email, err := domain.ParseEmail(raw); err == nil {
		key = email.Normalized()
	}
	return "e:" + digest(key)
}

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}
