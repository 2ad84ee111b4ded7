package daemon

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/control"
)

// TestStatusScalesWithBans: `stockade status` runs on the daemon's loop,
// so while it is answered no line is judged. With 100,000 bans it went
// over every ban twice for each rule: with the default packs (sixty
// rules) a status held the loop for seconds. Its cost now grows with the
// bans, not with the bans times the rules: a status under the default
// packs costs about what it costs under one pack.
func TestStatusScalesWithBans(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 bans, twice")
	}
	const bans = 100_000
	targets := make([]string, bans)
	base := netip.MustParseAddr("100.64.0.0").As4()
	for i := range targets {
		a := base
		a[1] += byte(i >> 16)
		a[2], a[3] = byte(i>>8), byte(i)
		targets[i] = netip.AddrFrom4(a).String()
	}
	cost := func(packs []string) (time.Duration, int) {
		h := newHarness(t)
		h.packs = packs
		h.start()
		defer h.stop()
		c := control.NewClient(h.socket)
		rep, err := c.Do(control.Request{Op: "import", List: "big", Targets: targets})
		if err != nil || !rep.OK || rep.Import.Banned != bans {
			t.Fatalf("import: %v %+v", err, rep)
		}
		best, rules := time.Duration(1<<63-1), 0
		for range 3 {
			start := time.Now()
			rep, err := c.Do(control.Request{Op: "status"})
			if err != nil || rep.Status == nil {
				t.Fatalf("status: %v %+v", err, rep)
			}
			best, rules = min(best, time.Since(start)), len(rep.Status.Rules)
		}
		return best, rules
	}
	one, oneRules := cost(nil)
	all, allRules := cost([]string{"default"})
	ratio := float64(all) / float64(one)
	t.Logf("status with %d bans: %v under %d rule(s), %v under %d (%.1f×)", bans, one, oneRules, all, allRules, ratio)
	if allRules < 10*oneRules {
		t.Fatalf("the default packs have %d rules, the sshd pack %d: not the comparison meant", allRules, oneRules)
	}
	if ratio > 5 {
		t.Errorf("a status costs %.1f× as much under %d rules as under %d: it goes over the bans for each rule",
			ratio, allRules, oneRules)
	}
}

// TestStatusScalesWithFiles: a status lists the files each rule watches;
// each was looked for in the list before it was added, quadratic in the
// files (1.5 s of the daemon's loop for 5,000 access logs under the
// default packs). Per file, a status of 2,000 syslog files costs about
// what one of 200 does, under the default packs.
func TestStatusScalesWithFiles(t *testing.T) {
	cost := func(n int) time.Duration {
		h := newHarness(t)
		h.packs = []string{"default"} // a dozen rules read syslog
		h.files = []string{filepath.Join(h.dir, "logs", "*.log")}
		os.MkdirAll(filepath.Join(h.dir, "logs"), 0o755)
		line := time.Now().UTC().Format("2006-01-02T15:04:05.000000-07:00") + " web1 sshd[100]: Connection closed by 192.0.2.1 port 22\n"
		for i := range n {
			os.WriteFile(filepath.Join(h.dir, "logs", fmt.Sprintf("host%d.log", i)), []byte(line), 0o644)
		}
		h.start()
		defer h.stop()
		c := control.NewClient(h.socket)
		watched := func() int {
			rep, err := c.Do(control.Request{Op: "status"})
			if err != nil || rep.Status == nil || len(rep.Status.Rules) == 0 {
				t.Fatalf("status: %v %+v", err, rep)
			}
			most := 0
			for _, r := range rep.Status.Rules {
				most = max(most, len(r.FilesWatched))
			}
			return most
		}
		h.waitFor(fmt.Sprintf("%d files of the sshd rule's format", n), func() bool { return watched() == n })
		best := time.Duration(1<<63 - 1)
		for range 5 {
			start := time.Now()
			watched()
			best = min(best, time.Since(start))
		}
		return best / time.Duration(n)
	}
	few, many := cost(200), cost(2000)
	ratio := float64(many) / float64(few)
	t.Logf("status: %v a file for 200 files, %v for 2,000 (%.1f×)", few, many, ratio)
	// 1.0× measured; the search made it 3.3×.
	if ratio > 2 {
		t.Errorf("a status costs %.1f× as much per file for 2,000 files as for 200: it searches the list for each", ratio)
	}
}
