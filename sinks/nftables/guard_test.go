package nftables

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/netlab"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/guard"
)

// With ipv6_prefix 64, a ban is never widened to a /64 that holds an
// allowlisted host or one of the host's own addresses (followed live in
// the namespace): it stays the address itself. An address the host gains
// later lifts the /64 banned before, and the ledger's bans inside it come
// back as themselves.
func TestWideningSparesProtected(t *testing.T) {
	ns := netlab.New(t, "wid")
	ns.IP(t, "addr", "add", "2001:db8:5::10/64", "dev", "lo", "nodad")
	g := guard.New()
	g.Set("allow", []netip.Prefix{netip.MustParsePrefix("2001:db8:7::20/128")})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := g.Watch(ctx, guard.WatchConfig{NetNS: int(ns.Fd)}); err != nil {
		t.Fatal(err)
	}
	s := newSink(t, ns, Config{IPv6Prefix: 64, Guard: g})
	write(t, s, banFor("2001:db8:5::1", time.Hour), banFor("2001:db8:7::1", time.Hour), banFor("2001:db8:8::1", time.Hour), banFor("2001:db8:9::1", time.Hour))
	if got := keys(banned(t, ns)); got != "2001:db8:5::1/128 2001:db8:7::1/128 2001:db8:8::/64 2001:db8:9::/64" {
		t.Fatalf("kernel holds %s; want the /128 of bans whose /64 holds the host's 2001:db8:5::10 or the allowlisted 2001:db8:7::20", got)
	}

	changed := g.Changed()
	ns.IP(t, "addr", "add", "2001:db8:9::5/64", "dev", "lo", "nodad")
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("the guard did not hear of 2001:db8:9::5 within 5s")
	}
	if !g.Protects(netip.MustParseAddr("2001:db8:9::5")) {
		t.Fatalf("2001:db8:9::5 not protected; own: %v", g.Get(guard.Own))
	}
	active := []pipeline.ActiveBan{{Target: netip.MustParsePrefix("2001:db8:9::1/128"), Until: time.Now().Add(time.Hour)}}
	if n, err := s.Protect(t.Context(), active, time.Now()); err != nil || n != 1 {
		t.Fatalf("Protect: lifted %d, %v; want the /64", n, err)
	}
	if got := keys(banned(t, ns)); got != "2001:db8:5::1/128 2001:db8:7::1/128 2001:db8:8::/64 2001:db8:9::1/128" {
		t.Fatalf("after 2001:db8:9::5 appeared the kernel holds %s", got)
	}
	// The address's unban still finds its ban, narrowed or not.
	write(t, s, unban("2001:db8:9::1"), unban("2001:db8:5::1"))
	if got := keys(banned(t, ns)); got != "2001:db8:7::1/128 2001:db8:8::/64" {
		t.Fatalf("after the unbans the kernel holds %s", got)
	}
}
