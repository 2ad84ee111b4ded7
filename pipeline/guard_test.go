package pipeline

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline/guard"
)

// Link-local (with a zone too), the IPv4 broadcast address, multicast and
// the NAT64 prefix are never banned: a ban there cuts off the host's own
// segment or every IPv4 host behind its NAT64, or does nothing.
func TestEngineNeverBansSpecialAddresses(t *testing.T) {
	e := newTestEngine(1, Config{})
	for _, a := range []string{"fe80::1%eth0", "fe80::1", "169.254.10.1", "255.255.255.255", "239.1.2.3", "ff02::1", "64:ff9b::1", "64:ff9b::c000:201"} {
		x := &Event{Time: t0, Addr: netip.MustParseAddr(a), Line: "line from " + a}
		if ds := e.Process(x); len(ds) != 0 {
			t.Errorf("%s: banned as %s", a, ds[0].Target)
		}
		if x, ok := e.Ban(netip.MustParsePrefix(netip.MustParseAddr(a).WithZone("").String()+"/"+map[bool]string{true: "32", false: "128"}[netip.MustParseAddr(a).Is4()]), "manual", "by hand", time.Hour, t0); ok {
			t.Errorf("%s: banned by hand as %s", a, x.Target)
		}
	}
	if _, ok := e.Ban(netip.MustParsePrefix("64:ff9b::/96"), "manual", "by hand", time.Hour, t0); ok {
		t.Error("64:ff9b::/96 banned by hand")
	}
	if ds := e.Process(ev("203.0.113.9", 0)); len(ds) != 1 {
		t.Fatalf("an ordinary address was not banned: %v", ds)
	}
}

// A range rule never bans a range that holds a fleet address, even one the
// guard learnt after the engine started; the members' own bans stand.
func TestEngineRangeBanSparesFleet(t *testing.T) {
	g := guard.New()
	member := &Policy{ID: 0, Name: "r", Threshold: 1, Ban: time.Hour}
	rng := &Policy{ID: 1, Name: "range", Threshold: 2, Window: time.Hour, Ban: time.Hour, Range: &RangeSpec{V4Bits: 24}}
	e := NewEngine(memberRangeMatcher{member, rng}, Config{Origin: "t", Guard: g})
	g.Set("fleet", []netip.Prefix{netip.MustParsePrefix("198.51.100.77/32")})
	var targets []string
	for i, a := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3", "203.0.113.1", "203.0.113.2"} {
		for _, d := range e.Process(ev(a, time.Duration(i)*time.Second)) {
			targets = append(targets, d.Target.String())
		}
	}
	want := []string{"198.51.100.1", "198.51.100.2", "198.51.100.3", "203.0.113.1", "203.0.113.2", "203.0.113.0/24"}
	if len(targets) != len(want) {
		t.Fatalf("bans %v, want %v", targets, want)
	}
	for i := range want {
		if targets[i] != want[i] {
			t.Fatalf("bans %v, want %v (198.51.100.0/24 holds the fleet's 198.51.100.77)", targets, want)
		}
	}
}

// An address protected after it was banned has its ban lifted.
func TestEngineLiftProtected(t *testing.T) {
	g := guard.New()
	e := newTestEngine(1, Config{Guard: g})
	e.Process(ev("203.0.113.5", 0))
	e.Process(ev("203.0.113.6", 0))
	g.Set("allow", []netip.Prefix{netip.MustParsePrefix("203.0.113.5/32")})
	ds := e.LiftProtected(t0.Add(time.Second))
	if len(ds) != 1 || ds[0].Action != ActionUnban || ds[0].Target.String() != "203.0.113.5" {
		t.Fatalf("lifted %v, want the unban of 203.0.113.5", ds)
	}
	if _, ok := e.Ledger().Active(netip.MustParsePrefix("203.0.113.6/32"), t0.Add(time.Second)); !ok {
		t.Fatal("the ban of 203.0.113.6 was lifted too")
	}
}

// memberRangeMatcher: the member rule matches every address; the range rule only
// counts members' bans.
type memberRangeMatcher struct{ member, rng *Policy }

func (m memberRangeMatcher) Match(ev *Event, hits []Hit) []Hit {
	if ev.Addr.IsValid() {
		hits = append(hits, Hit{Policy: m.member, Target: ev.Addr})
	}
	return hits
}
func (m memberRangeMatcher) Policies() []*Policy { return []*Policy{m.member, m.rng} }
