package guard

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/netlab"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func TestProtectsAndOverlaps(t *testing.T) {
	g := New()
	g.Set("allow", []netip.Prefix{pfx("192.0.2.0/24"), pfx("2001:db8:7::20/128"), pfx("::ffff:198.51.100.9/128")})
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"192.0.2.77", true}, {"2001:db8:7::20", true}, {"198.51.100.9", true}, {"::ffff:192.0.2.1", true},
		{"203.0.113.1", false}, {"2001:db8:7::21", false},
		{"fe80::1%eth0", true}, {"169.254.1.1", true}, {"255.255.255.255", true}, {"224.0.0.251", true},
		{"ff02::1", true}, {"64:ff9b::c000:201", true}, {"127.0.0.2", true}, {"::", true}, {"0.0.0.0", true},
	} {
		if got := g.Protects(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("Protects(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
	for _, tc := range []struct {
		p    string
		want bool
	}{
		{"192.0.0.0/16", true}, {"2001:db8:7::/64", true}, {"2001:db8:8::/64", false}, {"64:ff9b::/64", true},
		{"203.0.113.0/24", false}, {"0.0.0.0/0", true},
	} {
		if got := g.Overlaps(pfx(tc.p)); got != tc.want {
			t.Errorf("Overlaps(%s) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := g.Narrow(pfx("2001:db8:7::/64"), pfx("2001:db8:7::1/128")); got != pfx("2001:db8:7::1/128") {
		t.Errorf("Narrow over an allowlisted host: %s", got)
	}
	if got := g.Narrow(pfx("2001:db8:8::/64"), pfx("2001:db8:8::1/128")); got != pfx("2001:db8:8::/64") {
		t.Errorf("Narrow over nothing protected: %s", got)
	}
	var none *Guard
	if !none.Protects(netip.MustParseAddr("ff02::1")) || none.Protects(netip.MustParseAddr("203.0.113.1")) {
		t.Error("a nil guard must protect the special ranges only")
	}
}

// Many single addresses (a fleet's peers) go in a map; ranges are still
// scanned; a change is announced, a non-change is not.
func TestManyHostsAndChanges(t *testing.T) {
	g := New()
	var hosts []netip.Prefix
	a := netip.MustParseAddr("198.51.100.1")
	for range 100 {
		hosts = append(hosts, netip.PrefixFrom(a, 32))
		a = a.Next()
	}
	ch := g.Changed()
	g.Set("peers", hosts)
	select {
	case <-ch:
	default:
		t.Fatal("no change announced")
	}
	ch = g.Changed()
	g.Set("peers", hosts)
	select {
	case <-ch:
		t.Fatal("a change announced for the same set")
	default:
	}
	g.Set("allow", []netip.Prefix{pfx("10.0.0.0/8")})
	if !g.Protects(netip.MustParseAddr("198.51.100.50")) || !g.Protects(netip.MustParseAddr("10.1.2.3")) || g.Protects(netip.MustParseAddr("198.51.100.200")) {
		t.Fatal("lookup among many hosts")
	}
	if why, ok := g.WhyPrefix(pfx("198.51.100.0/26")); !ok || why != "peers" {
		t.Fatalf("WhyPrefix = %q %v", why, ok)
	}
	g.Set("peers", nil)
	if g.Protects(netip.MustParseAddr("198.51.100.50")) {
		t.Fatal("an emptied set still protects")
	}
}

// Watch follows a namespace's addresses as they come and go.
func TestWatchFollowsAddresses(t *testing.T) {
	ns := netlab.New(t, "gw")
	ns.IP(t, "addr", "add", "203.0.113.5/32", "dev", "lo")
	g := New()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := g.Watch(ctx, WatchConfig{NetNS: int(ns.Fd)}); err != nil {
		t.Fatal(err)
	}
	if !g.Protects(netip.MustParseAddr("203.0.113.5")) {
		t.Fatalf("an address present at start is not protected: %v", g.Get(Own))
	}
	wait := func(addr string, want bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for g.Protects(netip.MustParseAddr(addr)) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s protected = %v after 5s, want %v; own: %v", addr, !want, want, g.Get(Own))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	ns.IP(t, "addr", "add", "2001:db8:9::1/64", "dev", "lo", "nodad")
	wait("2001:db8:9::1", true)
	ns.IP(t, "addr", "del", "203.0.113.5/32", "dev", "lo")
	wait("203.0.113.5", false)
}

// TestWhyAsPrefixContains: the ranges read as masks give, for any
// address, the set the first range holding it by Prefix.Contains gives,
// over both families, mapped addresses, zones and every prefix length.
func TestWhyAsPrefixContains(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 28))
	addr := func() netip.Addr {
		switch rng.IntN(4) {
		case 0:
			return netip.AddrFrom4([4]byte{byte(rng.IntN(4)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
		case 1:
			return netip.AddrFrom16(netip.AddrFrom4([4]byte{byte(rng.IntN(4)), byte(rng.IntN(256)), 7, 9}).As16()) // mapped
		default:
			var b [16]byte
			b[0], b[1] = 0x20, 0x01
			for i := 2; i < 16; i++ {
				if rng.IntN(3) == 0 {
					b[i] = byte(rng.IntN(256))
				}
			}
			a := netip.AddrFrom16(b)
			if rng.IntN(8) == 0 {
				a = a.WithZone("eth0")
			}
			return a
		}
	}
	for round := range 200 {
		g := New()
		for set := range 1 + rng.IntN(3) {
			var ps []netip.Prefix
			for range rng.IntN(30) {
				a := addr().WithZone("")
				ps = append(ps, netip.PrefixFrom(a, rng.IntN(a.BitLen()+1)))
			}
			g.Set(fmt.Sprintf("set%d", set), ps)
		}
		s := g.snap.Load()
		for range 500 {
			a := addr()
			want, wok := "", false
			if IsSpecial(a) {
				want, wok = Special, true
			} else {
				u := a.Unmap().WithZone("")
				for _, e := range s.ranges {
					if e.p.Contains(u) {
						want, wok = e.set, true
						break
					}
				}
				if !wok && s.hosts != nil {
					want, wok = s.hosts[u]
				}
			}
			if got, ok := g.Why(a); got != want || ok != wok {
				t.Fatalf("round %d: Why(%v) = %q %v, want %q %v (ranges %v)", round, a, got, ok, want, wok, s.ranges)
			}
		}
	}
}

// BenchmarkWhy: the question every hit asks, for an address no range
// holds (an attacker's), with a host's own and private ranges (8) and
// with a large allowlist (200 ranges, a cloud provider's).
func BenchmarkWhy(b *testing.B) {
	for _, n := range []int{8, 200} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			g := New()
			var ps []netip.Prefix
			for i := range n {
				if i%4 == 3 {
					ps = append(ps, netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i)}), 48))
				} else {
					ps = append(ps, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16))
				}
			}
			g.Set("allow", ps)
			as := []netip.Addr{netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("198.51.100.9"), netip.MustParseAddr("2001:db8:ffff::1")}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if g.Protects(as[i%len(as)]) {
					b.Fatal("protected")
				}
				i++
			}
		})
	}
}
