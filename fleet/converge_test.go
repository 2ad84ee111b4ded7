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
	c := newConvergeLab(t, 3)
	// The sensor follows the acks for its metrics; it expects a fourth
	// firewall that never comes.
	follow := NewFollower(FollowConfig{Config: c.conn, Every: 50 * time.Millisecond, Grace: time.Second,
		Firewalls: []string{"fw0", "fw1", "fw2", "fw-never"}}, testkit.Log(t))
	fctx, stopFollow := context.WithCancel(t.Context())
	defer stopFollow()
	go follow.Run(fctx)
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.Func(follow.Collect))

	c.publish(1, 3)
	testkit.WaitFor(t, "three firewalls acknowledging three bans each", func() bool { return c.converged(c.status(), 3) })

	// fw1 is killed; fw2's table is flushed by hand; four more bans come.
	c.fws[1].stop(t)
	if out, err := exec.Command(netlab.IPCmd, "netns", "exec", c.fws[2].ns.Name, "nft", "flush", "table", "inet", "stockade").CombinedOutput(); err != nil {
		t.Fatalf("nft flush table: %v: %s", err, out)
	}
	c.publish(4, 7)
	c.checkKilledAndFlushed(reg)

	// fw1 comes back: it reads what it missed and says so.
	c.fws[1].start(t)
	var st []Firewall
	testkit.WaitFor(t, "fw1 caught up: every firewall acknowledged all seven bans", func() bool { st = c.status(); return c.converged(st, 7) })
	for n := 1; n <= 7; n++ {
		if a := fmt.Sprintf("203.0.113.%d", n); !c.fws[1].inKernel(a) {
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

// convergeLab is TestConvergence's bus, sensor and firewalls.
type convergeLab struct {
	t      *testing.T
	nc     *natsgo.Conn
	conn   natsconn.Config
	sensor *nats.Publisher
	start  time.Time
	fws    []*convergeFW
}

// newConvergeLab starts a NATS server with the acks' stream, a sensor's
// publisher and n firewalls, each in a namespace of its own, checking
// their kernels every 200ms.
func newConvergeLab(t *testing.T, n int) *convergeLab {
	srv := testservers.RunNATS(t, testservers.NATSOptions(t))
	nc, err := natsgo.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(t.Context(), StreamConfig()); err != nil {
		t.Fatal(err)
	}
	c := &convergeLab{t: t, nc: nc, start: time.Now(),
		conn: natsconn.Config{URL: srv.ClientURL(), Timeout: 2 * time.Second, ReconnectWait: 20 * time.Millisecond}}
	seed, pub, _ := sign.Generate()
	signer, _ := sign.NewSigner(seed)
	if c.sensor, err = nats.NewPublisher(nats.Config{Config: c.conn, Stream: "STOCKADE", Signer: signer}, testkit.Log(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.sensor.Close() })
	testkit.WaitFor(t, "the sensor connected", c.sensor.Conn().IsConnected)
	c.fws = make([]*convergeFW, n)
	for i := range c.fws {
		fwSeed, _, _ := sign.Generate()
		fwSigner, _ := sign.NewSigner(fwSeed)
		ns := netlab.New(t, fmt.Sprintf("conv%d", i))
		fw := &convergeFW{ns: ns, cfg: enforce.Config{StateDir: t.TempDir(), Name: fmt.Sprintf("fw%d", i), Signer: fwSigner,
			Policy:   enforce.Policy{Origins: []enforce.Origin{{Name: "web1", Key: pub}}},
			NFTables: nftables.Config{NetNS: int(ns.Fd)}, NATS: &bus.NATSConfig{Config: c.conn, Stream: "STOCKADE"},
			RepairEvery: 200 * time.Millisecond}}
		fw.start(t)
		t.Cleanup(func() { fw.stop(t) })
		c.fws[i] = fw
	}
	return c
}

// bans are web1's bans of 203.0.113.from to .to, ids prefix<n>.
func bans(prefix string, from, to int) []pipeline.Decision {
	var ds []pipeline.Decision
	for n := from; n <= to; n++ {
		at := time.Now()
		ds = append(ds, pipeline.Decision{ID: fmt.Sprintf("%s%d", prefix, n), Action: pipeline.ActionBan, Target: pipeline.MustTarget(fmt.Sprintf("203.0.113.%d", n)),
			Rule: "sshd", At: at, Duration: 3600, Expires: at.Add(time.Hour), Origin: "web1"})
	}
	return ds
}

func (c *convergeLab) publish(from, to int) {
	c.t.Helper()
	if err := queue.PublishNow(c.t.Context(), c.sensor, bans("d", from, to)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *convergeLab) status() []Firewall {
	time.Sleep(50 * time.Millisecond) // WaitFor polls every 5ms: each reading takes two consumers
	st, _, err := Status(c.t.Context(), c.nc, "STOCKADE", c.start.Add(-time.Minute), time.Now())
	if err != nil {
		c.t.Fatal(err)
	}
	return st
}

// converged: every firewall applied want bans and misses none.
func (c *convergeLab) converged(st []Firewall, want int) bool {
	if len(st) != len(c.fws) {
		return false
	}
	for _, f := range st {
		if f.Applied != want || f.Missing != 0 || f.Lag != 0 {
			return false
		}
	}
	return true
}

// checkKilledAndFlushed: with fw1 killed and fw2's table flushed, the
// status shows fw1 behind with four bans missing, fw2's drift repaired
// (its drop rules back, every ban in its kernel), and the sensor's
// metrics say the same.
func (c *convergeLab) checkKilledAndFlushed(reg *prometheus.Registry) {
	t := c.t
	var st []Firewall
	testkit.WaitFor(t, "fw0 and fw2 with seven bans applied, fw2's drift repaired, fw1 missing four", func() bool {
		st = c.status()
		return len(st) == 3 && st[0].Applied == 7 && st[2].Applied == 7 && st[2].Repaired >= 1 && st[1].Missing == 4
	})
	if f := st[1]; f.Applied != 3 || f.Lag <= 0 || f.Behind <= 0 {
		t.Fatalf("fw1, killed: %+v; want 3 applied, 4 missing, a lag", f)
	}
	if f := st[0]; f.Missing != 0 || f.Lag != 0 || f.Repaired != 0 {
		t.Fatalf("fw0, untouched: %+v", f)
	}
	testkit.WaitFor(t, "fw1, and fw1 alone, behind by more than a second", func() bool {
		st = c.status()
		return Behind(st, time.Second) == 1 && st[1].Lag > time.Second && Behind(st, 0) == 1
	})
	logStatus(t, "fw1 killed, fw2's table flushed", st, 7)
	testkit.WaitFor(t, "the sensor's metrics: fw1 and fw-never behind", func() bool {
		return gauge(t, reg, "stockade_fleet_firewalls_behind", "") == 2 && gauge(t, reg, "stockade_fleet_firewall_lag_seconds", "fw1") > 1 &&
			gauge(t, reg, "stockade_fleet_firewall_missing_decisions", "fw1") == 4 && gauge(t, reg, "stockade_fleet_firewall_missing_decisions", "fw-never") == 7
	})
	if g := gauge(t, reg, "stockade_fleet_firewall_lag_seconds", "fw0"); g != 0 {
		t.Fatalf("fw0's lag %v, want 0", g)
	}
	// The flush left the sets and took the drop rules: the repair put
	// them back.
	if out, _ := exec.Command(netlab.IPCmd, "netns", "exec", c.fws[2].ns.Name, "nft", "list", "table", "inet", "stockade").CombinedOutput(); !regexp.MustCompile(`ip saddr @banned4 .*drop`).Match(out) {
		t.Fatalf("fw2's drop rule is not back after its table was flushed:\n%s", out)
	}
	for n := 1; n <= 7; n++ {
		if a := fmt.Sprintf("203.0.113.%d", n); !c.fws[2].inKernel(a) || !c.fws[0].inKernel(a) {
			t.Fatalf("%s is not in fw0's and fw2's kernels (fw2's repaired after its flush)", a)
		}
	}
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
