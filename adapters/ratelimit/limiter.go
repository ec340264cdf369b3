package ratelimit

import (
	"sync"
	"time"
)

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
