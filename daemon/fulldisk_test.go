package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/netlab"
	"github.com/stockade-ids/stockade/pipeline/store"
)

// TestDaemonFullDisk puts the state directory on a 2 MiB tmpfs and
// fills it while the daemon runs with an nftables sink in a namespace of
// the test's own. Bans keep reaching the kernel and the decisions file;
// every failed save is counted and logged; once space returns the saves
// succeed again; the database then opens and holds every ban and window,
// and a restart puts the bans back in the kernel and finishes a window.
func TestDaemonFullDisk(t *testing.T) {
	ns := netlab.New(t, "disk") // skips without the privileges mount needs too
	h := newHarness(t)
	state := filepath.Join(h.dir, "state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", state).CombinedOutput(); err != nil {
		t.Skipf("skipping: mounting a tmpfs needs CAP_SYS_ADMIN (run as root; CI does): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", state).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", state, err, out)
		}
	})
	cfg := fileConfig(h)
	cfg.Sinks = append(cfg.Sinks, SinkConfig{NFTables: &NFTablesConfig{NetNS: int(ns.Fd)}})
	inKernel := func(addr string) bool { _, ok := kernelBans(t, int(ns.Fd))[netip.MustParseAddr(addr)]; return ok }
	attack := func(addr string, n int) {
		for i := range n {
			appendFile(t, h.log, sshdLine(time.Now(), addr, i))
		}
	}
	const a, b, c, d = "203.0.113.60", "203.0.113.61", "203.0.113.62", "203.0.113.63"

	l := startLive(t, cfg, nil)
	defer func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", l.logs)
		}
	}()
	attack(a, 5)
	waitFor(t, 15*time.Second, a+" in the kernel", func() bool { return inKernel(a) })
	waitFor(t, 15*time.Second, "a save", func() bool { return l.metric("stockade_state_saves_total") > 0 })

	// Fill the filesystem.
	filler := filepath.Join(state, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the tmpfs: %v", err)
			}
			break
		}
	}
	f.Close()
	errorsBefore := l.metric("stockade_state_save_errors_total")

	// Full: enforcement goes on, the failures are counted and logged.
	attack(b, 5)
	attack(c, 5)
	attack(d, 3) // a window the store must not lose
	// Enough new windows that the database must grow, which it cannot.
	var many strings.Builder
	for i := range 2000 {
		many.WriteString(sshdLine(time.Now(), fmt.Sprintf("198.18.%d.%d", i/250, i%250), i))
	}
	appendFile(t, h.log, many.String())
	for _, x := range []string{b, c} {
		waitFor(t, 15*time.Second, x+" in the kernel with the disk full", func() bool { return inKernel(x) })
		waitFor(t, 15*time.Second, x+"'s decision written", func() bool { return h.bans(x) == 1 })
	}
	waitFor(t, 15*time.Second, "failed saves counted", func() bool { return l.metric("stockade_state_save_errors_total") >= errorsBefore+2 })
	if !strings.Contains(l.logs.String(), "saving state failed") {
		t.Error("the failed saves were not logged")
	}
	// Retried at the tick, not in a loop: a failed commit of decisions
	// retried at once made ~130 failed writes and error lines a second.
	failing := l.metric("stockade_state_save_errors_total")
	time.Sleep(2 * saveEvery)
	if n := l.metric("stockade_state_save_errors_total") - failing; n > 3 {
		t.Errorf("%v failed commits in %v with the disk full: retried in a loop, not once a %v", n, 2*saveEvery, saveEvery)
	}

	// Space returns: saves succeed again. The count is taken before: the
	// retry may succeed before the test looks, and then nothing is left
	// to save (a count taken after the removal waited for a save that
	// never came, on a loaded CI machine).
	saves := l.metric("stockade_state_saves_total")
	os.Remove(filler)
	waitFor(t, 15*time.Second, "a save after space returned", func() bool { return l.metric("stockade_state_saves_total") > saves })
	failed := l.metric("stockade_state_save_errors_total")
	time.Sleep(2 * saveEvery)
	if n := l.metric("stockade_state_save_errors_total"); n != failed {
		t.Errorf("saves still failing with space back: %v → %v", failed, n)
	}
	l.stop()

	// Nothing corrupted: the database opens and holds the bans and window.
	st, err := store.Open(state)
	if err != nil {
		t.Fatalf("the state does not open after the full disk: %v", err)
	}
	saved, bad, err := st.Load()
	st.Close()
	if err != nil || bad != 0 {
		t.Fatalf("load: %v, %d bad entries", err, bad)
	}
	var targets []string
	for _, ts := range saved.Targets {
		if len(ts.Records) > 0 {
			targets = append(targets, ts.Target.Addr().String())
		}
	}
	slices.Sort(targets)
	if strings.Join(targets, " ") != strings.Join([]string{a, b, c}, " ") {
		t.Errorf("bans in the store: %v, want %s %s %s", targets, a, b, c)
	}
	window := false
	for _, w := range saved.Windows {
		window = window || w.Addr.String() == d && len(w.Times) == 3
	}
	if !window {
		t.Errorf("%s's window of 3 failures is not in the store", d)
	}

	// A restart after the kernel lost everything (a reboot) brings the
	// bans back and finishes the window.
	nsConnDelete(t, ns)
	l = startLive(t, cfg, nil)
	for _, x := range []string{a, b, c} {
		waitFor(t, 15*time.Second, x+" back in the kernel after the restart", func() bool { return inKernel(x) })
	}
	attack(d, 2)
	waitFor(t, 15*time.Second, d+" banned at its fifth failure, across the restart", func() bool { return h.bans(d) == 1 })
}
