package pipeline

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline/guard"
)

// densityEngine: every address seen is banned for an hour (rule r); two
// banned addresses in an hour ban their /24 (/64) for an hour (rule
// range), which grows by density: 3 banned /24s of a /20 ban the /20, and
// on to the /16 (IPv6: /64 → /56 → /48).
func densityEngine(cfg Config) *Engine {
	member := &Policy{ID: 0, Name: "r", Threshold: 1, Ban: time.Hour}
	rng := &Policy{ID: 1, Name: "range", Threshold: 2, Window: time.Hour, Ban: time.Hour,
		Range: &RangeSpec{V4Bits: 24, V6Bits: 64, Grow: &Growth{V4Bits: 16, V6Bits: 48, Members: 3}}}
	cfg.Origin = "t"
	return NewEngine(memberRangeMatcher{member, rng}, cfg)
}

// feed bans two addresses of each network given (".1" and ".2", or "::1"
// and "::2"), a second apart from at, and returns the range rule's
// decisions as "target until" (unbans as "-target").
func feed(e *Engine, at time.Duration, nets ...string) []string {
	var out []string
	for _, n := range nets {
		for _, host := range []string{"1", "2"} {
			a := n + "." + host
			if strings.Contains(n, ":") {
				a = n + "::" + host
			}
			at += time.Second
			out = append(out, ranges(e.Process(ev(a, at)))...)
		}
	}
	return out
}

func ranges(ds []Decision) []string {
	var out []string
	for _, d := range ds {
		switch {
		case d.Action == ActionUnban && d.Scope == ScopeRange:
			out = append(out, "-"+d.Target.String())
		case d.Action == ActionBan && d.Scope == ScopeRange:
			out = append(out, d.Target.String()+" "+d.Expires.Sub(t0).String())
		}
	}
	return out
}

func expect(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// TestDensityGrows: the third banned /24 of a /20 bans the /20 until the
// earliest of the three runs out (the third latest); a fourth extends it;
// three banned /20s of the /16 ban the /16.
func TestDensityGrows(t *testing.T) {
	e := densityEngine(Config{})
	expect(t, "two /24s", feed(e, 0, "198.18.0", "198.18.1"),
		"198.18.0.0/24 1h0m2s", "198.18.1.0/24 1h0m4s")
	got := feed(e, 4*time.Second, "198.18.2")
	expect(t, "the third /24", got, "198.18.2.0/24 1h0m6s", "198.18.0.0/20 1h0m2s")
	ds := e.Process(ev("198.18.3.1", 10*time.Minute))
	ds = append(ds, e.Process(ev("198.18.3.2", 10*time.Minute+time.Second))...)
	var grown *Decision
	for i := range ds {
		if ds[i].Target.String() == "198.18.0.0/20" {
			grown = &ds[i]
		}
	}
	if grown == nil {
		t.Fatalf("a fourth /24 did not extend the /20: %v", ranges(ds))
	}
	// The members now run out at 1h0m4s, 1h0m6s, 1h10m1s: the third latest.
	if grown.Expires.Sub(t0) != time.Hour+4*time.Second || grown.Rule != "range" ||
		!strings.Contains(grown.Reason, "4 of its /24s banned at once (density)") || len(grown.Evidence) != 4 ||
		grown.Evidence[0] != "198.18.3.0/24 until 2025-11-08T23:10:01Z" {
		t.Errorf("extended /20: expires +%s, reason %q, evidence %q", grown.Expires.Sub(t0), grown.Reason, grown.Evidence)
	}
	got = feed(e, 20*time.Minute, "198.18.16", "198.18.17", "198.18.18")
	expect(t, "a second /20", got, "198.18.16.0/24 1h20m2s", "198.18.17.0/24 1h20m4s", "198.18.18.0/24 1h20m6s", "198.18.16.0/20 1h20m2s")
	got = feed(e, 30*time.Minute, "198.18.32", "198.18.33", "198.18.34")
	expect(t, "the third /20 grows the /16", got,
		"198.18.32.0/24 1h30m2s", "198.18.33.0/24 1h30m4s", "198.18.34.0/24 1h30m6s", "198.18.32.0/20 1h30m2s",
		"198.18.0.0/16 1h0m4s")
	// Growth stops at the widest: a /16 is never widened, here or later.
	for _, d := range e.Ledger().ActiveBans(t0.Add(31 * time.Minute)) {
		if d.Target.Bits() < 16 {
			t.Errorf("grown past /16: %s", d.Target)
		}
	}
}

// TestDensityShrinks: a grown ban runs out when fewer than Members of its
// members are left, and the members still banned stay so; banned anew,
// the range grows again.
func TestDensityShrinks(t *testing.T) {
	e := densityEngine(Config{EmitUnbans: true})
	got := feed(e, 0, "198.18.0")
	got = append(got, feed(e, 10*time.Minute, "198.18.1")...)
	got = append(got, feed(e, 20*time.Minute, "198.18.2")...)
	expect(t, "grown", got, "198.18.0.0/24 1h0m2s", "198.18.1.0/24 1h10m2s", "198.18.2.0/24 1h20m2s", "198.18.0.0/20 1h0m2s")
	now := t0.Add(time.Hour + 3*time.Second)
	expect(t, "the first member expires", ranges(e.Tick(now)), "-198.18.0.0/20", "-198.18.0.0/24")
	for _, p := range []string{"198.18.1.0/24", "198.18.2.0/24"} {
		if _, ok := e.Ledger().Active(netip.MustParsePrefix(p), now); !ok {
			t.Errorf("%s is no longer banned after the /20 shrank back", p)
		}
	}
	if _, ok := e.Ledger().Active(netip.MustParsePrefix("198.18.0.0/20"), now); ok {
		t.Error("the /20 is still banned with two of its /24s")
	}
	expect(t, "banned anew", feed(e, time.Hour+time.Minute, "198.18.0"), "198.18.0.0/24 2h1m2s", "198.18.0.0/20 1h10m2s")
}

// TestDensityRefusesProtected: a /20 that holds a fleet address (learnt
// after start, as the guard learns them) or an allowlisted one is not
// banned, nor anything wider; its /24s stay banned.
func TestDensityRefusesProtected(t *testing.T) {
	g := guard.New()
	e := densityEngine(Config{Guard: g})
	g.Set("fleet", []netip.Prefix{netip.MustParsePrefix("198.18.9.77/32")})
	expect(t, "fleet in the /20", feed(e, 0, "198.18.0", "198.18.1", "198.18.2", "198.18.3"),
		"198.18.0.0/24 1h0m2s", "198.18.1.0/24 1h0m4s", "198.18.2.0/24 1h0m6s", "198.18.3.0/24 1h0m8s")
	if st := e.Stats()[1]; st.Allowlisted != 2 {
		t.Errorf("range rule's allowlisted count %d, want the 2 refused growths", st.Allowlisted)
	}

	e = densityEngine(Config{Allow: []netip.Prefix{netip.MustParsePrefix("198.18.200.1/32")}})
	var got []string
	for i := range 3 {
		got = append(got, feed(e, time.Duration(i)*time.Minute, fmt.Sprintf("198.18.%d", 16*i), fmt.Sprintf("198.18.%d", 16*i+1), fmt.Sprintf("198.18.%d", 16*i+2))...)
	}
	for _, s := range got {
		if strings.HasPrefix(s, "198.18.0.0/16") {
			t.Errorf("banned the /16 that holds the allowlisted 198.18.200.1: %q", got)
		}
	}
	if n := strings.Count(strings.Join(got, ","), "/20"); n != 3 {
		t.Errorf("want the three /20s banned (none holds 198.18.200.1): %q", got)
	}
}

// TestDensityIPv6: /64s grow to their /56, /56s to their /48, 8 bits a
// step, never past /48.
func TestDensityIPv6(t *testing.T) {
	e := densityEngine(Config{})
	expect(t, "three /64s", feed(e, 0, "2001:db8:0:1", "2001:db8:0:2", "2001:db8:0:3"),
		"2001:db8:0:1::/64 1h0m2s", "2001:db8:0:2::/64 1h0m4s", "2001:db8:0:3::/64 1h0m6s", "2001:db8::/56 1h0m2s")
	feed(e, time.Minute, "2001:db8:0:101", "2001:db8:0:102", "2001:db8:0:103")
	got := feed(e, 2*time.Minute, "2001:db8:0:201", "2001:db8:0:202", "2001:db8:0:203")
	expect(t, "the third /56", got,
		"2001:db8:0:201::/64 1h2m2s", "2001:db8:0:202::/64 1h2m4s", "2001:db8:0:203::/64 1h2m6s", "2001:db8:0:200::/56 1h2m2s",
		"2001:db8::/48 1h0m2s")
}

// TestDensityReplayDeterministic: the same events give the same decisions,
// ids included, and a parallel replay keeps a growing range rule on one
// goroutine.
func TestDensityReplayDeterministic(t *testing.T) {
	run := func() []string {
		e := densityEngine(Config{EmitUnbans: true})
		var out []string
		for i, n := range []string{"198.18.0", "198.18.1", "198.18.2", "198.18.16", "198.18.17", "198.18.18", "198.18.32", "198.18.33", "198.18.34"} {
			for _, host := range []string{"1", "2"} {
				for _, d := range e.Process(ev(n+"."+host, time.Duration(i)*time.Minute)) {
					out = append(out, d.ID+" "+d.Target.String())
				}
			}
		}
		for _, d := range e.Tick(t0.Add(3 * time.Hour)) {
			out = append(out, d.ID+" "+d.Target.String())
		}
		return out
	}
	a, b := run(), run()
	if !slices.Equal(a, b) || len(a) == 0 {
		t.Errorf("two replays differ:\n%q\n%q", a, b)
	}
	if densityEngine(Config{}).concurrent(ReplayOptions{Workers: 4}, 4, false) {
		t.Error("a parallel replay would split a growing range rule across workers")
	}
}

// TestDensityAfterRestart: the members a growth counts are the ledger's,
// so a daemon restarted with two banned /24s of a /20 grows it at the
// third, as it would have without the restart.
func TestDensityAfterRestart(t *testing.T) {
	e := densityEngine(Config{})
	e.TrackChanges()
	feed(e, 0, "198.18.0", "198.18.1")
	ch := e.TakeChanges()
	now := t0.Add(time.Minute)
	r := densityEngine(Config{})
	r.Restore(ch.Windows, ch.Targets, now, now)
	expect(t, "the third /24 after a restart", feed(r, time.Minute, "198.18.2"), "198.18.2.0/24 1h1m2s", "198.18.0.0/20 1h0m2s")
}

// TestDensitySimulated: a range rule in mode: simulate grows in its own
// ledger: its decisions say so and nothing reaches the enforced ledger.
func TestDensitySimulated(t *testing.T) {
	e := densityEngine(Config{})
	for _, p := range e.Matcher().Policies() {
		if p.Range != nil {
			p.Simulate = true
		}
	}
	var grown []Decision
	for i, n := range []string{"198.18.0", "198.18.1", "198.18.2"} {
		for j, host := range []string{"1", "2"} {
			for _, d := range e.Process(ev(n+"."+host, time.Duration(2*i+j)*time.Second)) {
				if d.Target.String() == "198.18.0.0/20" {
					grown = append(grown, d)
				}
			}
		}
	}
	if len(grown) != 1 || !grown[0].Simulated {
		t.Fatalf("grown %+v, want one simulated /20", grown)
	}
	now := t0.Add(time.Minute)
	if _, ok := e.Ledger().Active(netip.MustParsePrefix("198.18.0.0/20"), now); ok {
		t.Error("a simulated growth reached the enforced ledger")
	}
	if _, ok := e.Simulated().Active(netip.MustParsePrefix("198.18.0.0/20"), now); !ok {
		t.Error("the simulated /20 is not in the simulation's ledger")
	}
}
