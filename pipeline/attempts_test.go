package pipeline

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline/guard"
)

// kindMatcher reads a line's kind from its message: "pair" (Hit.Pair),
// "open" (Hit.Open), "close" (Hit.Close), "xN" (Weight N); anything else
// is a plain line.
type kindMatcher struct{ p *Policy }

func (m kindMatcher) Match(ev *Event, hits []Hit) []Hit {
	h := Hit{Policy: m.p, Target: ev.Addr, Pair: ev.Message == "pair", Open: ev.Message == "open", Close: ev.Message == "close"}
	fmt.Sscanf(ev.Message, "x%d", &h.Weight)
	return append(hits, h)
}
func (m kindMatcher) Policies() []*Policy { return []*Policy{m.p} }

// TestEngineCountsAttempts: one connection's lines about one attempt count
// once, its close counts only when nothing else of it did, and a line
// that stands for N attempts counts N.
func TestEngineCountsAttempts(t *testing.T) {
	p := &Policy{Name: "sshd", Threshold: 5, Window: 10 * time.Minute, Ban: time.Hour, Connections: true}
	line := func(msg string, pid int, at time.Duration) *Event {
		x := ev("203.0.113.5", at)
		x.Message, x.PID, x.Host, x.Program = msg, pid, "web1", "sshd"
		return x
	}
	// run feeds lines and returns the 1-based line that banned, or 0.
	run := func(e *Engine, lines []*Event) int {
		for i, x := range lines {
			if len(e.Process(x)) > 0 {
				return i + 1
			}
		}
		return 0
	}
	t.Run("invalid user, pam, failed, close are one attempt", func(t *testing.T) {
		e := NewEngine(kindMatcher{p}, Config{})
		var lines []*Event
		for c := range 4 {
			at := time.Duration(c) * 20 * time.Second
			pid := 100 + c
			lines = append(lines, line("open", pid, at), line("pair", pid, at+2*time.Second),
				line("failed", pid, at+4*time.Second), line("close", pid, at+5*time.Second))
		}
		if n := run(e, lines); n != 0 {
			t.Fatalf("four attempts banned at line %d", n)
		}
		if st := e.Stats()[0]; st.Paired != 12 {
			t.Fatalf("paired = %d, want 3 per connection", st.Paired)
		}
		if n := run(e, []*Event{line("pair", 200, 90*time.Second)}); n != 1 {
			t.Fatal("the fifth attempt must ban")
		}
	})
	t.Run("every open line counts, and keeps its attempt open through pair lines", func(t *testing.T) {
		e := NewEngine(kindMatcher{p}, Config{})
		// Invalid user, Failed none, pam_unix, Failed password: one.
		if n := run(e, []*Event{line("open", 1, 0), line("pair", 1, time.Second), line("pair", 1, 2*time.Second), line("failed", 1, 4*time.Second)}); n != 0 {
			t.Fatalf("banned at line %d", n)
		}
		if st := e.Stats()[0]; st.Paired != 3 {
			t.Fatalf("paired = %d, want 3", st.Paired)
		}
		// Four more open lines of one process: four more attempts.
		if n := run(e, []*Event{line("open", 2, 5*time.Second), line("open", 2, 6*time.Second), line("open", 2, 7*time.Second), line("open", 2, 8*time.Second)}); n != 4 {
			t.Fatalf("banned at line %d, want 4", n)
		}
	})
	t.Run("a run of PAM lines of one process is a run of attempts", func(t *testing.T) {
		// sshd's own lines went to another log (auth vs authpriv).
		e := NewEngine(kindMatcher{p}, Config{})
		var lines []*Event
		for i := range 5 {
			lines = append(lines, line("pair", 7, time.Duration(i)*3*time.Second))
		}
		if n := run(e, lines); n != 5 {
			t.Fatalf("banned at line %d, want 5", n)
		}
	})
	t.Run("a lone close counts, late closes count", func(t *testing.T) {
		e := NewEngine(kindMatcher{p}, Config{})
		lines := []*Event{
			line("close", 1, 0), line("close", 2, time.Second), line("close", 3, 2*time.Second),
			line("failed", 4, 3*time.Second), line("close", 4, 3*time.Second+ConnWindow+time.Second),
		}
		if n := run(e, lines); n != 5 {
			t.Fatalf("banned at line %d, want 5", n)
		}
	})
	t.Run("a fold of five is five attempts", func(t *testing.T) {
		e := NewEngine(kindMatcher{p}, Config{})
		if n := run(e, []*Event{line("x4", 1, 0)}); n != 0 {
			t.Fatal("four attempts banned")
		}
		if n := run(e, []*Event{line("x1", 2, time.Second)}); n != 1 {
			t.Fatal("the fifth attempt must ban")
		}
		e = NewEngine(kindMatcher{p}, Config{})
		// The partner of a pam line stands for one attempt fewer.
		if n := run(e, []*Event{line("pair", 3, 0), line("x5", 3, time.Second)}); n != 2 {
			t.Fatalf("pam + a fold of 5: banned at line %d, want 2", n)
		}
	})
	t.Run("without Connections nothing pairs", func(t *testing.T) {
		q := *p
		q.Connections = false
		e := NewEngine(kindMatcher{&q}, Config{})
		if n := run(e, []*Event{line("pair", 1, 0), line("pair", 1, 1), line("x", 1, 2), line("close", 1, 3), line("close", 1, 4)}); n != 5 {
			t.Fatalf("banned at line %d, want 5", n)
		}
	})
}

// TestEngineV6CountsBy64: 1,000 failures from 250 addresses of one /64,
// four each, ban the /64; a /64 holding a protected address is counted
// and banned address by address; V6Count 128 counts each address.
func TestEngineV6CountsBy64(t *testing.T) {
	spray := func(e *Engine, net string) []Decision {
		var out []Decision
		for i := range 1000 {
			a := netip.MustParseAddr(fmt.Sprintf("%s:0:0:%x:%x", net, 1+i%250, i))
			x := &Event{Time: t0.Add(time.Duration(i) * 100 * time.Millisecond), Addr: a, Line: "x"}
			out = append(out, e.Process(x)...)
		}
		return out
	}
	p := &Policy{Name: "sshd", Threshold: 5, Window: 10 * time.Minute, Ban: time.Hour, V6Count: 64}
	ds := spray(NewEngine(kindMatcher{p}, Config{}), "2001:db8:bad:1")
	if len(ds) != 1 || ds[0].Target.String() != "2001:db8:bad:1::/64" {
		t.Fatalf("decisions %+v, want one ban of 2001:db8:bad:1::/64", ds)
	}

	g := guard.New()
	g.Set("own", []netip.Prefix{netip.MustParsePrefix("2001:db8:bad:1::10/128")})
	ds = spray(NewEngine(kindMatcher{p}, Config{Guard: g}), "2001:db8:bad:1")
	if len(ds) != 0 {
		t.Fatalf("a /64 holding the host's own address: %d decisions, first %s; want none (four failures per address)", len(ds), ds[0].Target)
	}
	e := NewEngine(kindMatcher{p}, Config{Allow: []netip.Prefix{netip.MustParsePrefix("2001:db8:bad:1::10/128")}})
	for i := range 5 {
		ds = e.Process(&Event{Time: t0.Add(time.Duration(i) * time.Second), Addr: netip.MustParseAddr("2001:db8:bad:1::7"), Line: "x"})
	}
	if len(ds) != 1 || ds[0].Target.String() != "2001:db8:bad:1::7" {
		t.Fatalf("five failures of one address in an allowlisted /64: %+v, want a ban of the address", ds)
	}

	q := *p
	q.V6Count = 128
	if ds := spray(NewEngine(kindMatcher{&q}, Config{}), "2001:db8:bad:1"); len(ds) != 0 {
		t.Fatalf("V6Count 128: %d decisions", len(ds))
	}
}

// TestPairsOutsideSlots: a connection whose pid does not fit a slot's 32
// bits, or whose host comes after a partition's 256 names, is followed
// all the same (in the partition's map): its lines pair as any other's.
func TestPairsOutsideSlots(t *testing.T) {
	p := &Policy{Name: "sshd", Threshold: 100, Window: 10 * time.Minute, Ban: time.Hour, Connections: true}
	e := NewEngine(kindMatcher{p}, Config{})
	line := func(msg, host string, pid int, at time.Duration) *Event {
		x := ev("203.0.113.5", at)
		x.Message, x.PID, x.Host, x.Program = msg, pid, host, "sshd"
		return x
	}
	at := time.Duration(0)
	attempt := func(host string, pid int) {
		t.Helper()
		before := e.Stats()[0].Paired
		e.Process(line("pair", host, pid, at))
		e.Process(line("failed", host, pid, at+2*time.Second))
		at += 3 * time.Second
		if got := e.Stats()[0].Paired - before; got != 1 {
			t.Fatalf("host %s, pid %d: %d lines paired, want 1", host, pid, got)
		}
	}
	attempt("web1", 1<<40)
	attempt("web1", -(1 << 35))
	for i := range 300 {
		attempt(fmt.Sprintf("host-%d", i), 100+i)
	}
	pp := &e.pairs[partOfAddr(netip.MustParseAddr("203.0.113.5"))]
	if len(pp.names) > maxNames+1 || len(pp.more) == 0 {
		t.Errorf("%d names and %d connections in the map: the names' bound was not reached", len(pp.names), len(pp.more))
	}
}
