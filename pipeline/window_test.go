package pipeline

import (
	"net/netip"
	"testing"
	"time"
)

func TestCounterSlidingWindow(t *testing.T) {
	c := NewCounter()
	p := &Policy{ID: 0, Name: "r", Threshold: 3, Window: 10 * time.Minute, Evidence: 2}
	a := netip.MustParseAddr("192.0.2.1")
	add := func(d time.Duration) bool {
		fire, _ := c.Add(p, a, "", t0.Add(d), "line")
		return fire
	}
	// 0, 6, 12 minutes: never 3 within 10 minutes.
	for _, d := range []time.Duration{0, 6 * time.Minute, 12 * time.Minute} {
		if add(d) {
			t.Fatalf("fired at %v", d)
		}
	}
	// 13 minutes: 6, 12, 13 are within 10 minutes.
	fire, ev := c.Add(p, a, "", t0.Add(13*time.Minute), "last")
	if !fire || len(ev) != 2 || ev[1] != "last" {
		t.Fatalf("fire=%v evidence=%q", fire, ev)
	}
	// The window resets after firing.
	if add(14 * time.Minute) {
		t.Fatal("fired right after reset")
	}
	if n := c.Count(p, a, "", t0.Add(14*time.Minute)); n != 1 {
		t.Fatalf("count after reset = %d", n)
	}
}

func TestCounterKeysAreSeparate(t *testing.T) {
	c := NewCounter()
	p := &Policy{ID: 0, Name: "r", Threshold: 2, Window: time.Minute}
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.2")
	c.Add(p, a, "", t0, "")
	if fire, _ := c.Add(p, b, "", t0, ""); fire {
		t.Fatal("different addresses shared a window")
	}
	c.Add(p, a, "alice", t0, "")
	if fire, _ := c.Add(p, b, "alice", t0, ""); !fire {
		t.Fatal("a key other than the address must count across addresses")
	}
}

func TestCounterSweepBoundsMemory(t *testing.T) {
	c := NewCounter()
	p := &Policy{ID: 0, Name: "r", Threshold: 5, Window: time.Minute}
	for i := range 100_000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		c.Add(p, a, "", t0.Add(time.Duration(i)*time.Second), "")
	}
	// Only the last minute's addresses (plus at most one sweep period of
	// stale ones) may remain.
	if c.Len() > 10_000 {
		t.Fatalf("%d windows live; stale ones are not swept", c.Len())
	}
}

// TestCounterMaxBoundsMemory: a flood of distinct addresses holds at most
// Max windows; the oldest go first, and the newest still count.
func TestCounterMaxBoundsMemory(t *testing.T) {
	c := NewCounter()
	c.Max = 1000
	p := &Policy{ID: 0, Name: "sshd", Threshold: 3, Window: time.Hour, Evidence: 1}
	t0 := time.Date(2025, 11, 8, 22, 0, 0, 0, time.UTC)
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{203, byte(i >> 16), byte(i >> 8), byte(i)}) }
	for i := range 100_000 {
		c.Add(p, addr(i), "", t0.Add(time.Duration(i)*time.Millisecond), "Failed password")
		if c.Len() > c.Max {
			t.Fatalf("%d windows after %d addresses, max %d", c.Len(), i+1, c.Max)
		}
	}
	if c.Overflow < 99_000 {
		t.Fatalf("overflow %d", c.Overflow)
	}
	// The most recent addresses were kept: two more failures ban one.
	last := addr(99_999)
	c.Add(p, last, "", t0.Add(100*time.Second), "Failed password")
	if fire, ev := c.Add(p, last, "", t0.Add(101*time.Second), "Failed password"); !fire || len(ev) != 1 {
		t.Fatalf("the newest address lost its window: fire %v evidence %v", fire, ev)
	}
	// The oldest were dropped.
	if n := c.Count(p, addr(0), "", t0.Add(time.Second)); n != 0 {
		t.Fatalf("the oldest address kept %d matches", n)
	}
}

// TestCounterWholeHoldsMax: bounded as a whole (the daemon's), Max
// distinct addresses all keep their window however the hash spreads them
// over the partitions; past Max the count never goes over it, and the
// newest still count.
func TestCounterWholeHoldsMax(t *testing.T) {
	c := NewCounter()
	c.Max, c.Whole = 10_000, true
	p := &Policy{ID: 0, Name: "sshd", Threshold: 3, Window: time.Hour, Evidence: 1}
	t0 := time.Date(2025, 11, 8, 22, 0, 0, 0, time.UTC)
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{203, byte(i >> 16), byte(i >> 8), byte(i)}) }
	for i := range c.Max {
		c.Add(p, addr(i), "", t0.Add(time.Duration(i)*time.Millisecond), "Failed password")
	}
	if c.Len() != c.Max || c.Overflow != 0 {
		t.Fatalf("%d distinct addresses under a bound of %d: %d windows, %d dropped", c.Max, c.Max, c.Len(), c.Overflow)
	}
	for i := c.Max; i < 3*c.Max; i++ {
		c.Add(p, addr(i), "", t0.Add(time.Duration(i)*time.Millisecond), "Failed password")
		if c.Len() > c.Max {
			t.Fatalf("%d windows after %d addresses, max %d", c.Len(), i+1, c.Max)
		}
	}
	last := addr(3*c.Max - 1)
	if fire, _ := c.Add(p, last, "", t0.Add(time.Hour/2), "Failed password"); fire {
		t.Fatal("fired at 2 of 3")
	}
	if fire, _ := c.Add(p, last, "", t0.Add(time.Hour/2+time.Second), "Failed password"); !fire {
		t.Fatal("the newest address lost its window")
	}
	if n := c.Count(p, addr(0), "", t0.Add(time.Second)); n != 0 {
		t.Fatalf("the oldest address kept %d matches", n)
	}
}
