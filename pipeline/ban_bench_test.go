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

// BenchmarkEngineAlreadyBanned: what an alert flood mostly is, over
// 50,000 addresses banned for an hour: a rule that bans at the first
// match hitting an address it holds (suricata-p1's lines), and a rule of
// threshold 3 whose window fires on an address it holds (suricata-p2's),
// each a ban request the ledger answers with AlreadyBanned.
func BenchmarkEngineAlreadyBanned(b *testing.B) {
	cases := []struct {
		name string
		p    *Policy
	}{
		{"threshold 1", &Policy{Name: "p1", Threshold: 1, Ban: time.Hour, Evidence: 3}},
		{"threshold 3", &Policy{Name: "p2", Threshold: 3, Window: 10 * time.Minute, Ban: time.Hour, Evidence: 3}},
	}
	const n = 50_000
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			e := NewEngine(addrMatcher{c.p}, Config{})
			ev := &Event{Time: t0, Line: "11/01/2025-00:00:00.050089  [**] [1:2024897:3] ET EXPLOIT [**] [Priority: 1] {TCP} 203.0.53.200:12600 -> 192.0.2.10:80"}
			step := func(i int) {
				// The addresses in a scattered order, as attackers come,
				// 100 µs apart: a round of them within the ban's hour.
				ev.Addr = benchAddr(i * 7919 % n)
				ev.Time = t0.Add(time.Duration(i) * 100 * time.Microsecond)
				e.Process(ev)
			}
			i := 0
			for ; i < 3*n; i++ { // every address banned
				step(i)
			}
			b.ReportAllocs()
			for b.Loop() {
				step(i)
				i++
			}
			if st := e.Stats()[0]; st.Bans != n {
				b.Fatalf("%d bans, want %d: the loop banned again", st.Bans, n)
			}
		})
	}
}
