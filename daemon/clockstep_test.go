package daemon

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	nft "github.com/google/nftables"

	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/internal/netlab"
)

// shortPack bans at the first "bad from ADDR" of program testd, for 8s.
const shortPack = `pack: short
rules:
  - name: short
    formats: [syslog]
    programs: [testd]
    failregex: ['^bad from <HOST>$']
    threshold: 1
    ban: 8s
    escalate: false
`

// kernelBans reads the stockade table's IPv4 set in the network namespace
// nsFd: address → time left on its element.
func kernelBans(t testing.TB, nsFd int) map[netip.Addr]time.Duration {
	t.Helper()
	c, err := nft.New(nft.WithNetNSFd(nsFd))
	if err != nil {
		t.Fatal(err)
	}
	els, err := c.GetSetElements(&nft.Set{Table: nftTable(), Name: "banned4"})
	if err != nil {
		return nil
	}
	out := map[netip.Addr]time.Duration{}
	for _, e := range els {
		if a, ok := netip.AddrFromSlice(e.Key); ok && !e.IntervalEnd {
			out[a] = e.Expires
		}
	}
	return out
}

// TestDaemonClockStep moves the daemon's wall clock two hours forward, then
// five hours back, while it runs with an nftables sink in a namespace of
// the test's own. Through both steps a ban keeps the time it had left (in
// the ledger as in the kernel), a ban decided after a step lasts its own
// length there (ten minutes of kernel timeout, not ten minutes plus or
// minus hours), a short ban expires when it should, and an unban still
// lifts the kernel element.
func TestDaemonClockStep(t *testing.T) {
	ns := netlab.New(t, "clk")
	h := newHarness(t)
	os.WriteFile(filepath.Join(h.rules, "short.yaml"), []byte(shortPack), 0o644)
	var offset atomic.Int64
	fake := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	cfg := fileConfig(h)
	cfg.Sinks = append(cfg.Sinks, SinkConfig{NFTables: &NFTablesConfig{NetNS: int(ns.Fd)}})
	l := startLive(t, cfg, func(d *Daemon) { d.now = fake })

	attack := func(addr string) {
		for i := range 5 {
			appendFile(t, h.log, sshdLine(fake(), addr, i))
		}
	}
	short := func(addr string) {
		appendFile(t, h.log, fake().UTC().Format("2006-01-02T15:04:05.000000-07:00")+" web1 testd[9]: bad from "+addr+"\n")
	}
	inKernel := func(addr string, low, high time.Duration) {
		t.Helper()
		a := netip.MustParseAddr(addr)
		waitFor(t, 15*time.Second, addr+" in the kernel", func() bool { _, ok := kernelBans(t, int(ns.Fd))[a]; return ok })
		if left := kernelBans(t, int(ns.Fd))[a]; left < low || left > high {
			t.Errorf("%s: kernel timeout %v, want within [%v, %v]", addr, left, low, high)
		}
	}
	bannedBy := func(rule, addr string) bool { return slices.Contains(l.banned(rule), addr) }
	// lasts follows a short ban until it is gone from the ledger and the
	// kernel: both must hold it about its 8s (not drop it at a step, not
	// keep it for hours).
	lasts := func(addr string, since time.Time) {
		t.Helper()
		a := netip.MustParseAddr(addr)
		var ledger, kernel time.Duration
		waitFor(t, 25*time.Second, addr+"'s 8s ban running out", func() bool {
			if ledger == 0 && !bannedBy("short", addr) {
				ledger = time.Since(since)
			}
			if _, ok := kernelBans(t, int(ns.Fd))[a]; kernel == 0 && !ok {
				kernel = time.Since(since)
			}
			return ledger > 0 && kernel > 0
		})
		for what, took := range map[string]time.Duration{"ledger": ledger, "kernel": kernel} {
			if took < 6*time.Second || took > 15*time.Second {
				t.Errorf("%s's 8s ban lasted %v in the %s", addr, took.Round(10*time.Millisecond), what)
			}
		}
	}

	const x, y, z, v, w, u = "203.0.113.20", "203.0.113.21", "203.0.113.22", "203.0.113.23", "203.0.113.24", "203.0.113.25"
	attack(x)
	inKernel(x, 590*time.Second, 600*time.Second)
	short(v)
	vAt := time.Now()
	waitFor(t, 10*time.Second, v+" banned", func() bool { return bannedBy("short", v) })

	// Two hours forward: nothing expires early.
	offset.Add(int64(2 * time.Hour))
	waitFor(t, 10*time.Second, "the forward step noticed", func() bool { return l.metric("stockade_clock_steps_total") == 1 })
	if time.Since(vAt) < 6*time.Second && !bannedBy("short", v) {
		t.Errorf("%s's 8s ban expired at the forward step", v)
	}
	if !bannedBy("sshd", x) {
		t.Fatalf("%s's ban expired at the forward step", x)
	}
	inKernel(x, 500*time.Second, 600*time.Second)
	attack(y)
	inKernel(y, 590*time.Second, 600*time.Second)
	lasts(v, vAt)

	// Five hours back: nothing outlives its time, new bans hold.
	short(u)
	uAt := time.Now()
	waitFor(t, 10*time.Second, u+" banned", func() bool { return bannedBy("short", u) })
	offset.Add(int64(-5 * time.Hour))
	waitFor(t, 10*time.Second, "the backward step noticed", func() bool { return l.metric("stockade_clock_steps_total") == 2 })
	for _, a := range []string{x, y} {
		if !bannedBy("sshd", a) {
			t.Errorf("%s's ban lost at the backward step", a)
		}
	}
	attack(z)
	inKernel(z, 590*time.Second, 600*time.Second)
	time.Sleep(2 * saveEvery) // a tick or two: the ledger expires what ran out
	if !bannedBy("sshd", z) {
		t.Errorf("%s's ban, decided after the backward step, is gone from the ledger", z)
	}
	short(w)
	wAt := time.Now()
	waitFor(t, 10*time.Second, w+" banned", func() bool { return bannedBy("short", w) })
	lasts(u, uAt)
	lasts(w, wAt)

	// The sink's model agrees with the kernel: an unban lifts the element.
	if _, err := control.NewClient(h.socket).Do(control.Request{Op: "unban", Target: x}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, x+" out of the kernel", func() bool { _, ok := kernelBans(t, int(ns.Fd))[netip.MustParseAddr(x)]; return !ok })

	now := fake()
	for _, d := range h.decisions() {
		if d.Target.String() == z && (d.At.Before(now.Add(-time.Minute)) || d.Duration != 600) {
			t.Errorf("decision for %s at %v for %ds, want now for 600s", z, d.At, d.Duration)
		}
	}
	if n := l.metric("stockade_state_save_errors_total"); n != 0 {
		t.Errorf("%v failed saves", n)
	}
}
