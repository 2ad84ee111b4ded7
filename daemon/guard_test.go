package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	nft "github.com/google/nftables"
	"github.com/nats-io/nats.go"
	"go4.org/netipx"

	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/internal/netlab"
	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/protect"
)

// kernelSet lists the CIDR blocks a set of our table in nsFd holds,
// sorted (nil when the set is not there).
func kernelSet(t testing.TB, nsFd int, set string) []string {
	t.Helper()
	c, err := nft.New(nft.WithNetNSFd(nsFd))
	if err != nil {
		t.Fatal(err)
	}
	els, err := c.GetSetElements(&nft.Set{Table: nftTable(), Name: set})
	if err != nil {
		return nil
	}
	var starts, ends []netip.Addr
	for _, e := range els {
		if a, ok := netip.AddrFromSlice(e.Key); ok {
			if e.IntervalEnd {
				ends = append(ends, a)
			} else {
				starts = append(starts, a)
			}
		}
	}
	slices.SortFunc(starts, netip.Addr.Compare)
	slices.SortFunc(ends, netip.Addr.Compare)
	// Each start runs to the first end after it, or up to the next start
	// when that comes first (the kernel keeps no end element between
	// adjacent intervals), or to the last address.
	var out []string
	for i, from := range starts {
		var last netip.Addr
		j, _ := slices.BinarySearchFunc(ends, from.Next(), netip.Addr.Compare)
		switch {
		case j < len(ends) && (i+1 >= len(starts) || !starts[i+1].Less(ends[j])):
			last = ends[j].Prev()
		case i+1 < len(starts):
			last = starts[i+1].Prev()
		case from.Is4():
			last = netip.MustParseAddr("255.255.255.255")
		default:
			last = netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
		}
		for _, p := range netipx.IPRangeFrom(from, last).Prefixes() {
			out = append(out, p.String())
		}
	}
	slices.Sort(out)
	return out
}

// guardChild is a `stockade run` child process in ns, on the config the
// test writes, with its control socket and decisions in h.
type guardChild struct {
	t      *testing.T
	h      *daemonHarness
	ns     *netlab.NS
	cfg    string
	cmd    *exec.Cmd
	logs   syncBuffer
	logged bool
}

func (g *guardChild) write(extra string) {
	g.t.Helper()
	os.WriteFile(g.cfg, []byte(fmt.Sprintf("state_dir: %s\nsocket: %s\norigin: test\nrules: [%s]\nsources:\n  - files: [%s]\n    start: beginning\n%s",
		filepath.Join(g.h.dir, "state"), g.h.socket, g.h.rules, g.h.log, extra)), 0o644)
}

func (g *guardChild) start() {
	g.t.Helper()
	g.cmd = exec.Command(netlab.IPCmd, "netns", "exec", g.ns.Name, os.Args[0], "-test.run=^TestDaemonChild$")
	g.cmd.Env = append(os.Environ(), "STOCKADE_DAEMON_CHILD="+g.cfg)
	g.cmd.Stdout, g.cmd.Stderr = &g.logs, &g.logs
	if err := g.cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	cmd := g.cmd
	g.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	if !g.logged {
		g.logged = true
		g.t.Cleanup(func() {
			if g.t.Failed() {
				g.t.Logf("daemon's log:\n%s", g.logs.String())
			}
		})
	}
	g.h.waitFor("the daemon in its namespace", func() bool {
		_, err := control.NewClient(g.h.socket).Do(control.Request{Op: "ping"})
		return err == nil
	})
}

func (g *guardChild) stop() {
	g.t.Helper()
	g.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- g.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		g.t.Fatal("the daemon did not stop within 30s of SIGTERM")
	}
}

// ledger lists the targets the daemon holds banned, all rules.
func (g *guardChild) ledger() []string {
	g.t.Helper()
	rep, err := control.NewClient(g.h.socket).Do(control.Request{Op: "status"})
	if err != nil {
		g.t.Fatalf("status: %v", err)
	}
	var out []string
	for _, r := range rep.Status.Rules {
		out = append(out, r.BannedList...)
	}
	slices.Sort(out)
	return out
}

func waitSet(t *testing.T, ns *netlab.NS, set string, want []string, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := kernelSet(t, int(ns.Fd), set)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: kernel %s holds %v, want %v (old helper: %v)", what, set, got, want, kernelBans(t, int(ns.Fd)))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDaemonGuardWideningAndOwnAddresses: with ipv6_prefix 64, a ban
// whose /64 holds an allowlisted host or one of the host's own addresses
// is the address itself in the kernel; an address the host gains while
// stockade runs lifts the ban of it and of the /64 holding it, and is
// never banned again.
func TestDaemonGuardWideningAndOwnAddresses(t *testing.T) {
	if os.Getenv("STOCKADE_DAEMON_CHILD") != "" {
		t.Skip("child")
	}
	ns := netlab.New(t, "grdw")
	ns.IP(t, "addr", "add", "2001:db8:5::10/64", "dev", "lo", "nodad")
	h := newHarness(t)
	g := &guardChild{t: t, h: h, ns: ns, cfg: filepath.Join(h.dir, "stockade.yaml")}
	g.write(fmt.Sprintf("allow: [\"2001:db8:7::20\"]\nsinks:\n  - jsonl: %s\n  - nftables: {ipv6_prefix: 64}\n", h.out))
	g.start()
	for _, a := range []string{"2001:db8:5::1", "2001:db8:7::1", "2001:db8:8::1", "2001:db8:9::1"} {
		h.fail(a, 5)
	}
	waitSet(t, ns, "banned6", []string{"2001:db8:5::1/128", "2001:db8:7::1/128", "2001:db8:8::/64", "2001:db8:9::/64"},
		"bans next to the host's 2001:db8:5::10 and the allowlisted 2001:db8:7::20")

	ns.IP(t, "addr", "add", "2001:db8:9::1/64", "dev", "lo", "nodad")
	waitSet(t, ns, "banned6", []string{"2001:db8:5::1/128", "2001:db8:7::1/128", "2001:db8:8::/64"},
		"after the host gained 2001:db8:9::1")
	if l := g.ledger(); slices.Contains(l, "2001:db8:9::1") {
		t.Fatalf("the ledger still bans the host's new address: %v", l)
	}
	h.fail("2001:db8:9::1", 5)
	h.fail("203.0.113.70", 5) // a sentinel: once it is banned, the lines before it were judged
	waitSet(t, ns, "banned4", []string{"203.0.113.70/32"}, "the sentinel")
	// The first ban was the engine's /64 (IPv6 failures count by /64):
	// one ban decision covering the address, never a second.
	if n := h.bans("2001:db8:9::/64") + h.bans("2001:db8:9::1"); n != 1 {
		t.Fatalf("the host's own address was banned again: %d ban decisions", n)
	}
	waitSet(t, ns, "banned6", []string{"2001:db8:5::1/128", "2001:db8:7::1/128", "2001:db8:8::/64"}, "after more lines naming the host")
	g.stop()
}

// TestDaemonOwnAddressAddedLive: an address the host gains while stockade
// runs loses its ban at once (ledger and kernel) and is never banned
// again; the host does not cut itself off.
func TestDaemonOwnAddressAddedLive(t *testing.T) {
	if os.Getenv("STOCKADE_DAEMON_CHILD") != "" {
		t.Skip("child")
	}
	ns := netlab.New(t, "grdo")
	h := newHarness(t)
	g := &guardChild{t: t, h: h, ns: ns, cfg: filepath.Join(h.dir, "stockade.yaml")}
	g.write(fmt.Sprintf("sinks:\n  - jsonl: %s\n  - nftables: {}\n", h.out))
	g.start()
	h.fail("203.0.113.80", 5)
	waitSet(t, ns, "banned4", []string{"203.0.113.80/32"}, "the ban")
	ns.IP(t, "addr", "add", "203.0.113.80/32", "dev", "lo")
	waitSet(t, ns, "banned4", nil, "after the host gained 203.0.113.80")
	if l := g.ledger(); len(l) != 0 {
		t.Fatalf("the ledger still bans: %v", l)
	}
	h.fail("203.0.113.80", 5)
	h.fail("203.0.113.81", 5)
	waitSet(t, ns, "banned4", []string{"203.0.113.81/32"}, "the sentinel, and no new ban of the host's address")
	if n := h.bans("203.0.113.80"); n != 1 {
		t.Fatalf("the host's own address was banned again: %d ban decisions", n)
	}
	g.stop()
}

// TestDaemonAllowlistWinsAtRestartAndReload: an address added to allow:
// loses its ban at the next start, and at `stockade reload`, in the ledger
// and the kernel; a bad config at reload changes nothing.
func TestDaemonAllowlistWinsAtRestartAndReload(t *testing.T) {
	if os.Getenv("STOCKADE_DAEMON_CHILD") != "" {
		t.Skip("child")
	}
	ns := netlab.New(t, "grda")
	h := newHarness(t)
	g := &guardChild{t: t, h: h, ns: ns, cfg: filepath.Join(h.dir, "stockade.yaml")}
	sinks := fmt.Sprintf("sinks:\n  - jsonl: %s\n  - nftables: {}\n", h.out)
	g.write(sinks)
	g.start()
	h.fail("203.0.113.60", 5)
	h.fail("203.0.113.61", 5)
	waitSet(t, ns, "banned4", []string{"203.0.113.60/32", "203.0.113.61/32"}, "both bans")
	g.stop()

	g.write("allow: [203.0.113.60]\n" + sinks)
	g.start()
	waitSet(t, ns, "banned4", []string{"203.0.113.61/32"}, "after a restart with 203.0.113.60 allowlisted")
	if l := g.ledger(); !slices.Equal(l, []string{"203.0.113.61"}) {
		t.Fatalf("ledger after the restart: %v, want 203.0.113.61 only", l)
	}

	g.write("allow: [203.0.113.60, 203.0.113.61]\n" + sinks)
	if rep, err := control.NewClient(h.socket).Do(control.Request{Op: "reload"}); err != nil || !rep.OK {
		t.Fatalf("reload: %v %+v", err, rep)
	}
	if got := kernelSet(t, int(ns.Fd), "banned4"); len(got) != 0 {
		t.Fatalf("kernel after the reload: %v", got)
	}
	if l := g.ledger(); len(l) != 0 {
		t.Fatalf("ledger after the reload: %v", l)
	}

	g.write("allow: [not-an-address]\n" + sinks)
	if _, err := control.NewClient(h.socket).Do(control.Request{Op: "reload"}); err == nil || !strings.Contains(err.Error(), "not-an-address") {
		t.Fatalf("a bad allowlist was not refused: %v", err)
	}
	h.fail("203.0.113.61", 5)
	h.fail("203.0.113.72", 5)
	waitSet(t, ns, "banned4", []string{"203.0.113.72/32"}, "the sentinel (the allowlist in force is the last good one)")
	g.stop()
}

// TestDaemonNeverBansNATSPeer: a firewall connected to the sensor's
// embedded NATS server from 10.200.0.1 is not banned by forged sshd lines
// naming that address; it stays connected.
func TestDaemonNeverBansNATSPeer(t *testing.T) {
	if os.Getenv("STOCKADE_DAEMON_CHILD") != "" {
		t.Skip("child")
	}
	lab := netlab.NewLab(t, 1)
	ns := lab.Hosts[0]
	h := newHarness(t)
	g := &guardChild{t: t, h: h, ns: ns, cfg: filepath.Join(h.dir, "stockade.yaml")}
	server := netip.AddrPortFrom(netlab.HostV4(0), 4222)
	g.write(fmt.Sprintf("nats_server: {listen: %q, store_dir: %s}\nsinks:\n  - jsonl: %s\n  - nftables: {}\n",
		server.String(), filepath.Join(h.dir, "nats"), h.out))
	g.start()
	nc := natsFrom(t, lab.Attacker, "nats://"+server.String())
	// The embedded server's peers are listed every protect.PeersEvery.
	time.Sleep(3 * protect.PeersEvery)
	peer := netlab.AttackerV4.String()
	h.fail(peer, 5)
	h.fail("203.0.113.73", 5)
	waitSet(t, ns, "banned4", []string{"203.0.113.73/32"}, "the sentinel, and no ban of the NATS peer")
	if n := h.bans(peer); n != 0 {
		t.Fatalf("the NATS peer %s was banned (%d decisions)", peer, n)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("the peer lost its connection: %v", err)
	}
	g.stop()
}

// TestDaemonRangeSparesFleet: a range rule does not ban a /24 that holds
// a host of fleet:, though its members are banned.
func TestDaemonRangeSparesFleet(t *testing.T) {
	h := newHarness(t)
	os.WriteFile(filepath.Join(h.rules, "subnet.yaml"), []byte(`pack: subnet
rules:
  - name: subnet
    range: {v4: 24}
    threshold: 2
    window: 1h
    ban: 1h
`), 0o644)
	path := filepath.Join(h.dir, "stockade.yaml")
	os.WriteFile(path, []byte(fmt.Sprintf("state_dir: %s\nsocket: %s\norigin: test\nrules: [%s]\nfleet: [198.51.100.77]\nsources:\n  - files: [%s]\n    start: beginning\nsinks:\n  - jsonl: %s\n",
		filepath.Join(h.dir, "state"), h.socket, h.rules, h.log, h.out)), 0o644)
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	startLive(t, cfg, nil)
	for _, a := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3", "203.0.113.1", "203.0.113.2"} {
		h.fail(a, 5)
	}
	h.waitFor("the range ban of 203.0.113.0/24", func() bool { return h.bans("203.0.113.0/24") == 1 })
	for _, a := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
		if h.bans(a) != 1 {
			t.Errorf("%s not banned", a)
		}
	}
	if n := h.bans("198.51.100.0/24"); n != 0 {
		t.Fatalf("198.51.100.0/24 banned though it holds the fleet's 198.51.100.77")
	}
}

// natsFrom connects a NATS client from inside ns (its socket stays there).
func natsFrom(t *testing.T, ns *netlab.NS, url string) *nats.Conn {
	t.Helper()
	var nc *nats.Conn
	if err := ns.Do(func() (err error) {
		nc, err = nats.Connect(url, nats.NoReconnect(), nats.Timeout(2*time.Second))
		return err
	}); err != nil {
		t.Fatalf("connect to %s from %s: %v", url, ns.Name, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// TestEnforceGuard is the firewall's side: with ipv6_prefix 64 a ban
// whose /64 holds the firewall's own address stays the address; an
// address added to policy.allow loses its ban at the next start, and at a
// reload (SIGHUP), in the ledger and the kernel.
func TestEnforceGuard(t *testing.T) {
	f := newFleet(t, "nats", 1)
	ns := f.lab.Hosts[0]
	ns.IP(t, "addr", "add", "2001:db8:5::10/64", "dev", "lo", "nodad")
	// The sensor lists the firewall's own address as fleet, as a sensor
	// does its firewalls': it then bans 2001:db8:5::1 alone, not the /64
	// the firewall would refuse whole, and the firewall's own widening is
	// what is tested.
	f.sensorFleet = []string{"2001:db8:5::10"}
	f.startSensor()
	path := filepath.Join(f.h.dir, "enforce.yaml")
	write := func(allow string) {
		os.WriteFile(path, []byte(fmt.Sprintf(`state_dir: %s
name: fw0
nats: {url: %q, stream: STOCKADE, timeout: 2s}
nftables: {ipv6_prefix: 64}
policy:
  allow: [%s]
  origins: [{name: web1, key: %s}]
`, filepath.Join(f.h.dir, "fw0"), f.natsSrv.ClientURL(), allow, f.pub)), 0o644)
	}
	start := func() (*enforce.Firewall, func()) {
		cfg, err := LoadEnforceConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg.NFTables.NetNS = int(ns.Fd)
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan *enforce.Firewall, 1)
		done := make(chan error, 1)
		go func() { done <- runEnforcer(ctx, cfg, testkit.Log(t), ready) }()
		select {
		case e := <-ready:
			stop := sync.OnceFunc(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("firewall: %v", err)
				}
			})
			t.Cleanup(stop)
			return e, stop
		case err := <-done:
			t.Fatalf("firewall: %v", err)
		case <-time.After(15 * time.Second):
			t.Fatal("the firewall did not start within 15s")
		}
		return nil, nil
	}
	write("")
	_, stop := start()
	for _, a := range []string{"2001:db8:5::1", "2001:db8:8::1", "203.0.113.62", "203.0.113.63"} {
		f.h.fail(a, 5)
	}
	waitSet(t, ns, "banned6", []string{"2001:db8:5::1/128", "2001:db8:8::/64"}, "the ban next to the firewall's own 2001:db8:5::10")
	waitSet(t, ns, "banned4", []string{"203.0.113.62/32", "203.0.113.63/32"}, "both IPv4 bans")
	stop()

	write("203.0.113.62")
	e, _ := start()
	waitSet(t, ns, "banned4", []string{"203.0.113.63/32"}, "after a restart with 203.0.113.62 allowlisted")
	inLedger := func(target string) bool {
		e.Enforcer().Tick() // takes the enforcer's lock: the ledger is read after any judging in flight
		return fwHolds(e, target)
	}
	if inLedger("203.0.113.62") || !inLedger("203.0.113.63") {
		t.Fatal("the ledger after the restart does not hold exactly 203.0.113.63")
	}

	write("203.0.113.62, 203.0.113.63")
	if err := e.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	waitSet(t, ns, "banned4", nil, "after the reload allowlisted 203.0.113.63")
	if inLedger("203.0.113.63") {
		t.Fatal("the ledger still holds 203.0.113.63 after the reload")
	}
	write("nonsense")
	if err := e.Reload(); err == nil || !strings.Contains(err.Error(), "nonsense") {
		t.Fatalf("a bad allowlist was not refused: %v", err)
	}
}

func fwHolds(e *enforce.Firewall, target string) bool {
	return (&firewall{e: e}).enforced(target)
}
