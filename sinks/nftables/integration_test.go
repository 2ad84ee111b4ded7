package nftables

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// lab is two namespaces joined by a veth pair: "attacker" and "host",
// with addresses that exist only inside them. The host runs a TCP listener
// and the sink.
type lab struct {
	attacker, host *testNS
	port           uint16
	seq            int
}

func newLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{attacker: newNS(t, "att"), host: newNS(t, "host")}
	l.attacker.ip(t, "link", "add", "va", "type", "veth", "peer", "name", "vh", "netns", l.host.name)
	for _, side := range []struct {
		ns     *testNS
		dev    string
		v4, v6 string
	}{{l.attacker, "va", "10.200.0.1/24", "fd00:200::1/64"}, {l.host, "vh", "10.200.0.2/24", "fd00:200::2/64"}} {
		side.ns.ip(t, "addr", "add", side.v4, "dev", side.dev)
		// nodad: usable at once instead of after duplicate detection.
		side.ns.ip(t, "addr", "add", side.v6, "dev", side.dev, "nodad")
		side.ns.ip(t, "link", "set", side.dev, "up")
	}
	var ln net.Listener
	if err := l.host.do(func() (err error) {
		ln, err = net.Listen("tcp", ":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	l.port = uint16(ln.Addr().(*net.TCPAddr).Port)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	return l
}

// reach reports how a TCP connect and a ping from the attacker to dst fare.
func (l *lab) reach(dst netip.Addr) (tcp, ping error) {
	l.seq++
	return l.attacker.dial(netip.AddrPortFrom(dst, l.port)), l.attacker.ping(dst, l.seq)
}

// expect polls until both probes reach dst (open) or both fail, for at
// most limit; each probe is bounded at 300 ms.
func (l *lab) expect(t *testing.T, dst netip.Addr, open bool, limit time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		tcp, ping := l.reach(dst)
		if open && tcp == nil && ping == nil || !open && tcp != nil && ping != nil {
			if !open && !isTimeout(tcp) {
				t.Errorf("%s: connect failed with %v, want a timeout (a dropped SYN)", what, tcp)
			}
			return
		}
		if time.Now().After(deadline) {
			state := "reachable"
			if !open {
				state = "blocked"
			}
			t.Fatalf("%s: want %s to be %s within %v: connect: %v, ping: %v", what, dst, state, limit, tcp, ping)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

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
			l := newLab(t)
			s := newSink(t, l.host, Config{})
			dst := netip.MustParseAddr(tc.dst)
			l.expect(t, dst, true, 3*time.Second, "before the ban")

			write(t, s, banFor(tc.target, 2*time.Second))
			banned := time.Now()
			l.expect(t, dst, false, 0, "right after a 2 s ban")
			l.expect(t, dst, true, 4*time.Second, "after the ban ran out")
			if d := time.Since(banned); d < 1500*time.Millisecond {
				t.Errorf("reachable again %v after a 2 s ban", d)
			}

			write(t, s, banFor(tc.target, time.Hour))
			l.expect(t, dst, false, 0, "after a 1 h ban")
			write(t, s, unban(tc.target))
			l.expect(t, dst, true, 3*time.Second, "after the unban")
		})
	}
}

// TestRestartKeepsBans: bans stay in force while stockade is stopped, and a
// new sink reconciled with the ledger keeps them; the drop counters
// survive the restart.
func TestRestartKeepsBans(t *testing.T) {
	l := newLab(t)
	s := newSink(t, l.host, Config{})
	v4, v6 := netip.MustParseAddr("10.200.0.2"), netip.MustParseAddr("fd00:200::2")
	l.expect(t, v4, true, 3*time.Second, "IPv4 before the ban")
	l.expect(t, v6, true, 3*time.Second, "IPv6 before the ban")
	write(t, s, banFor("10.200.0.1", time.Hour), banFor("fd00:200::1", time.Hour))
	l.expect(t, v4, false, 0, "IPv4 after the ban")
	l.expect(t, v6, false, 0, "IPv6 after the ban")
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	l.expect(t, v4, false, 0, "IPv4 while stockade is stopped")

	s2 := newSink(t, l.host, Config{})
	now := time.Now()
	active := []pipeline.ActiveBan{
		{Target: pfx("10.200.0.1"), Until: now.Add(time.Hour), Rule: "test"},
		{Target: pfx("fd00:200::1"), Until: now.Add(time.Hour), Rule: "test"},
	}
	if err := s2.Reconcile(t.Context(), active, now); err != nil {
		t.Fatal(err)
	}
	l.expect(t, v4, false, 0, "IPv4 after the restart")
	l.expect(t, v6, false, 0, "IPv6 after the restart")

	c, err := s2.Counters(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Every blocked probe above dropped at least a SYN and an echo request.
	if c.IPv4.Packets < 2 || c.IPv6.Packets < 2 || c.IPv4.Bytes == 0 || c.IPv6.Bytes == 0 {
		t.Errorf("counters %+v: drops not counted", c)
	}
	write(t, s2, unban("10.200.0.1"), unban("fd00:200::1"))
	l.expect(t, v4, true, 3*time.Second, "IPv4 after the unban")
	l.expect(t, v6, true, 3*time.Second, "IPv6 after the unban")
}
