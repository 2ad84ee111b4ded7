package pipeline

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkEngineAllowlist: a hit judged against an allowlist of the size
// a host has (loopback, a few ranges, a dozen own addresses), none of
// which holds the target: the cost the allowlist adds to every hit.
func BenchmarkEngineAllowlist(b *testing.B) {
	allow := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("2001:db8:1::/48")}
	for i := range 12 {
		allow = append(allow, netip.MustParsePrefix(fmt.Sprintf("198.51.100.%d/32", i+1)))
	}
	e := NewEngine(addrMatcher{&Policy{Name: "r", Threshold: 5, Window: 10 * time.Second, Ban: time.Hour, Evidence: 3}}, Config{Allow: allow})
	ev := &Event{Time: t0, Line: "a line of some length, as logs have them, from 203.0.113.10"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ev.Addr = benchAddr(i * 7919 % 10_000)
		ev.Time = t0.Add(time.Duration(i) * time.Millisecond)
		e.Process(ev)
		i++
	}
}
