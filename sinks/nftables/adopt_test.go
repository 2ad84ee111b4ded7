package nftables

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	nft "github.com/google/nftables"

	"github.com/stockade-ids/stockade/internal/netlab"
	"github.com/stockade-ids/stockade/pipeline"
)

// TestReconcileAdopts: after a crash that lost saves, the kernel holds bans
// the ledger does not know. On the restart's reconcile, the ones with time
// left are adopted, whole and with the time they have (not a new full ban),
// unless keep refuses them (an allowlisted address), which go; an element
// without a timeout (hand-made) goes; the ledger's own bans are re-applied
// with the ledger's times as before.
func TestReconcileAdopts(t *testing.T) {
	ns := netlab.New(t, "adopt")
	cfg := Config{IPv6Prefix: 64}
	s := newSink(t, ns, cfg)
	write(t, s,
		banFor("203.0.113.1", time.Hour),      // in the ledger
		banFor("203.0.113.2", 40*time.Minute), // lost
		banFor("203.0.113.3", 40*time.Minute), // lost, but allowlisted since
		banFor("192.0.2.0/24", 30*time.Minute),
		banFor("192.0.2.7", 2*time.Hour), // the ledger kept the address, lost the range
		banFor("2001:db8:1::1", 20*time.Minute),
	)
	// An element an admin added by hand, without a timeout.
	c := nsConn(t, ns)
	if err := c.SetAddElements(s.v4.set, []nft.SetElement{{Key: []byte{198, 51, 100, 1}}, {Key: []byte{198, 51, 100, 2}, IntervalEnd: true}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}

	// The restart: a new sink, a ledger on a clock of its own.
	s = newSink(t, ns, cfg)
	ledgerNow := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	active := []pipeline.ActiveBan{
		{Target: pfx("203.0.113.1"), Until: ledgerNow.Add(3 * time.Hour)}, // a later ban the kernel missed
		{Target: pfx("192.0.2.7"), Until: ledgerNow.Add(2 * time.Hour)},
		{Target: pfx("203.0.113.9"), Until: ledgerNow.Add(time.Hour)}, // not in the kernel
	}
	var asked []string
	keep := func(p netip.Prefix) bool {
		asked = append(asked, p.String())
		return p != pfx("203.0.113.3")
	}
	adopted, err := s.ReconcileAdopting(t.Context(), active, ledgerNow, keep)
	if err != nil {
		t.Fatalf("ReconcileAdopting: %v", err)
	}

	// The lost /24 is what partition left of it around the /32: 8 blocks.
	wantAdopted := map[string]time.Duration{"203.0.113.2/32": 40 * time.Minute, "2001:db8:1::/64": 20 * time.Minute}
	for _, p := range []string{"192.0.2.0/30", "192.0.2.4/31", "192.0.2.6/32", "192.0.2.8/29", "192.0.2.16/28", "192.0.2.32/27", "192.0.2.64/26", "192.0.2.128/25"} {
		wantAdopted[p] = 30 * time.Minute
	}
	got := map[string]time.Duration{}
	for _, a := range adopted {
		got[a.Target.String()] = a.Until.Sub(ledgerNow)
	}
	if keys(got) != keys(wantAdopted) {
		t.Fatalf("adopted %s\nwant    %s", keys(got), keys(wantAdopted))
	}
	for k, left := range wantAdopted {
		if !about(got[k], left) {
			t.Errorf("%s adopted with %v left on the ledger's clock, want %v", k, got[k], left)
		}
	}
	slices.Sort(asked)
	if strings.Contains(strings.Join(asked, " "), "198.51.100.1") {
		t.Errorf("keep was asked about an element without a timeout: %v", asked)
	}

	k := banned(t, ns)
	want := map[string]time.Duration{"203.0.113.1/32": 3 * time.Hour, "192.0.2.7/32": 2 * time.Hour, "203.0.113.9/32": time.Hour}
	for p, left := range wantAdopted {
		want[p] = left
	}
	if keys(k) != keys(want) {
		t.Fatalf("kernel after the reconcile: %s\nwant %s", keys(k), keys(want))
	}
	for p, left := range want {
		if !about(k[p], left) {
			t.Errorf("%s: %v left in the kernel, want %v", p, k[p], left)
		}
	}

	// keep nil: the ledger wins, as Reconcile always did.
	if err := s.Reconcile(t.Context(), active, ledgerNow); err != nil {
		t.Fatal(err)
	}
	if k := banned(t, ns); keys(k) != "192.0.2.7/32 203.0.113.1/32 203.0.113.9/32" {
		t.Errorf("after Reconcile without keep: %s", keys(k))
	}
}

// TestOpenAtScale: a restart with 200,000 bans in the kernel, half of
// them in the ledger and half lost with a save, adopts the half, lists
// each set once and writes nothing. Open listed each set three times (4 s each here: the
// kernel lists in a time growing with the square of the elements), and
// reconciled as of the caller's clock reading, taken before the first
// listing: every ban of the ledger came out longer than its element by
// the listing's seconds, past the tolerance, and the 100,000 were
// rewritten (773 batches, 17 s).
func TestOpenAtScale(t *testing.T) {
	const n = 200000
	ns := netlab.New(t, "openscale")
	// The bans the stockade before the restart wrote.
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{45, byte(i >> 15), byte(i >> 7), byte(i << 1)}) }
	active := bansOf(n, addr)
	if err := newSink(t, ns, Config{NoWatch: true}).Reconcile(t.Context(), active, time.Now()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s, adopted, err := Open(t.Context(), Config{NoWatch: true, NetNS: int(ns.Fd)}, active[:n/2], start, func(netip.Prefix) bool { return true }, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(t.Context()) })
	t.Logf("Open with %d bans in the kernel: %v", n, time.Since(start))
	if len(adopted) != n/2 {
		t.Errorf("%d bans adopted, want %d", len(adopted), n/2)
	}
	st := s.Stats()
	if st.Batches != 0 {
		t.Errorf("Open wrote %d batches to a kernel that held every ban already", st.Batches)
	}
	if st.Listings != 2 {
		t.Errorf("Open listed the sets %d times, want once each (2)", st.Listings)
	}
}
