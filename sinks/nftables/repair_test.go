package nftables

import (
	"os/exec"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/netlab"
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
