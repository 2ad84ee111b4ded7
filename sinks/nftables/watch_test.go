package nftables

import (
	"context"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	nft "github.com/google/nftables"

	"github.com/stockade-ids/stockade/internal/netlab"
	"github.com/stockade-ids/stockade/pipeline"
)

// nftCmd plays the admin (or nftables.service) with the real nft binary
// inside the namespace: a change made by another process, as the sink
// sees one in production.
func nftCmd(t *testing.T, ns *netlab.NS, script string) {
	t.Helper()
	cmd := exec.Command(netlab.IPCmd, "netns", "exec", ns.Name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft %q: %v: %s", script, err, out)
	}
}

func needNft(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("skipping: needs the nft binary (Debian package nftables) to change the ruleset as another process would")
	}
}

// waitFor polls until cond holds, for at most limit; it returns how long
// that took.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// present is banned that finds nothing, rather than failing, while the
// table or a set is gone.
func present(ns *netlab.NS) map[string]time.Duration {
	c, err := nft.New(nft.WithNetNSFd(int(ns.Fd)))
	if err != nil {
		return nil
	}
	out := map[string]time.Duration{}
	now := time.Now()
	for _, set := range []string{"banned4", "banned6"} {
		els, err := c.GetSetElements(&nft.Set{Table: &nft.Table{Name: "stockade", Family: nft.TableFamilyINet}, Name: set})
		if err != nil {
			return nil
		}
		for _, e := range parseElements(els, now) {
			for _, p := range rangePrefixes(e) {
				out[p.String()] = e.expires.Sub(now)
			}
		}
	}
	return out
}

func dropRules(t *testing.T, ns *netlab.NS) int {
	t.Helper()
	c := nsConn(t, ns)
	tbl := &nft.Table{Name: "stockade", Family: nft.TableFamilyINet}
	rules, err := c.GetRules(tbl, &nft.Chain{Name: "input", Table: tbl})
	if err != nil {
		return 0 // the chain is gone
	}
	return len(rules)
}

// TestRestoreAfterRemoval: whatever another process removes of our table
// (elements, a set's content, a chain's rules, the whole table, the whole
// ruleset as nftables.service's restart does) is back within a second,
// with the time each ban had left, and our own unbans stay undone.
func TestRestoreAfterRemoval(t *testing.T) {
	needNft(t)
	ns := netlab.New(t, "watch")
	s := newSink(t, ns, Config{})
	write(t, s, banFor("192.0.2.1", time.Hour), banFor("198.51.100.0/24", 2*time.Hour), banFor("2001:db8::1", time.Hour))
	whole := func() bool {
		got := present(ns)
		return len(got) == 3 && about(got["192.0.2.1/32"], time.Hour) &&
			about(got["198.51.100.0/24"], 2*time.Hour) && about(got["2001:db8::1/128"], time.Hour) &&
			dropRules(t, ns) == 2
	}
	waitFor(t, time.Second, "the bans written", whole)

	var restores uint64
	for _, tc := range []struct{ name, script string }{
		{"one element deleted", "delete element inet stockade banned4 { 192.0.2.1 }"},
		{"a set flushed", "flush set inet stockade banned6"},
		{"a chain flushed", "flush chain inet stockade input"},
		{"the table flushed", "flush table inet stockade"},
		{"the table deleted", "delete table inet stockade"},
		{"the ruleset flushed", "flush ruleset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nftCmd(t, ns, tc.script)
			took := waitFor(t, time.Second, "restored after "+tc.script, whole)
			t.Logf("%s: restored in %v", tc.script, took.Round(time.Millisecond))
			restores++
			// One restore per removal, however many notifications it sent.
			waitFor(t, time.Second, "counted", func() bool { return s.Stats().Restores >= restores })
		})
	}

	// Our own unban notifies too; it must not come back.
	write(t, s, unban("192.0.2.1"))
	time.Sleep(restoreDelay + restoreGap + 100*time.Millisecond) // what a wrong restore would take
	if got := present(ns); len(got) != 2 || got["192.0.2.1/32"] != 0 {
		t.Errorf("after our own unban: %v", got)
	}
	if st := s.Stats(); st.Restores != restores {
		t.Errorf("restores %d, want %d (our own unban was taken for someone else's)", st.Restores, restores)
	}
}

// TestRestoreSetOnly: nftables.service restarting reloads the admin's
// nftables.conf (flush ruleset, then the sets again, empty); the sink
// fills them again.
func TestRestoreSetOnly(t *testing.T) {
	needNft(t)
	ns := netlab.New(t, "watchso")
	conf := `flush ruleset
table ip filter {
	set blocklist { type ipv4_addr; flags interval, timeout; }
	chain in { type filter hook input priority 0; ip saddr @blocklist counter drop; }
}
`
	nftCmd(t, ns, conf)
	s := newSink(t, ns, Config{SetOnly: true, Table: "filter", Family: "ip", SetV4: "blocklist"})
	write(t, s, banFor("192.0.2.7", time.Hour))
	held := func() bool {
		got := contents(t, ns, "filter", nft.TableFamilyIPv4, "blocklist")
		return len(got) == 1 && about(got["192.0.2.7/32"], time.Hour)
	}
	waitFor(t, time.Second, "the ban written", held)
	nftCmd(t, ns, conf) // systemctl restart nftables
	took := waitFor(t, time.Second, "refilled after the admin's ruleset was loaded again", held)
	t.Logf("refilled in %v", took.Round(time.Millisecond))
}

// TestRestoreOff: NoWatch leaves others' changes alone.
func TestRestoreOff(t *testing.T) {
	needNft(t)
	ns := netlab.New(t, "nowatch")
	s := newSink(t, ns, Config{NoWatch: true})
	write(t, s, banFor("192.0.2.1", time.Hour))
	nftCmd(t, ns, "flush set inet stockade banned4")
	time.Sleep(restoreDelay + restoreGap + 100*time.Millisecond)
	if got := contents(t, ns, "stockade", nft.TableFamilyINet, "banned4"); len(got) != 0 {
		t.Errorf("restored with NoWatch: %v", got)
	}
}

// TestOpenWatches: Open, the daemon's and the enforcer's way in, starts
// the watch once its reconcile is done, and the ledger's bans come back
// after `nft flush ruleset` (systemctl restart nftables).
func TestOpenWatches(t *testing.T) {
	needNft(t)
	ns := netlab.New(t, "openwatch")
	now := time.Now()
	active := []pipeline.ActiveBan{{Target: netip.MustParsePrefix("192.0.2.9/32"), Until: now.Add(time.Hour), Rule: "sshd"}}
	s, _, err := Open(t.Context(), Config{NetNS: int(ns.Fd)}, active, now, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	held := func() bool { got := present(ns); return len(got) == 1 && about(got["192.0.2.9/32"], time.Hour) }
	waitFor(t, time.Second, "the reconciled ban", held)
	nftCmd(t, ns, "flush ruleset")
	took := waitFor(t, time.Second, "the ban back after flush ruleset", held)
	t.Logf("restored in %v", took.Round(time.Millisecond))
}

// TestRestoreBesideWrites: a restore (another program deleted one element
// of a large set) lists the set as a check does, without the sink's lock:
// bans written meanwhile do not wait for the listing.
func TestRestoreBesideWrites(t *testing.T) {
	needNft(t)
	const n = 60000
	ns := netlab.New(t, "restorebig")
	s := newSink(t, ns, Config{})
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 15), byte(i >> 7), byte(i << 1)}) }
	if err := s.Reconcile(t.Context(), bansOf(n, addr), time.Now()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if d, err := s.Repair(t.Context()); err != nil || d.Total() != 0 {
		t.Fatalf("drift %+v, %v", d, err)
	}
	took := time.Since(start)
	restores := s.Stats().Restores
	nftCmd(t, ns, "delete element inet stockade banned4 { "+addr(n/2).String()+" }")
	time.Sleep(restoreDelay + took/4) // the restore is listing
	start = time.Now()
	write(t, s, banFor("9.0.0.1", time.Hour))
	waited := time.Since(start)
	waitFor(t, 4*took+time.Second, "the element restored", func() bool { return s.Stats().Restores > restores })
	t.Logf("a listing of %d bans took %v; a write during the restore's %v", n, took, waited)
	if waited > took/5 {
		t.Errorf("a ban written during a restore waited %v for its listing (%v)", waited, took)
	}
}
