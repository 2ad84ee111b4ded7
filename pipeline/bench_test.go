package pipeline

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

func benchAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{203, byte(i >> 16), byte(i >> 8), byte(i)})
}

// BenchmarkCounterAdd: one match counted in a window among 100,000 live
// ones (sshd's threshold and evidence): the map lookup, the record and the
// evidence ring, with no allocation until a window fires.
func BenchmarkCounterAdd(b *testing.B) {
	const n = 100_000
	c := NewCounter()
	p := &Policy{ID: 0, Name: "sshd", Threshold: 5, Window: time.Hour, Evidence: 3}
	line := "Nov  8 22:01:00 web1 sshd[4198]: Failed password for root from 203.0.113.10 port 41000 ssh2"
	for i := range n {
		c.Add(p, benchAddr(i), "", t0, line)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// Three matches per address and round (below the threshold), the
		// addresses in a scattered order, as attackers come.
		c.Add(p, benchAddr(i*7919%n), "", t0.Add(time.Duration(i/n)*time.Millisecond), line)
		if i++; i%(3*n) == 0 {
			b.StopTimer()
			c = NewCounter()
			for j := range n {
				c.Add(p, benchAddr(j), "", t0, line)
			}
			b.StartTimer()
		}
	}
}

// BenchmarkEngineProcess: an event through the engine when no rule
// matches it (most lines), and when one does but bans nobody (sshd's
// threshold, never reached within its window) among 10,000 addresses.
func BenchmarkEngineProcess(b *testing.B) {
	for _, tc := range []struct {
		name string
		addr bool
	}{{"miss", false}, {"hit", true}} {
		b.Run(tc.name, func(b *testing.B) {
			e := NewEngine(addrMatcher{&Policy{Name: "r", Threshold: 5, Window: 10 * time.Second, Ban: time.Hour, Evidence: 3}}, Config{})
			ev := &Event{Time: t0, Line: "a line of some length, as logs have them, from 203.0.113.10"}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if tc.addr {
					ev.Addr = benchAddr(i * 7919 % 10_000)
				}
				ev.Time = t0.Add(time.Duration(i) * time.Millisecond)
				e.Process(ev)
				i++
			}
		})
	}
}

// BenchmarkDedup: an alert's fingerprint checked and stored among a
// million.
func BenchmarkDedup(b *testing.B) {
	e := NewEngine(addrMatcher{&Policy{Name: "r", Threshold: 1, Ban: time.Hour}}, Config{})
	const n = 1_000_000
	fp := func(i int) uint64 { return uint64(i)*0x9e3779b97f4a7c15 | 1 }
	for i := range n {
		e.seen(fp(i), t0)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		e.seen(fp(n+i), t0.Add(time.Millisecond))
		i++
	}
}

// BenchmarkDedupTimeOrder: alerts in time order, 1,000 a second, each
// checked and stored among the 1-2 million of the last 1,000 seconds (the
// window of this engine), their fingerprints grouped as Suricata's are
// (the offset in the quarter hour in the top bits): what a fast.log's
// replay asks of the table, sweeps included.
func BenchmarkDedupTimeOrder(b *testing.B) {
	e := NewEngine(addrMatcher{&Policy{Name: "r", Threshold: 1, Ban: time.Hour}}, Config{DedupWindow: 1000 * time.Second})
	const rate = 1000 // alerts per second
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second / rate) }
	fp := func(i int) uint64 {
		usec := uint64(at(i).UnixMicro()) % 900e6
		return usec>>18<<52 | (uint64(i)*0x9e3779b97f4a7c15)>>12 | 1
	}
	const n = 3_000_000 // past the first sweeps
	for i := range n {
		e.seen(fp(i), at(i))
	}
	b.ReportAllocs()
	i := n
	for b.Loop() {
		e.seen(fp(i), at(i))
		i++
	}
}

// BenchmarkReplayMerge: Replay and ReplayWith over four in-memory logs of
// events no rule matches: the merge, the clock and the hand-offs.
func BenchmarkReplayMerge(b *testing.B) {
	const n = 50_000
	logs := make([][]Event, 4)
	for f := range logs {
		for i := range n {
			logs[f] = append(logs[f], Event{Time: t0.Add(time.Duration(i*4+f) * time.Millisecond), Line: "x"})
		}
	}
	for _, workers := range []int{1, 2} {
		b.Run(map[int]string{1: "replay", 2: "parallel"}[workers], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e := NewEngine(&programMatcher{testPolicies()}, Config{})
				var its []Iterator
				for _, evs := range logs {
					its = append(its, &sliceIterator{evs: evs})
				}
				if err := ReplayWith(context.Background(), e, its, &recordingSink{}, ReplayOptions{Workers: workers}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(4*n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkEnginePaired: sshd's lines about one attempt from 10,000
// connections at once (pam_unix's failure, then "Failed password", by
// the same process): each line looks its connection up, the second
// pairs with the first and is not counted again.
func BenchmarkEnginePaired(b *testing.B) {
	p := &Policy{Name: "sshd", Threshold: 1000, Window: 10 * time.Second, Ban: time.Hour, Evidence: 3, Connections: true}
	e := NewEngine(pairBenchMatcher{p}, Config{})
	ev := &Event{Time: t0, Line: "a line of some length, as logs have them, from 203.0.113.10", Host: "web1", Program: "sshd"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c := i / 2 * 7919 % 10_000
		ev.Addr, ev.PID = benchAddr(c), 1000+c
		ev.Message = [2]string{"pair", "failed"}[i%2]
		ev.Time = t0.Add(time.Duration(i) * time.Millisecond)
		e.Process(ev)
		i++
	}
}

// pairBenchMatcher marks a line "pair" Hit.Pair (kindMatcher without its
// Sscanf, which allocates).
type pairBenchMatcher struct{ p *Policy }

func (m pairBenchMatcher) Match(ev *Event, hits []Hit) []Hit {
	return append(hits, Hit{Policy: m.p, Target: ev.Addr, Pair: ev.Message == "pair"})
}
func (m pairBenchMatcher) Policies() []*Policy { return []*Policy{m.p} }

// BenchmarkDedupFill: a replay's dedup from an empty table, one op a
// million alerts in time order at 100 a second (a fast.log of 2.8 hours),
// none a copy, all within the default window: every lookup misses and
// every insertion grows the table, which ends holding them all.
func BenchmarkDedupFill(b *testing.B) {
	const rate, n = 100, 1_000_000
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second / rate) }
	fps := make([]uint64, n)
	for i := range fps {
		usec := uint64(at(i).UnixMicro()) % 900e6
		fps[i] = usec>>18<<52 | (uint64(i)*0x9e3779b97f4a7c15)>>12 | 1
	}
	b.ReportAllocs()
	for b.Loop() {
		e := NewEngine(addrMatcher{&Policy{Name: "r", Threshold: 1, Ban: time.Hour}}, Config{})
		for i, fp := range fps {
			if e.seen(fp, at(i)) {
				b.Fatal("a copy")
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/alert")
}
