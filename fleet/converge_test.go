package fleet

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/internal/metrics"
	"github.com/stockade-ids/stockade/internal/natsconn"
	"github.com/stockade-ids/stockade/internal/netlab"
	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/internal/testservers"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/sign"
	"github.com/stockade-ids/stockade/sinks/nats"
	"github.com/stockade-ids/stockade/sinks/nftables"
	"github.com/stockade-ids/stockade/sinks/queue"
	"github.com/stockade-ids/stockade/sources/bus"
)

// convergeFW is one firewall of TestConvergence: its namespace, its
// configuration (kept for its restart) and the loop running it.
type convergeFW struct {
	ns     *netlab.NS
	cfg    enforce.Config
	cancel context.CancelFunc
	done   chan error
	up     bool
	fw     *enforce.Firewall
}

func (c *convergeFW) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *enforce.Firewall, 1)
	c.cancel, c.done = cancel, make(chan error, 1)
	c.up = true
	go func() { c.done <- enforce.Run(ctx, c.cfg, enforce.Deps{Log: testkit.Log(t), Ready: ready}) }()
	select {
	case c.fw = <-ready:
	case err := <-c.done:
		t.Fatalf("%s did not start: %v", c.cfg.Name, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s not ready after 10s", c.cfg.Name)
	}
}

// stop ends the firewall's loop, as a kill of its process would (its
// state stays on disk; its consumer on the bus stays where it was).
func (c *convergeFW) stop(t *testing.T) {
	t.Helper()
	if !c.up {
		return
	}
	c.up = false
	c.cancel()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not stop within 10s", c.cfg.Name)
	}
}

// inKernel says whether addr is in the firewall's nftables set.
func (c *convergeFW) inKernel(addr string) bool {
	out, _ := exec.Command(netlab.IPCmd, "netns", "exec", c.ns.Name, "nft", "list", "set", "inet", "stockade", "banned4").CombinedOutput()
	return strings.Contains(string(out), addr)
}

// TestConvergence is issue 21's "convergence you can see", end to end: a
// sensor and three firewalls (nftables in namespaces of their own) over
// NATS. Bans flow; fw1 is killed; fw2's table is flushed by hand. `fleet
// status` (Status, what the CLI prints) shows fw1 behind with the
// decisions it missed and fw2's drift repaired; once fw1 is back it
// catches up and the whole fleet is converged.
func TestConvergence(t *testing.T) {
	srv := testservers.RunNATS(t, testservers.NATSOptions(t))
	nc, err := natsgo.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(t.Context(), StreamConfig()); err != nil {
		t.Fatal(err)
	}
	conn := natsconn.Config{URL: srv.ClientURL(), Timeout: 2 * time.Second, ReconnectWait: 20 * time.Millisecond}
	seed, pub, _ := sign.Generate()
	signer, _ := sign.NewSigner(seed)
	sensor, err := nats.NewPublisher(nats.Config{Config: conn, Stream: "STOCKADE", Signer: signer}, testkit.Log(t))
	if err != nil {
		t.Fatal(err)
	}
	defer sensor.Close()
	testkit.WaitFor(t, "the sensor connected", sensor.Conn().IsConnected)
	start := time.Now()
	ban := func(n int) pipeline.Decision {
		at := time.Now()
		return pipeline.Decision{ID: fmt.Sprintf("d%d", n), Action: pipeline.ActionBan, Target: pipeline.MustTarget(fmt.Sprintf("203.0.113.%d", n)),
			Rule: "sshd", At: at, Duration: 3600, Expires: at.Add(time.Hour), Origin: "web1"}
	}
	publish := func(from, to int) {
		t.Helper()
		var ds []pipeline.Decision
		for n := from; n <= to; n++ {
			ds = append(ds, ban(n))
		}
		if err := queue.PublishNow(t.Context(), sensor, ds); err != nil {
			t.Fatal(err)
		}
	}

	fws := make([]*convergeFW, 3)
	for i := range fws {
		fwSeed, _, _ := sign.Generate()
		fwSigner, _ := sign.NewSigner(fwSeed)
		ns := netlab.New(t, fmt.Sprintf("conv%d", i))
		fws[i] = &convergeFW{ns: ns, cfg: enforce.Config{StateDir: t.TempDir(), Name: fmt.Sprintf("fw%d", i), Signer: fwSigner,
			Policy:   enforce.Policy{Origins: []enforce.Origin{{Name: "web1", Key: pub}}},
			NFTables: nftables.Config{NetNS: int(ns.Fd)}, NATS: &bus.NATSConfig{Config: conn, Stream: "STOCKADE"},
			RepairEvery: 200 * time.Millisecond}}
		fws[i].start(t)
		defer func(c *convergeFW) { c.stop(t) }(fws[i])
	}
	status := func() []Firewall {
		time.Sleep(50 * time.Millisecond) // WaitFor polls every 5ms: each reading takes two consumers
		st, _, err := Status(t.Context(), nc, "STOCKADE", start.Add(-time.Minute), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	converged := func(st []Firewall, want int) bool {
		if len(st) != len(fws) {
			return false
		}
		for _, f := range st {
			if f.Applied != want || f.Missing != 0 || f.Lag != 0 {
				return false
			}
		}
		return true
	}

	// The sensor follows the acks for its metrics; it expects a fourth
	// firewall that never comes.
	follow := NewFollower(FollowConfig{Config: conn, Every: 50 * time.Millisecond, Grace: time.Second,
		Firewalls: []string{"fw0", "fw1", "fw2", "fw-never"}}, testkit.Log(t))
	fctx, stopFollow := context.WithCancel(t.Context())
	defer stopFollow()
	go follow.Run(fctx)
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.Func(follow.Collect))

	publish(1, 3)
	testkit.WaitFor(t, "three firewalls acknowledging three bans each", func() bool { return converged(status(), 3) })

	// fw1 is killed; fw2's table is flushed by hand; four more bans come.
	fws[1].stop(t)
	if out, err := exec.Command(netlab.IPCmd, "netns", "exec", fws[2].ns.Name, "nft", "flush", "table", "inet", "stockade").CombinedOutput(); err != nil {
		t.Fatalf("nft flush table: %v: %s", err, out)
	}
	publish(4, 7)
	var st []Firewall
	testkit.WaitFor(t, "fw0 and fw2 with seven bans applied, fw2's drift repaired, fw1 missing four", func() bool {
		st = status()
		return len(st) == 3 && st[0].Applied == 7 && st[2].Applied == 7 && st[2].Repaired >= 1 && st[1].Missing == 4
	})
	if f := st[1]; f.Applied != 3 || f.Lag <= 0 || f.Behind <= 0 {
		t.Fatalf("fw1, killed: %+v; want 3 applied, 4 missing, a lag", f)
	}
	if f := st[0]; f.Missing != 0 || f.Lag != 0 || f.Repaired != 0 {
		t.Fatalf("fw0, untouched: %+v", f)
	}
	testkit.WaitFor(t, "fw1, and fw1 alone, behind by more than a second", func() bool {
		st = status()
		return Behind(st, time.Second) == 1 && st[1].Lag > time.Second
	})
	logStatus(t, "fw1 killed, fw2's table flushed", st, 7)
	testkit.WaitFor(t, "the sensor's metrics: fw1 and fw-never behind", func() bool {
		return gauge(t, reg, "stockade_fleet_firewalls_behind", "") == 2 && gauge(t, reg, "stockade_fleet_firewall_lag_seconds", "fw1") > 1 &&
			gauge(t, reg, "stockade_fleet_firewall_missing_decisions", "fw1") == 4 && gauge(t, reg, "stockade_fleet_firewall_missing_decisions", "fw-never") == 7
	})
	if g := gauge(t, reg, "stockade_fleet_firewall_lag_seconds", "fw0"); g != 0 {
		t.Fatalf("fw0's lag %v, want 0", g)
	}
	if Behind(st, 0) != 1 {
		t.Fatalf("%d firewalls behind, want fw1 alone: %+v", Behind(st, 0), st)
	}
	// The flush left the sets and took the drop rules: the repair put
	// them back.
	if out, _ := exec.Command(netlab.IPCmd, "netns", "exec", fws[2].ns.Name, "nft", "list", "table", "inet", "stockade").CombinedOutput(); !regexp.MustCompile(`ip saddr @banned4 .*drop`).Match(out) {
		t.Fatalf("fw2's drop rule is not back after its table was flushed:\n%s", out)
	}
	for n := 1; n <= 7; n++ {
		if a := fmt.Sprintf("203.0.113.%d", n); !fws[2].inKernel(a) || !fws[0].inKernel(a) {
			t.Fatalf("%s is not in fw0's and fw2's kernels (fw2's repaired after its flush)", a)
		}
	}

	// fw1 comes back: it reads what it missed and says so.
	fws[1].start(t)
	testkit.WaitFor(t, "fw1 caught up: every firewall acknowledged all seven bans", func() bool { st = status(); return converged(st, 7) })
	for n := 1; n <= 7; n++ {
		if a := fmt.Sprintf("203.0.113.%d", n); !fws[1].inKernel(a) {
			t.Fatalf("%s is not in fw1's kernel after it caught up", a)
		}
	}
	if Behind(st, 0) != 0 {
		t.Fatalf("firewalls behind after convergence: %+v", st)
	}
	logStatus(t, "fw1 restarted", st, 7)
	testkit.WaitFor(t, "the sensor's metrics: fw-never alone behind, fw1 up to date", func() bool {
		return gauge(t, reg, "stockade_fleet_firewalls_behind", "") == 1 && gauge(t, reg, "stockade_fleet_firewall_lag_seconds", "fw1") == 0 &&
			gauge(t, reg, "stockade_fleet_firewalls", "") == 3
	})
}

// gauge is the value of name (of the series of firewall, when given) in
// reg; -1 when absent.
func gauge(t *testing.T, reg *prometheus.Registry, name, firewall string) float64 {
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if firewall == "" || (len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == firewall) {
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

// logStatus logs st as `stockade fleet status` prints it.
func logStatus(t *testing.T, when string, st []Firewall, decisions int) {
	var b strings.Builder
	Print(&b, st, decisions, time.Hour)
	t.Logf("%s: $ stockade fleet status\n%s", when, b.String())
}
