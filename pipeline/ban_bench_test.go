package pipeline

import (
	"testing"
	"time"
)

// BenchmarkEngineBan: every line bans (threshold 1, as an alert rule or
// a flood of scanners makes), over 100,000 addresses whose one-second
// bans run out and come back: the ledger's path at its busiest, with what
// a ban records for the inventory and the history.
func BenchmarkEngineBan(b *testing.B) {
	e := NewEngine(addrMatcher{&Policy{Name: "r", Threshold: 1, Ban: time.Second, Evidence: 1}}, Config{})
	ev := &Event{Time: t0, Line: "a line of some length, as logs have them, from 203.0.113.10"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ev.Addr = benchAddr(i % 100_000)
		ev.Time = t0.Add(time.Duration(i) * 20 * time.Microsecond)
		e.Process(ev)
		i++
	}
}
