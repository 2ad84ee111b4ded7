package nftables

import (
	"net/netip"
	"os/exec"
	"testing"
	"time"

	nft "github.com/google/nftables"

	"github.com/stockade-ids/stockade/internal/netlab"
	"github.com/stockade-ids/stockade/pipeline"
)

// TestRepair: what an administrator does to our sets behind the sink's
// back (flush a set, add an element of their own, delete the table) is
// found and undone by Repair, and counted.
func TestRepair(t *testing.T) {
	ns := netlab.New(t, "repair")
	// Without the watch, which would put the set back before Repair looks:
	// Repair is the backstop for what the watch misses (a notification
	// lost to a full netlink buffer, a stockade not running at the time).
	s := newSink(t, ns, Config{NoWatch: true})
	write(t, s, banFor("203.0.113.7", time.Hour), banFor("203.0.113.8", time.Hour), banFor("2001:db8::7", time.Hour))
	nft := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(netlab.IPCmd, append([]string{"netns", "exec", ns.Name, "nft"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("nft %v: %v: %s", args, err, out)
		}
	}
	if d, err := s.Repair(t.Context()); err != nil || d.Total() != 0 {
		t.Fatalf("nothing changed: drift %+v, %v", d, err)
	}
	nft("flush", "set", "inet", "stockade", "banned4")
	nft("add", "element", "inet", "stockade", "banned6", "{ 2001:db8::99 timeout 1h }")
	d, err := s.Repair(t.Context())
	if err != nil || d.Missing != 2 || d.Extra != 1 {
		t.Fatalf("after a flush and an element of the admin's: drift %+v, %v; want 2 missing, 1 extra", d, err)
	}
	if got := keys(banned(t, ns)); got != "2001:db8::7/128 203.0.113.7/32 203.0.113.8/32" {
		t.Fatalf("repaired sets hold %s", got)
	}
	nft("delete", "table", "inet", "stockade")
	if d, err := s.Repair(t.Context()); err != nil || d.Missing != 3 {
		t.Fatalf("after the table was deleted: drift %+v, %v", d, err)
	}
	if got := keys(banned(t, ns)); got != "2001:db8::7/128 203.0.113.7/32 203.0.113.8/32" {
		t.Fatalf("the table made again holds %s", got)
	}
}

// TestRepairListsBesideWrites: a check lists our sets without the sink's
// lock, so bans and lifts written while the kernel lists a large set are
// not held up (a million bans take the kernel minutes to list, during
// which a firewall enforced nothing new), and what they changed meanwhile
// is neither counted as drift nor undone: a ban added after the listing
// passed its place, and one lifted after the listing read it, at either
// end of the set whichever way the kernel walks it.
func TestRepairListsBesideWrites(t *testing.T) {
	const n = 60000
	ns := netlab.New(t, "repairbig")
	s := newSink(t, ns, Config{NoWatch: true})
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 15), byte(i >> 7), byte(i << 1)}) }
	if err := s.Reconcile(t.Context(), bansOf(n, addr), time.Now()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if d, err := s.Repair(t.Context()); err != nil || d.Total() != 0 {
		t.Fatalf("%d bans as the sink holds them: drift %+v, %v", n, d, err)
	}
	took := time.Since(start)
	t.Logf("a check of %d bans took %v", n, took)

	done := make(chan error, 1)
	var drift Drift
	go func() {
		var err error
		drift, err = s.Repair(t.Context())
		done <- err
	}()
	time.Sleep(took / 4) // the check is listing
	first, last := addr(0).String(), addr(n-1).String()
	write(t, s, banFor("9.0.0.1", time.Hour), banFor("11.0.0.1", time.Hour), unban(first), unban(last))
	select {
	case <-done:
		t.Fatalf("bans written during a check waited for its listing (%v)", took)
	default:
	}
	if err := <-done; err != nil || drift.Total() != 0 {
		t.Fatalf("bans written during the check's listing counted as drift: %+v, %v", drift, err)
	}
	t.Logf("checks read again after writes overlapped their listing: %d", s.Stats().Relisted)
	if d, err := s.Repair(t.Context()); err != nil || d.Total() != 0 {
		t.Fatalf("the next check: drift %+v, %v", d, err)
	}
	got := contents(t, ns, "stockade", nft.TableFamilyINet, "banned4")
	for _, p := range []string{"9.0.0.1/32", "11.0.0.1/32"} {
		if _, ok := got[p]; !ok {
			t.Errorf("%s, banned during the check, is not in the set", p)
		}
	}
	for _, p := range []string{first + "/32", last + "/32"} {
		if _, ok := got[p]; ok {
			t.Errorf("%s, lifted during the check, is back in the set", p)
		}
	}
	if len(got) != n {
		t.Errorf("the set holds %d elements, want %d", len(got), n)
	}
}

// bansOf returns n bans of 3 hours from now, of the addresses
// addr(0..n-1), as a ledger holds them; a sink's Reconcile puts them in
// the kernel in a few seconds. (They went in with nft -f once: the kernel
// starts an element's timeout when it adds it, and a loaded machine took
// seconds to add 200,000 in one file, so the ledger's bans came out
// seconds off their elements, past a check's tolerance: 34,408 of 60,000
// "changed" and 351 batches rewritten at Open in one CI run. And nft -f
// in runs of 5,000 reads the interval set back at each run: 2 minutes
// for 200,000.)
func bansOf(n int, addr func(int) netip.Addr) []pipeline.ActiveBan {
	until := time.Now().Add(3 * time.Hour)
	active := make([]pipeline.ActiveBan, n)
	for i := range active {
		active[i] = pipeline.ActiveBan{Target: netip.PrefixFrom(addr(i), 32), Until: until}
	}
	return active
}
