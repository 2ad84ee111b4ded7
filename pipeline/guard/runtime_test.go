package guard

import (
	"net/netip"
	"testing"
	"time"
)

// TestRuntimeAllowlist: an entry protects at once (and signals a change,
// so bans it covers are lifted), runs out at its expiry, survives a save
// and a load, and del removes it.
func TestRuntimeAllowlist(t *testing.T) {
	g := New()
	r := NewRuntime(g)
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	changed := g.Changed()
	if err := r.Add(Entry{Prefix: pfx("::ffff:198.51.100.0/120"), Comment: "office", Added: now}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Fatal("add did not signal a change")
	}
	if why, ok := g.WhyPrefix(pfx("198.51.100.7/32")); !ok || why != RuntimeSet {
		t.Fatalf("WhyPrefix = %q %v", why, ok)
	}
	r.Add(Entry{Prefix: pfx("203.0.113.9/32"), Added: now, Expires: now.Add(time.Hour)})
	data, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if gone := r.Expire(now.Add(2 * time.Hour)); len(gone) != 1 || gone[0].Prefix != pfx("203.0.113.9/32") {
		t.Fatalf("expired %v", gone)
	}
	if g.Protects(netip.MustParseAddr("203.0.113.9")) {
		t.Fatal("an expired entry still protects")
	}

	g2 := New()
	r2 := NewRuntime(g2)
	if err := r2.Load(data, now); err != nil {
		t.Fatal(err)
	}
	if l := r2.List(); len(l) != 2 || l[0].Prefix != pfx("198.51.100.0/24") || l[0].Comment != "office" {
		t.Fatalf("loaded %+v", l)
	}
	if !g2.Protects(netip.MustParseAddr("203.0.113.9")) {
		t.Fatal("a loaded entry does not protect")
	}
	if !r2.Del(pfx("198.51.100.0/24")) || r2.Del(pfx("198.51.100.0/24")) || g2.Protects(netip.MustParseAddr("198.51.100.1")) {
		t.Fatal("del")
	}
}
