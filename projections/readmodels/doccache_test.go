package readmodels

import (
	"strconv"
	"testing"
)

func TestDocCacheKeepsTheRecentHalfAcrossATurnover(t *testing.T) {
	c := newDocCache[int](10)
	for i := range 100 {
		c.put(strconv.Itoa(i), cached[int]{doc: i, exists: true})
		if c.len() > 10 {
			t.Fatalf("after %d puts the cache holds %d entries, bound 10", i+1, c.len())
		}
		// Right after every turnover too, the last five are there.
		for j := max(i-4, 0); j <= i; j++ {
			if _, ok := c.young[strconv.Itoa(j)]; !ok {
				if _, ok := c.old[strconv.Itoa(j)]; !ok {
					t.Fatalf("after %d puts entry %d, among the 5 most recent, is gone", i+1, j)
				}
			}
		}
	}
	// The five most recent always survive; older than ten never do.
	for i := 95; i < 100; i++ {
		if e, ok := c.get(strconv.Itoa(i)); !ok || e.doc != i {
			t.Errorf("entry %d (among the 5 most recent) = %v, %v; want it kept", i, e, ok)
		}
	}
	for i := range 90 {
		if _, ok := c.get(strconv.Itoa(i)); ok {
			t.Errorf("entry %d, 10 or more puts old, is still cached", i)
		}
	}
}

func TestDocCacheHitMovesAnEntryToTheYoungGeneration(t *testing.T) {
	c := newDocCache[int](4) // generations of 2
	c.put("a", cached[int]{doc: 1, exists: true})
	c.put("b", cached[int]{doc: 2})
	c.put("c", cached[int]{doc: 3}) // a, b turn old
	if _, ok := c.get("a"); !ok {
		t.Fatal("a dropped after one turnover")
	}
	// a went back to the young generation (with c); the next turnover
	// drops b but keeps a.
	c.put("d", cached[int]{doc: 4})
	if _, ok := c.get("b"); ok {
		t.Error("b, never used again, survived two turnovers")
	}
	if e, ok := c.get("a"); !ok || e.doc != 1 || !e.exists {
		t.Errorf("a = %v, %v after being used; want it kept as stored", e, ok)
	}
	if e, ok := c.get("b"); ok {
		t.Errorf("b = %v", e)
	}
	c.forget("a")
	if _, ok := c.get("a"); ok {
		t.Error("a is cached after forget")
	}
}

func TestDocCacheOfBoundZeroRemembersNothing(t *testing.T) {
	c := newDocCache[int](0)
	c.put("a", cached[int]{doc: 1, exists: true})
	if _, ok := c.get("a"); ok || c.len() != 0 {
		t.Errorf("a bound of 0 cached %d entries", c.len())
	}
}
