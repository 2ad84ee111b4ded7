package nftables

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/netlab"
	"github.com/stockade-ids/stockade/pipeline"
)

// TestEnforcement is the definition of done: from the attacker
// namespace, a TCP connect and a ping succeed before the decision, fail
// after it, and succeed again after the ban runs out in the kernel and
// after an unban. Each case has a lab of its own, so they run in parallel.
func TestEnforcement(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target string
		dst    string
	}{
		{"IPv4 address", "10.200.0.1", "10.200.0.2"},
		{"IPv6 address", "fd00:200::1", "fd00:200::2"},
		{"IPv4 range", "10.200.0.0/28", "10.200.0.2"},
		{"IPv6 range", "fd00:200::/120", "fd00:200::2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := netlab.NewLab(t, 1)
			s := newSink(t, l.Hosts[0], Config{})
			dst := netip.MustParseAddr(tc.dst)
			l.Expect(t, dst, true, 3*time.Second, "before the ban")

			write(t, s, banFor(tc.target, 2*time.Second))
			banned := time.Now()
			l.Expect(t, dst, false, 0, "right after a 2 s ban")
			l.Expect(t, dst, true, 4*time.Second, "after the ban ran out")
			if d := time.Since(banned); d < 1500*time.Millisecond {
				t.Errorf("reachable again %v after a 2 s ban", d)
			}

			write(t, s, banFor(tc.target, time.Hour))
			l.Expect(t, dst, false, 0, "after a 1 h ban")
			write(t, s, unban(tc.target))
			l.Expect(t, dst, true, 3*time.Second, "after the unban")
		})
	}
}

// TestRestartKeepsBans: bans stay in force while stockade is stopped, and a
// new sink reconciled with the ledger keeps them; the drop counters
// survive the restart.
func TestRestartKeepsBans(t *testing.T) {
	l := netlab.NewLab(t, 1)
	s := newSink(t, l.Hosts[0], Config{})
	v4, v6 := netip.MustParseAddr("10.200.0.2"), netip.MustParseAddr("fd00:200::2")
	l.Expect(t, v4, true, 3*time.Second, "IPv4 before the ban")
	l.Expect(t, v6, true, 3*time.Second, "IPv6 before the ban")
	write(t, s, banFor("10.200.0.1", time.Hour), banFor("fd00:200::1", time.Hour))
	l.Expect(t, v4, false, 0, "IPv4 after the ban")
	l.Expect(t, v6, false, 0, "IPv6 after the ban")
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	l.Expect(t, v4, false, 0, "IPv4 while stockade is stopped")

	s2 := newSink(t, l.Hosts[0], Config{})
	now := time.Now()
	active := []pipeline.ActiveBan{
		{Target: pfx("10.200.0.1"), Until: now.Add(time.Hour), Rule: "test"},
		{Target: pfx("fd00:200::1"), Until: now.Add(time.Hour), Rule: "test"},
	}
	if err := s2.Reconcile(t.Context(), active, now); err != nil {
		t.Fatal(err)
	}
	l.Expect(t, v4, false, 0, "IPv4 after the restart")
	l.Expect(t, v6, false, 0, "IPv6 after the restart")

	c, err := s2.Counters(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Every blocked probe above dropped at least a SYN and an echo request.
	if c.IPv4.Packets < 2 || c.IPv6.Packets < 2 || c.IPv4.Bytes == 0 || c.IPv6.Bytes == 0 {
		t.Errorf("counters %+v: drops not counted", c)
	}
	write(t, s2, unban("10.200.0.1"), unban("fd00:200::1"))
	l.Expect(t, v4, true, 3*time.Second, "IPv4 after the unban")
	l.Expect(t, v6, true, 3*time.Second, "IPv6 after the unban")
}
