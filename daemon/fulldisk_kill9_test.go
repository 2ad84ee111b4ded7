package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/internal/netlab"
	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/internal/testservers"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/sign"
	"github.com/stockade-ids/stockade/pipeline/store"
	"github.com/stockade-ids/stockade/sinks/nftables"
	"github.com/stockade-ids/stockade/sources/bus"
)

// TestDaemonFullDiskKill9: with the state on a full tmpfs, a ban decided
// meanwhile reaches the kernel but not the state; the daemon is then
// killed with SIGKILL (no final save) and restarted once space is back.
// The ban is an operator's (stockade ban): unlike a ban from log lines,
// which the restart reads again from the last saved position and judges
// again, nothing decides it a second time.
// The kernel is the only one that remembers the ban: the restart adopts it
// (it stays in the kernel with the time it had left, not a new full ban,
// and the ledger counts it, logs it and saves it under the rule "adopted")
// rather than removing it, and it runs out in the kernel and the ledger
// when its time is up. Bans are 30 s so that the test sees the end.
func TestDaemonFullDiskKill9(t *testing.T) {
	if os.Getenv("STOCKADE_DAEMON_CHILD") != "" {
		t.Skip("child")
	}
	ns := netlab.New(t, "diskk9") // skips without the privileges mount needs too
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
	const ban = 30 * time.Second
	os.WriteFile(filepath.Join(h.rules, "sshd.yaml"), []byte(`pack: sshd
rules:
  - name: sshd
    formats: [syslog]
    programs: [sshd]
    failregex:
      - '^Failed password for <F-USER>.*</F-USER> from <HOST> port \d+ ssh2$'
    threshold: 5
    window: 10m
    ban: 30s
`), 0o644)
	cfgPath := filepath.Join(h.dir, "stockade.yaml")
	os.WriteFile(cfgPath, fmt.Appendf(nil, "state_dir: %s\nsocket: %s\norigin: test\nrules: [%s]\nsources:\n  - files: [%s]\nsinks:\n  - jsonl: %s\n  - nftables: {}\n",
		state, h.socket, h.rules, h.log, h.out), 0o644)

	logPath := filepath.Join(h.dir, "daemon.log")
	logs := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	defer func() {
		if t.Failed() {
			t.Logf("daemon logs:\n%s", logs())
		}
	}()
	start := func() *exec.Cmd {
		t.Helper()
		logf, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer logf.Close()
		cmd := exec.Command(netlab.IPCmd, "netns", "exec", ns.Name, os.Args[0], "-test.run=^TestDaemonChild$")
		cmd.Env = append(os.Environ(), "STOCKADE_DAEMON_CHILD="+cfgPath)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				cmd.Process.Kill()
				cmd.Wait()
			}
		})
		waitFor(t, 15*time.Second, "the daemon in its namespace", func() bool { _, err := control.NewClient(h.socket).Do(control.Request{Op: "ping"}); return err == nil })
		time.Sleep(300 * time.Millisecond) // the tailer has the file open
		return cmd
	}
	kill9 := func(cmd *exec.Cmd) {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
	metric := func(name string) float64 {
		rep, err := control.NewClient(h.socket).Do(control.Request{Op: "metrics"})
		if err != nil {
			return -1
		}
		return metricValue(rep.Metrics, name)
	}
	left := func(addr string) (time.Duration, bool) {
		d, ok := kernelBans(t, int(ns.Fd))[netip.MustParseAddr(addr)]
		return d, ok
	}
	const a, b = "203.0.113.70", "203.0.113.71"

	cmd := start()
	h.fail(a, 5)
	waitFor(t, 15*time.Second, a+" in the kernel", func() bool { _, ok := left(a); return ok })
	waitFor(t, 15*time.Second, "a save of "+a, func() bool { return metric("stockade_state_saves_total") > 0 })

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
	// Enough new windows that the database must grow, which it cannot.
	failedBefore := metric("stockade_state_save_errors_total")
	var many strings.Builder
	for i := range 2000 {
		many.WriteString(sshdLine(time.Now(), fmt.Sprintf("198.18.%d.%d", i/250, i%250), i))
	}
	appendFile(t, h.log, many.String())
	waitFor(t, 15*time.Second, "saves failing", func() bool { return metric("stockade_state_save_errors_total") > failedBefore })
	// A ban nothing can decide again after a crash (log lines whose save
	// failed are read again and judged again; an operator's ban, a
	// datagram or a decision from the bus are not).
	if rep, err := control.NewClient(h.socket).Do(control.Request{Op: "ban", Target: b, For: "30s"}); err != nil || !rep.OK {
		t.Fatalf("ban %s: %v %+v", b, err, rep)
	}
	waitFor(t, 15*time.Second, b+" in the kernel with the disk full", func() bool { _, ok := left(b); return ok })
	banned := time.Now()
	failedBefore = metric("stockade_state_save_errors_total")
	waitFor(t, 15*time.Second, b+"'s save failing", func() bool { return metric("stockade_state_save_errors_total") > failedBefore })
	kill9(cmd)

	// Space back, and the restart a while later.
	os.Remove(filler)
	time.Sleep(3 * time.Second) // so that a new full ban and the rest of the old one differ
	cmd = start()
	got, ok := left(b)
	if !ok {
		t.Fatalf("%s, banned while the disk was full, left the kernel at the restart: the ban was lost", b)
	}
	if rest := ban - time.Since(banned); got > rest+time.Second || got <= 0 {
		t.Errorf("%s has %v left in the kernel after the restart, want what was left of its ban, about %v", b, got, rest)
	}
	if _, ok := left(a); !ok {
		t.Errorf("%s, saved, is not in the kernel after the restart", a)
	}
	if n := metric("stockade_active_bans"); n != 2 {
		t.Errorf("the ledger holds %v bans after the restart, want 2 (%s saved, %s adopted)", n, a, b)
	}
	if !strings.Contains(logs(), "bans adopted from the kernel after a lost save") || !strings.Contains(logs(), "count=1") {
		t.Error("the adoption was not logged with its count")
	}
	if n := h.bans(b); n != 1 {
		t.Errorf("%s: %d decisions, want 1: an adopted ban is not sent again", b, n)
	}

	// Saved at the next commit: another SIGKILL, and the state holds it.
	// Any commit of this process holds the adoption (made as the sinks
	// opened, before the loop); a count taken here could already include
	// the last one there is.
	waitFor(t, 15*time.Second, "a save after the restart", func() bool { return metric("stockade_state_saves_total") > 0 })
	kill9(cmd)
	st, err := store.Open(state)
	if err != nil {
		t.Fatal(err)
	}
	saved, _, err := st.Load()
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	var rule string
	var until time.Time
	for _, ts := range saved.Targets {
		if ts.Target.Addr().String() == b && len(ts.Records) > 0 {
			rule, until = ts.Records[0].Rule, ts.Records[0].Expires
		}
	}
	if rule != "adopted" {
		t.Errorf("%s in the saved state: rule %q, want the ban adopted", b, rule)
	} else if d := until.Sub(banned.Add(ban)); d < -2*time.Second || d > 2*time.Second {
		t.Errorf("%s saved until %v, want about %v (the original end)", b, until, banned.Add(ban))
	}

	// They run out, in the kernel and in the ledger.
	cmd = start()
	waitFor(t, ban, "both bans run out", func() bool {
		_, ka := left(a)
		_, kb := left(b)
		return !ka && !kb && metric("stockade_active_bans") == 0
	})
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
}

// TestEnforceAdoptsKernelBans: `stockade enforce` restarting on a state
// that lost bans (its save failed before a crash) keeps the kernel's
// elements that still run, in its ledger and with the time they have, but
// removes one its policy's allowlist now holds.
func TestEnforceAdoptsKernelBans(t *testing.T) {
	ns := netlab.New(t, "enfadopt")
	const lost, allowed = "203.0.113.80", "203.0.113.81"
	// What the crashed enforcer had put in the kernel.
	prev, err := nftables.New(nftables.Config{NetNS: int(ns.Fd)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := prev.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var ds []pipeline.Decision
	for _, x := range []string{lost, allowed} {
		ds = append(ds, pipeline.Decision{ID: "lost-" + x, Action: pipeline.ActionBan, Target: pipeline.MustTarget(x), At: now, Duration: 1200, Expires: now.Add(20 * time.Minute)})
	}
	if err := prev.Write(t.Context(), ds); err != nil {
		t.Fatal(err)
	}
	prev.Close(t.Context())

	_, pub, err := sign.Generate()
	if err != nil {
		t.Fatal(err)
	}
	srv := testservers.RunNATS(t, testservers.NATSOptions(t))
	cfg := &EnforceConfig{StateDir: t.TempDir(), Name: "fw",
		Policy: PolicyConfig{Allow: []string{allowed}, Origins: []OriginConfig{{Name: "web1", Key: pub}}},
		NATS:   &bus.NATSConfig{Config: NATSConn{URL: srv.ClientURL(), Timeout: Duration(2 * time.Second)}}}
	cfg.NFTables.NetNS = int(ns.Fd)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *enforce.Firewall, 1)
	done := make(chan error, 1)
	go func() { done <- runEnforcer(ctx, cfg, testkit.Log(t), ready) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("enforce: %v", err)
		}
	}()
	var e *enforce.Firewall
	select {
	case e = <-ready:
	case err := <-done:
		t.Fatalf("enforce stopped: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("enforce not consuming after 15 s")
	}
	k := kernelBans(t, int(ns.Fd))
	if left, ok := k[netip.MustParseAddr(lost)]; !ok || left > 20*time.Minute-time.Since(now)+time.Second {
		t.Errorf("%s in the kernel after the restart: %v (%v left), want what was left of its 20 minutes", lost, ok, left)
	}
	if _, ok := k[netip.MustParseAddr(allowed)]; ok {
		t.Errorf("%s, allowlisted, was adopted", allowed)
	}
	if until, ok := e.Engine().Ledger().Active(netip.MustParsePrefix(lost+"/32"), time.Now()); !ok || until.Sub(now.Add(20*time.Minute)).Abs() > 2*time.Second {
		t.Errorf("%s in the enforcer's ledger: %v until %v, want until %v", lost, ok, until, now.Add(20*time.Minute))
	}
	if n, _ := e.Enforcer().Active(); n != 1 {
		t.Errorf("the enforcer's ledger holds %d bans, want the adopted one", n)
	}
}
