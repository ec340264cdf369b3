package ratelimit

import (
	"fmt"
	"testing"
	"time"
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

// Budgets are kept per group, and an address's spelling buys nothing.
func TestLimitsKeys(t *testing.T) {
	now := time.Unix(0, 0)
	l := New(Config{Client: Rate{Events: 1, Per: time.Hour}, Subject: Rate{Events: 1, Per: time.Hour}, InvitationsPerDay: 2})
	if ok, _ := l.Client(GroupSession, "192.0.2.1", now); !ok {
		t.Fatal("first request refused")
	}
	if ok, _ := l.Client(GroupSession, "192.0.2.1", now); ok {
		t.Error("second request of the same group allowed")
	}
	if ok, _ := l.Client(GroupJoin, "192.0.2.1", now); !ok {
		t.Error("another group's budget was spent")
	}
	if ok, _ := l.Subject(GroupSession, EmailSubject("Ann@Example.org"), now); !ok {
		t.Fatal("first attempt refused")
	}
	if ok, _ := l.Subject(GroupSession, EmailSubject(" ann@example.ORG "), now); ok {
		t.Error("another spelling of the address bought an attempt")
	}
	if EmailSubject("ann@example.org") == TokenSubject("ann@example.org") {
		t.Error("an address and a token share a key")
	}
	if ok, _ := l.TakeInvitations("org-1", 3, now); ok {
		t.Error("more invitations than the day holds")
	}
	if ok, _ := l.TakeInvitations("org-1", 2, now); !ok {
		t.Fatal("the day's invitations refused")
	}
	l.GiveInvitations("org-1", 1, now)
	if ok, _ := l.TakeInvitations("org-1", 1, now); !ok {
		t.Error("a returned invitation is not there")
	}
	if ok, _ := l.TakeInvitations("org-2", 2, now); !ok {
		t.Error("another organization's budget was spent")
	}
}

// An invitation costs one per valid, distinct address.
func TestInvitationCost(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want int
	}{
		{[]string{"ann@example.org, bob@example.org"}, 2},
		{[]string{"ann@example.org", "ANN@example.org; not-an-address"}, 1},
		{[]string{"  "}, 0},
	} {
		if got := InvitationCost(c.in...); got != c.want {
			t.Errorf("InvitationCost(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}
