package pipeline

import (
	"net/netip"
	"testing"
	"time"
)

// addrMatcher judges every event with a valid Addr an offense of its one
// policy: the engine's behaviour is tested without the rules package.
type addrMatcher struct{ p *Policy }

func (m addrMatcher) Match(ev *Event, hits []Hit) []Hit {
	if ev.Addr.IsValid() {
		hits = append(hits, Hit{Policy: m.p, Target: ev.Addr})
	}
	return hits
}
func (m addrMatcher) Policies() []*Policy { return []*Policy{m.p} }

func newTestEngine(threshold int, cfg Config) *Engine {
	p := &Policy{ID: 0, Name: "r", Pack: "p", Threshold: threshold, Window: 10 * time.Minute, Ban: time.Hour, Evidence: 1}
	if cfg.Origin == "" {
		cfg.Origin = "test"
	}
	return NewEngine(addrMatcher{p}, cfg)
}

func ev(addr string, at time.Duration) *Event {
	return &Event{Time: t0.Add(at), Addr: netip.MustParseAddr(addr), Line: "line from " + addr}
}

func TestEngineSameAlertTwiceCountsOnce(t *testing.T) {
	e := newTestEngine(3, Config{})
	// Two alerts, each logged in fast.log and eve.json: 4 lines, 2 alerts.
	for i, fp := range []uint64{11, 11, 22, 22} {
		x := ev("203.0.113.1", time.Duration(i)*time.Second)
		x.Fingerprint = fp
		if ds := e.Process(x); len(ds) != 0 {
			t.Fatalf("banned after line %d: two alerts are below a threshold of 3", i+1)
		}
	}
	if e.Duplicates != 2 || e.SkewedDuplicates != 0 {
		t.Fatalf("duplicates %d skewed %d", e.Duplicates, e.SkewedDuplicates)
	}
	// A copy an hour later (fast.log read in the wrong zone) is still a copy,
	// and is reported as skewed.
	x := ev("203.0.113.1", time.Hour)
	x.Fingerprint = 11
	e.Process(x)
	if e.Duplicates != 3 || e.SkewedDuplicates != 1 {
		t.Fatalf("duplicates %d skewed %d", e.Duplicates, e.SkewedDuplicates)
	}
}

func TestEngineAllowlistsAndOwnAddresses(t *testing.T) {
	e := newTestEngine(1, Config{Allow: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::10/128")}})
	e.matcher.Policies()[0].Allow = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/28")}
	for _, a := range []string{"192.0.2.10", "::ffff:192.0.2.10", "2001:db8::10", "198.51.100.5", "0.0.0.0", "::", "224.0.0.1"} {
		if ds := e.Process(ev(a, 0)); len(ds) != 0 {
			t.Errorf("%s banned", a)
		}
	}
	if ds := e.Process(ev("198.51.100.17", 0)); len(ds) != 1 {
		t.Errorf("198.51.100.17 (outside the rule's allowlist) not banned")
	}
	if st := e.Stats()[0]; st.Allowlisted != 4 {
		t.Errorf("allowlisted = %d, want 4", st.Allowlisted)
	}
}

func TestEngineMappedAddressIsOneTarget(t *testing.T) {
	e := newTestEngine(2, Config{})
	e.Process(ev("::ffff:203.0.113.7", 0))
	ds := e.Process(ev("203.0.113.7", time.Second))
	if len(ds) != 1 || ds[0].Target.String() != "203.0.113.7" || ds[0].Scope != ScopeIP {
		t.Fatalf("decisions %+v", ds)
	}
	if ds := e.Process(ev("::ffff:203.0.113.7", 2*time.Second)); len(ds) != 0 {
		t.Fatalf("the mapped form was banned again: %+v", ds)
	}
}

func TestEngineUnbansAndDeterministicIDs(t *testing.T) {
	run := func() []Decision {
		e := newTestEngine(1, Config{EmitUnbans: true})
		var all []Decision
		all = append(all, e.Process(ev("203.0.113.9", 0))...)
		all = append(all, e.Process(ev("203.0.113.10", 30*time.Minute))...)
		all = append(all, e.Process(ev("203.0.113.10", 61*time.Minute))...) // lifts .9's ban
		all = append(all, e.Tick(t0.Add(3*time.Hour))...)
		return all
	}
	a, b := run(), run()
	if len(a) != 4 {
		t.Fatalf("decisions %+v", a)
	}
	want := []struct {
		action Action
		target string
	}{{ActionBan, "203.0.113.9"}, {ActionBan, "203.0.113.10"}, {ActionUnban, "203.0.113.9"}, {ActionUnban, "203.0.113.10"}}
	for i, w := range want {
		if a[i].Action != w.action || a[i].Target.String() != w.target {
			t.Errorf("decision %d = %s %s, want %s %s", i, a[i].Action, a[i].Target, w.action, w.target)
		}
		if a[i].ID != b[i].ID || len(a[i].ID) != 32 {
			t.Errorf("decision %d id %q vs %q", i, a[i].ID, b[i].ID)
		}
	}
}

// pairMatcher marks events whose Message is "pam" as the first of a pair.
type pairMatcher struct{ p *Policy }

func (m pairMatcher) Match(ev *Event, hits []Hit) []Hit {
	return append(hits, Hit{Policy: m.p, Target: ev.Addr, Pair: ev.Message == "pam"})
}
func (m pairMatcher) Policies() []*Policy { return []*Policy{m.p} }

func TestEnginePairsCountOnce(t *testing.T) {
	p := &Policy{ID: 0, Name: "sshd", Threshold: 4, Window: 10 * time.Minute, Ban: time.Hour, Connections: true}
	line := func(msg string, pid int, at time.Duration) *Event {
		x := ev("203.0.113.5", at)
		x.Message, x.PID, x.Host, x.Program = msg, pid, "web1", "sshd"
		return x
	}
	t.Run("pam then failed is one attempt", func(t *testing.T) {
		e := NewEngine(pairMatcher{p}, Config{})
		// One connection: pam + 3 failed passwords = 3 attempts, below 4.
		for i, x := range []*Event{line("pam", 7, 0), line("failed", 7, 2*time.Second), line("failed", 7, 5*time.Second), line("failed", 7, 8*time.Second)} {
			if ds := e.Process(x); len(ds) != 0 {
				t.Fatalf("banned at line %d", i+1)
			}
		}
		if st := e.Stats()[0]; st.Paired != 1 {
			t.Fatalf("paired = %d", st.Paired)
		}
		if ds := e.Process(line("failed", 7, 11*time.Second)); len(ds) != 1 {
			t.Fatal("the fourth attempt must ban")
		}
	})
	t.Run("lone pam lines count", func(t *testing.T) {
		e := NewEngine(pairMatcher{p}, Config{})
		var n int
		for i := range 4 {
			n += len(e.Process(line("pam", 100+i, time.Duration(i)*30*time.Second)))
		}
		if n != 1 {
			t.Fatalf("4 lone PAM failures from 4 connections: %d bans", n)
		}
	})
	t.Run("another process does not pair", func(t *testing.T) {
		e := NewEngine(pairMatcher{p}, Config{})
		e.Process(line("pam", 1, 0))
		e.Process(line("failed", 2, time.Second))
		if st := e.Stats()[0]; st.Paired != 0 {
			t.Fatal("lines from different pids were paired")
		}
	})
	t.Run("too late to pair", func(t *testing.T) {
		e := NewEngine(pairMatcher{p}, Config{})
		e.Process(line("pam", 1, 0))
		e.Process(line("failed", 1, PairWindow+time.Second))
		if st := e.Stats()[0]; st.Paired != 0 {
			t.Fatal("paired past the window")
		}
	})
	t.Run("two hosts, one pid", func(t *testing.T) {
		// Two hosts' logs in one file, the same pid on both: each line
		// waits for its own host's partner.
		e := NewEngine(pairMatcher{p}, Config{})
		on := func(x *Event, host string) *Event { x.Host = host; return x }
		e.Process(on(line("pam", 9, 0), "web1"))
		e.Process(on(line("pam", 9, time.Second), "web2"))
		e.Process(on(line("failed", 9, 2*time.Second), "web2"))
		e.Process(on(line("failed", 9, 3*time.Second), "web1"))
		e.Process(on(line("failed", 9, 4*time.Second), "web1"))
		if st := e.Stats()[0]; st.Paired != 2 {
			t.Fatalf("paired = %d, want one per host", st.Paired)
		}
	})
}
