package nftables

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/netlab"
	"github.com/stockade-ids/stockade/pipeline"
)

// BenchmarkDecisionToKernel measures one ban decision until the kernel
// holds its element (Write returns once the kernel acknowledged the batch)
// with 10,000 bans already in force.
func BenchmarkDecisionToKernel(b *testing.B) {
	ns := netlab.New(b, "lat")
	s := newSink(b, ns, Config{})
	ctx := context.Background()
	pre := make([]pipeline.Decision, 0, 10000)
	for i := range 10000 {
		pre = append(pre, banFor(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), time.Hour))
	}
	if err := s.Write(ctx, pre); err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	base := netip.MustParseAddr("100.64.0.0").As4()
	b.ReportAllocs()
	for b.Loop() {
		n := len(lat)
		a := netip.AddrFrom4([4]byte{base[0], base[1] + byte(n>>16), byte(n >> 8), byte(n)})
		d := banFor(a.String(), time.Hour)
		start := time.Now()
		if err := s.Write(ctx, []pipeline.Decision{d}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	if got, want := len(banned(b, ns)), 10000+len(lat); got != want {
		b.Fatalf("%d elements in the kernel, want %d", got, want)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkStart100k measures loading 100,000 active bans (90,000 IPv4,
// 10,000 IPv6, a few hundred of them ranges) at start: into empty sets
// (a boot), and after a restart, when the kernel holds them already and
// Connect reads them back before Reconcile.
func BenchmarkStart100k(b *testing.B) {
	ns := netlab.New(b, "load")
	ctx := context.Background()
	now := time.Now()
	active := activeBans(100000, now)
	start := func(b *testing.B) {
		s, err := New(Config{NetNS: int(ns.Fd)}, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Connect(ctx); err != nil {
			b.Fatal(err)
		}
		// The ledger's clock is the wall clock in live mode.
		if err := s.Reconcile(ctx, active, time.Now()); err != nil {
			b.Fatal(err)
		}
		_ = s.Close(ctx)
	}
	b.Run("boot", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			c := nsConn(b, ns)
			c.FlushRuleset()
			if err := c.Flush(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			start(b)
		}
	})
	b.Run("restart", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			start(b)
		}
	})
	if got := len(banned(b, ns)); got < 90000 {
		b.Fatalf("%d elements in the kernel after loading 100,000 bans", got)
	}
}

func activeBans(n int, now time.Time) []pipeline.ActiveBan {
	rng := rand.New(rand.NewPCG(1, 2))
	active := make([]pipeline.ActiveBan, 0, n)
	seen := map[netip.Prefix]bool{}
	for len(active) < n {
		var p netip.Prefix
		switch i := len(active); {
		case i%10 == 9:
			var a [16]byte
			a[0], a[1] = 0x20, 0x01
			for j := 2; j < 16; j++ {
				a[j] = byte(rng.Uint32())
			}
			p = netip.PrefixFrom(netip.AddrFrom16(a), 128)
		case i%300 == 0:
			p, _ = netip.AddrFrom4([4]byte{byte(11 + rng.IntN(200)), byte(rng.Uint32()), byte(rng.Uint32()), 0}).Prefix(24)
		default:
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(11 + rng.IntN(200)), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())}), 32)
		}
		if seen[p] {
			continue
		}
		seen[p] = true
		until := now.Add(time.Hour + time.Duration(rng.IntN(24*3600))*time.Second)
		active = append(active, pipeline.ActiveBan{Target: p, Until: until, Rule: "bench"})
	}
	return active
}

// BenchmarkWriteBurst measures a burst of bans, 512 new addresses a
// write, with the change notifications followed (as in production) and
// without: what following costs a flood.
func BenchmarkWriteBurst(b *testing.B) {
	for _, tc := range []struct {
		name    string
		noWatch bool
	}{{"watched", false}, {"unwatched", true}} {
		b.Run(tc.name, func(b *testing.B) {
			ns := netlab.New(b, "burst")
			s := newSink(b, ns, Config{NoWatch: tc.noWatch})
			ctx := context.Background()
			n := 0
			ds := make([]pipeline.Decision, 512)
			b.ReportAllocs()
			for b.Loop() {
				for i := range ds {
					ds[i] = banFor(fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255), time.Hour)
					n++
				}
				if err := s.Write(ctx, ds); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/ban")
		})
	}
}
