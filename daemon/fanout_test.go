package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	natssink "github.com/stockade-ids/stockade/sinks/nats"
	"github.com/stockade-ids/stockade/sources/bus"
	"github.com/stockade-ids/stockade/sources/tail"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/internal/netlab"
	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/internal/testservers"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/sign"
	kafkasink "github.com/stockade-ids/stockade/sinks/kafka"
	"github.com/stockade-ids/stockade/sinks/queue"
)

const fanoutTopic = "stockade-decisions"

// fleet is one sensor and several firewalls around one bus, each firewall
// in a network namespace of its own.
type fleet struct {
	t    testing.TB
	kind string // "nats" or "kafka"
	lab  *netlab.Lab
	h    *daemonHarness // the sensor's log, socket and packs
	seed string         // the sensor's signing key file
	pub  string

	natsOpts *server.Options
	natsSrv  *server.Server
	kafka    *kfake.Cluster
	kdata    string
	kport    int

	sensorStop func()
	fw         []*firewall
	// unlimited lifts the firewalls' rate and active limits on the sensor
	// (benchmarks send more than 120 bans a minute).
	unlimited bool
	// sensorFleet is the sensor's fleet: list, the firewalls' addresses:
	// the sensor never bans them, nor a range (an IPv6 /64) that holds
	// one, which the firewalls would refuse whole.
	sensorFleet []string
	// tune, when set, changes each firewall's configuration before it starts.
	tune func(*EnforceConfig)
	// sensorTune, when set, changes the sensor's before it starts.
	sensorTune func(*Config)
}

type firewall struct {
	cfg  *EnforceConfig
	e    *enforce.Firewall
	stop func()
}

func newFleet(t testing.TB, kind string, hosts int) *fleet {
	f := &fleet{t: t, kind: kind, lab: netlab.NewLab(t, hosts), h: newHarness(t)}
	seed, pub, err := sign.Generate()
	if err != nil {
		t.Fatal(err)
	}
	f.seed, f.pub = filepath.Join(f.h.dir, "sensor.nk"), pub
	os.WriteFile(f.seed, seed, 0o600)
	switch kind {
	case "nats":
		f.natsOpts = testservers.NATSOptions(t)
		f.natsSrv = testservers.RunNATS(t, f.natsOpts)
		f.natsOpts.Port = testservers.NATSPort(f.natsSrv) // a restart comes back on it
	case "kafka":
		f.kdata = t.TempDir()
		f.kafka = testservers.RunKafka(t, fanoutTopic, 3, kfake.DataDir(f.kdata))
		_, p, _ := net.SplitHostPort(f.kafka.ListenAddrs()[0])
		f.kport, _ = strconv.Atoi(p)
	}
	f.fw = make([]*firewall, hosts)
	return f
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startSensor runs `stockade run` on the harness log, publishing signed
// decisions to the bus.
func (f *fleet) startSensor() {
	cfg := &Config{StateDir: filepath.Join(f.h.dir, "sensor"), Socket: f.h.socket, Origin: "web1", Rules: []string{f.h.rules},
		SignKey: f.seed, Sources: []SourceConfig{{Files: &tail.FilesConfig{Files: []string{f.h.log}, Start: "beginning"}}}, Fleet: f.sensorFleet}
	switch f.kind {
	case "nats":
		cfg.Sinks = []SinkConfig{{NATS: &natssink.Config{Config: NATSConn{URL: f.natsSrv.ClientURL(), Timeout: Duration(2 * time.Second)}, Stream: "STOCKADE"}}}
	case "kafka":
		cfg.Sinks = []SinkConfig{{Kafka: &kafkasink.Config{Config: KafkaConn{Brokers: f.kafka.ListenAddrs(), Timeout: Duration(2 * time.Second)}, Topic: fanoutTopic}}}
	}
	if f.sensorTune != nil {
		f.sensorTune(cfg)
	}
	d, err := New(*cfg, Deps{Log: quiet()})
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runDaemon(ctx, d) }()
	f.h.waitFor("the sensor's control socket", func() bool {
		_, err := control.NewClient(f.h.socket).Do(control.Request{Op: "ping"})
		return err == nil
	})
	f.sensorStop = func() {
		cancel()
		if err := <-done; err != nil {
			f.t.Errorf("sensor: %v", err)
		}
	}
	f.t.Cleanup(func() {
		if f.sensorStop != nil {
			f.sensorStop()
		}
	})
}

// startFirewall runs `stockade enforce` for host i, in its namespace.
func (f *fleet) startFirewall(i int) *firewall {
	cfg := &EnforceConfig{StateDir: filepath.Join(f.h.dir, fmt.Sprintf("fw%d", i)), Name: fmt.Sprintf("fw%d", i),
		Policy: PolicyConfig{Permit: []string{"10.200.0.0/16", "fd00:200::/48"}, Origins: []OriginConfig{{Name: "web1", Key: f.pub}}}}
	if f.unlimited {
		cfg.Policy.Origins[0].MaxPerMinute, cfg.Policy.Origins[0].MaxActive = 1<<30, 1<<30
	}
	cfg.NFTables.NetNS = int(f.lab.Hosts[i].Fd)
	switch f.kind {
	case "nats":
		cfg.NATS = &bus.NATSConfig{Config: NATSConn{URL: f.natsSrv.ClientURL(), Timeout: Duration(2 * time.Second)}, Stream: "STOCKADE"}
	case "kafka":
		cfg.Kafka = &bus.KafkaConfig{Config: KafkaConn{Brokers: []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(f.kport))}, Timeout: Duration(2 * time.Second)}, Topic: fanoutTopic}
	}
	if f.tune != nil {
		f.tune(cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *enforce.Firewall, 1)
	done := make(chan error, 1)
	go func() { done <- runEnforcer(ctx, cfg, testkit.Log(f.t).With("fw", i), ready) }()
	fw := &firewall{cfg: cfg}
	select {
	case fw.e = <-ready:
	case err := <-done:
		f.t.Fatalf("firewall %d: %v", i, err)
	case <-time.After(15 * time.Second):
		f.t.Fatalf("firewall %d did not start", i)
	}
	stopped := false
	fw.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			f.t.Errorf("firewall %d: %v", i, err)
		}
	}
	f.t.Cleanup(fw.stop)
	f.fw[i] = fw
	return fw
}

// enforced reports whether firewall i holds a ban of target. It asks
// Bans, which reads the ledger under the enforcer's lock, as the control
// API does: the ledger read directly raced with the enforcer's goroutine
// (go test -race).
func (fw *firewall) enforced(target string) bool {
	p, err := pipeline.ParseTarget(target)
	if err != nil {
		return false
	}
	for _, b := range fw.e.Enforcer().Bans() {
		if b.Target == p {
			return true
		}
	}
	return false
}

// restartBus stops the broker, runs during while it is down, and brings
// it back on the same port with the same data.
func (f *fleet) restartBus(during func()) {
	switch f.kind {
	case "nats":
		f.natsSrv.Shutdown()
		f.natsSrv.WaitForShutdown()
		during()
		f.natsSrv = testservers.RunNATS(f.t, f.natsOpts)
	case "kafka":
		f.kafka.Close()
		during()
		f.kafka = testservers.RunKafka(f.t, fanoutTopic, 3, kfake.DataDir(f.kdata), kfake.Ports(f.kport))
	}
}

// TestFanOut is issue 5's definition of done, over NATS and over Kafka: a
// sensor follows a log and publishes signed bans; three firewalls, each in
// its own namespace with its own nftables, block the attacker; a firewall
// that starts after the ban, and one that lost its state and its kernel
// table, still get it; a forged decision and the sensor's unban are
// refused; a broker restart in the middle of a stream loses nothing.
func TestFanOut(t *testing.T) {
	for _, kind := range []string{"nats", "kafka"} {
		t.Run(kind, func(t *testing.T) { testFanOut(t, kind) })
	}
}

func testFanOut(t *testing.T, kind string) {
	f := newFleet(t, kind, 3)
	for i := range 3 {
		// The attacker shares the firewalls' /64: listed, the firewalls
		// keep the sensor from banning it whole.
		f.sensorFleet = append(f.sensorFleet, netlab.HostV4(i).String(), netlab.HostV6(i).String())
	}
	att4, att6 := netlab.AttackerV4, netlab.AttackerV6
	for i := range 3 {
		f.lab.Expect(t, netlab.HostV4(i), true, 3*time.Second, fmt.Sprintf("host %d before any ban", i))
	}
	f.startFirewall(0)
	f.startFirewall(1)
	f.startSensor()

	f.h.fail(att4.String(), 5)
	f.h.fail(att6.String(), 5)
	for i := range 2 {
		f.lab.Expect(t, netlab.HostV4(i), false, 15*time.Second, fmt.Sprintf("host %d after the sensor's ban (IPv4)", i))
		f.lab.Expect(t, netlab.HostV6(i), false, 5*time.Second, fmt.Sprintf("host %d after the sensor's ban (IPv6)", i))
	}

	// A firewall that was not there when the ban was decided gets it.
	f.startFirewall(2)
	f.lab.Expect(t, netlab.HostV4(2), false, 15*time.Second, "host 2, started after the ban")
	f.lab.Expect(t, netlab.HostV6(2), false, 5*time.Second, "host 2 (IPv6)")

	// A firewall that lost everything (state and kernel table: a reinstall)
	// learns every ban still active again.
	f.fw[1].stop()
	os.RemoveAll(f.fw[1].cfg.StateDir)
	nsConnDelete(t, f.lab.Hosts[1])
	f.lab.Expect(t, netlab.HostV4(1), true, 3*time.Second, "host 1 with its table gone")
	f.startFirewall(1)
	f.lab.Expect(t, netlab.HostV4(1), false, 15*time.Second, "host 1 after a reinstall")

	// A forged ban (web1's name, another key) and the sensor's own unban
	// are refused by every firewall.
	f.publishForged(t, "203.0.113.250")
	if _, err := control.NewClient(f.h.socket).Do(control.Request{Op: "unban", Target: att4.String()}); err != nil {
		t.Fatal(err)
	}
	for i, fw := range f.fw {
		testkit.WaitFor(t, fmt.Sprintf("firewall %d refusing the forgery and the unban", i), func() bool {
			c := fw.e.Enforcer().Counts()
			return c[enforce.RefusedWrongKey] >= 1 && c[enforce.RefusedUnban] >= 1
		})
		if fw.enforced("203.0.113.250") {
			t.Errorf("firewall %d enforces a forged ban", i)
		}
		f.lab.Expect(t, netlab.HostV4(i), false, 0, fmt.Sprintf("host %d after the sensor's unban", i))
	}

	// A broker restart in the middle of a stream: the sensor keeps
	// deciding while the bus is down; every decision arrives once it is up.
	const n = 20
	target := func(k int) string { return fmt.Sprintf("203.0.113.%d", 100+k) }
	for k := range n / 2 {
		f.h.fail(target(k), 5)
	}
	f.restartBus(func() {
		for k := n / 2; k < n; k++ {
			f.h.fail(target(k), 5)
		}
		time.Sleep(500 * time.Millisecond) // decided while the bus is down
	})
	for i, fw := range f.fw {
		testkit.WaitForWithin(t, 60*time.Second, fmt.Sprintf("firewall %d holding all %d bans", i, n), func() bool {
			for k := range n {
				if !fw.enforced(target(k)) {
					return false
				}
			}
			return true
		})
	}
}

// publishForged puts on the bus a ban in web1's name signed by another key.
func (f *fleet) publishForged(t testing.TB, target string) {
	seed, _, _ := sign.Generate()
	rogue, _ := sign.NewSigner(seed)
	now := time.Now()
	d := pipeline.Decision{ID: "forged-" + target, Action: pipeline.ActionBan, Target: pipeline.MustTarget(target), Rule: "sshd",
		At: now, Duration: 3600, Expires: now.Add(time.Hour), Origin: "web1"}
	switch f.kind {
	case "nats":
		data, _ := json.Marshal(d)
		sig, _ := rogue.Sign(data)
		nc, err := nats.Connect(f.natsSrv.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		m := nats.NewMsg("stockade.decisions.web1.sshd")
		m.Data = data
		m.Header.Set(sign.HeaderKey, rogue.PublicKey())
		m.Header.Set(sign.HeaderSig, sig)
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
		nc.Flush()
	case "kafka":
		p, err := kafkasink.NewPublisher(kafkasink.Config{Config: KafkaConn{Brokers: f.kafka.ListenAddrs()}, Topic: fanoutTopic, Signer: rogue}, quiet())
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := queue.PublishNow(t.Context(), p, []pipeline.Decision{d}); err != nil {
			t.Fatal(err)
		}
	}
}

// nsConnDelete removes the stockade table from ns (a reboot, a reinstall).
func nsConnDelete(t testing.TB, ns *netlab.NS) {
	t.Helper()
	c, err := nftConn(ns)
	if err != nil {
		t.Fatal(err)
	}
	c.DelTable(nftTable())
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
}
