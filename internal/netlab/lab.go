package netlab

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// Lab is an attacker namespace and several host namespaces on one link: a
// bridge in the attacker's namespace, each host joined to it by a veth
// pair of its own. The link is 10.200.0.0/24 and fd00:200::/64: the
// attacker is .1 / ::1, host i is .(2+i) / ::(2+i), so every host sees the
// attacker under one address. Each host runs a TCP listener on Port.
type Lab struct {
	Attacker *NS
	Hosts    []*NS
	Port     uint16

	mu  sync.Mutex
	seq int
}

// The attacker's addresses, as every host sees them.
var (
	AttackerV4 = netip.MustParseAddr("10.200.0.1")
	AttackerV6 = netip.MustParseAddr("fd00:200::1")
)

// HostV4 and HostV6 are host i's addresses.
func HostV4(i int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("10.200.0.%d", 2+i)) }
func HostV6(i int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("fd00:200::%x", 2+i)) }

// NewLab builds the attacker and n hosts.
func NewLab(t testing.TB, n int) *Lab {
	t.Helper()
	l := &Lab{Attacker: New(t, "att")}
	a := l.Attacker
	a.IP(t, "link", "add", "br0", "type", "bridge")
	a.IP(t, "addr", "add", AttackerV4.String()+"/24", "dev", "br0")
	// nodad: usable at once instead of after duplicate detection.
	a.IP(t, "addr", "add", AttackerV6.String()+"/64", "dev", "br0", "nodad")
	a.IP(t, "link", "set", "br0", "up")
	var port uint16
	for i := range n {
		h := New(t, fmt.Sprintf("host%d-", i))
		va := fmt.Sprintf("va%d", i)
		a.IP(t, "link", "add", va, "type", "veth", "peer", "name", "vh", "netns", h.Name)
		a.IP(t, "link", "set", va, "master", "br0")
		a.IP(t, "link", "set", va, "up")
		h.IP(t, "addr", "add", HostV4(i).String()+"/24", "dev", "vh")
		h.IP(t, "addr", "add", HostV6(i).String()+"/64", "dev", "vh", "nodad")
		h.IP(t, "link", "set", "vh", "up")
		port = listen(t, h, port)
		l.Hosts = append(l.Hosts, h)
	}
	l.Port = port
	return l
}

// listen runs a TCP server in ns that accepts and closes, on port (0: any,
// then the same one for the other hosts).
func listen(t testing.TB, ns *NS, port uint16) uint16 {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		t.Fatal(err)
	}
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
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// Reach reports how a TCP connect and a ping from the attacker to dst fare.
func (l *Lab) Reach(dst netip.Addr) (tcp, ping error) {
	l.mu.Lock()
	l.seq++
	seq := l.seq
	l.mu.Unlock()
	return l.Attacker.Dial(netip.AddrPortFrom(dst, l.Port)), l.Attacker.Ping(dst, seq)
}

// Expect polls until both probes reach dst (open) or both fail, for at
// most limit; each probe is bounded at 300 ms. A blocked connect must be a
// timeout (a dropped SYN), not a refusal.
func (l *Lab) Expect(t testing.TB, dst netip.Addr, open bool, limit time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		tcp, ping := l.Reach(dst)
		if open && tcp == nil && ping == nil || !open && tcp != nil && ping != nil {
			if !open && !IsTimeout(tcp) {
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
