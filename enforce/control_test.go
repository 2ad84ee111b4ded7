package enforce

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/stockade-ids/stockade/control"
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

// liveFirewall is a `stockade enforce` running in a namespace of the
// test's, fed by an embedded NATS server, and a sensor publishing to it.
type liveFirewall struct {
	t      *testing.T
	ns     *netlab.NS
	url    string
	sensor *nats.Publisher
	cfg    Config
	deps   Deps
	fw     *Firewall
	stop   func()
	acks   chan Ack
	fwKey  string
}

func startLive(t *testing.T) *liveFirewall {
	ns := netlab.New(t, "fw")
	srv := testservers.RunNATS(t, testservers.NATSOptions(t))
	l := &liveFirewall{t: t, ns: ns, url: srv.ClientURL(), acks: make(chan Ack, 100)}
	seed, pub, err := sign.Generate()
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := sign.NewSigner(seed)
	conn := natsconn.Config{URL: l.url, Timeout: 2 * time.Second, ReconnectWait: 20 * time.Millisecond}
	if l.sensor, err = nats.NewPublisher(nats.Config{Config: conn, Stream: "STOCKADE", Signer: signer}, testkit.Log(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.sensor.Close() })
	testkit.WaitFor(t, "the sensor connected", l.sensor.Conn().IsConnected)
	l.publish(pipeline.Decision{ID: "warmup", Action: pipeline.ActionUnban, Target: pipeline.MustTarget("192.0.2.1"), Origin: "web1", At: time.Now()})

	fwSeed, fwPub, _ := sign.Generate()
	fwSigner, _ := sign.NewSigner(fwSeed)
	l.fwKey = fwPub
	// Subscribe to the firewall's reports before it starts.
	nc, err := natsgo.Connect(l.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if _, err := nc.Subscribe(AckSubjectPrefix+"fw1", func(m *natsgo.Msg) {
		if err := sign.Verify(m.Header.Get(sign.HeaderKey), m.Data, m.Header.Get(sign.HeaderSig)); err != nil || m.Header.Get(sign.HeaderKey) != fwPub {
			t.Errorf("an ack not signed by the firewall: %v", err)
			return
		}
		var a Ack
		json.Unmarshal(m.Data, &a)
		l.acks <- a
	}); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	l.cfg = Config{StateDir: t.TempDir(), Name: "fw1", Signer: fwSigner,
		Policy:   Policy{Origins: []Origin{{Name: "web1", Key: pub}}},
		NFTables: nftables.Config{NetNS: int(ns.Fd)},
		NATS:     &bus.NATSConfig{Config: conn, Stream: "STOCKADE"}}
	l.start()
	return l
}

func (l *liveFirewall) start() {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *Firewall, 1)
	done := make(chan error, 1)
	deps := l.deps
	deps.Log, deps.Ready = testkit.Log(l.t), ready
	go func() { done <- Run(ctx, l.cfg, deps) }()
	select {
	case l.fw = <-ready:
	case err := <-done:
		l.t.Fatalf("firewall: %v", err)
	case <-time.After(20 * time.Second):
		l.t.Fatal("the firewall did not start")
	}
	var once sync.Once
	l.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				l.t.Errorf("firewall: %v", err)
			}
		})
	}
	l.t.Cleanup(l.stop)
}

func (l *liveFirewall) publish(ds ...pipeline.Decision) {
	l.t.Helper()
	if err := queue.PublishNow(l.t.Context(), l.sensor, ds); err != nil {
		l.t.Fatal(err)
	}
}

func ban(id, target string, d time.Duration) pipeline.Decision {
	now := time.Now()
	return pipeline.Decision{ID: id, Action: pipeline.ActionBan, Target: pipeline.MustTarget(target), Rule: "sshd",
		Reason: "5 failures", At: now, Duration: int64(d / time.Second), Expires: now.Add(d), Origin: "web1"}
}

// do sends one request over the firewall's real socket.
func (l *liveFirewall) do(req control.Request) (control.Reply, error) {
	return control.NewClient(l.cfg.SocketPath()).Do(req)
}

func (l *liveFirewall) must(req control.Request) control.Reply {
	l.t.Helper()
	rep, err := l.do(req)
	if err != nil {
		l.t.Fatalf("%s: %v", req.Op, err)
	}
	return rep
}

// inKernel reports whether the namespace's nftables set holds target.
func (l *liveFirewall) inKernel(target string) bool {
	out, err := exec.Command(netlab.IPCmd, "netns", "exec", l.ns.Name, "nft", "list", "set", "inet", "stockade", "banned4").CombinedOutput()
	if err != nil {
		l.t.Fatalf("nft list set: %v: %s", err, out)
	}
	return strings.Contains(string(out), target+" ") || strings.Contains(string(out), target+",") || strings.Contains(string(out), target+"/")
}

// ack waits for the firewall's report about target with verdict.
func (l *liveFirewall) ack(target, verdict string) Ack {
	l.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case a := <-l.acks:
			if a.Target == target && a.Verdict == verdict {
				return a
			}
		case <-deadline:
			l.t.Fatalf("no %s ack about %s on the bus", verdict, target)
		}
	}
}

// TestFirewallControl drives a running firewall over its real socket:
// status, bans with time left, origin and rule, an unban that overrides
// the fleet (the kernel element goes, a later ban of the target is refused,
// the override is reported on the bus and survives a restart), allow add
// (a ban it covers is lifted), reload and check.
func TestFirewallControl(t *testing.T) {
	l := startLive(t)
	const x, y = "203.0.113.7", "198.51.100.9"
	l.publish(ban("ban-x", x, time.Hour), ban("ban-y", y, 2*time.Hour))
	testkit.WaitFor(t, "both bans in the kernel", func() bool { return l.inKernel(x) && l.inKernel(y) })
	if a := l.ack(x, VerdictApplied); a.ID != "ban-x" || a.Origin != "web1" || a.Applied.IsZero() || a.Firewall != "fw1" {
		t.Fatalf("ack %+v", a)
	}

	l.checkStatusAndBans(x, y)
	l.checkOverride(x)

	// allow add lifts the ban it covers, at once.
	l.must(control.Request{Op: "allow", Action: "add", Target: "198.51.100.0/24", Comment: "partner", For: "1d"})
	testkit.WaitFor(t, "the allowlisted ban lifted", func() bool { return !l.inKernel(y) })
	if al := l.must(control.Request{Op: "allow", Action: "list"}).Allow; len(al) != 1 || al[0].Prefix.String() != "198.51.100.0/24" || al[0].Comment != "partner" || al[0].Source != "runtime" {
		t.Fatalf("allow list %+v", al)
	}
	l.checkRestart(x)
}

func (l *liveFirewall) checkStatusAndBans(x, y string) {
	t := l.t
	st := l.must(control.Request{Op: "status"}).Firewall
	if st == nil || st.Name != "fw1" || st.ActiveBans != 2 || st.Bus != "nats" || len(st.Origins) != 1 || st.Origins[0].Active != 2 || st.Verdicts["accepted"] < 2 {
		t.Fatalf("status %+v", st)
	}
	bans := l.must(control.Request{Op: "bans"}).Bans
	if len(bans) != 2 || bans[0].Target != y || bans[0].Origin != "web1" || bans[0].Rule != "sshd" || bans[0].ID != "ban-y" ||
		bans[0].Left < 7100 || bans[0].Left > 7200 || bans[1].Target != x {
		t.Fatalf("bans %+v", bans)
	}

}

// checkOverride: an unban overrides the fleet here, and is reported.
func (l *liveFirewall) checkOverride(x string) {
	t := l.t
	if _, err := l.do(control.Request{Op: "unban", Target: x}); err == nil || !strings.Contains(err.Error(), "--reason") {
		t.Fatalf("unban without a reason: %v", err)
	}
	rep := l.must(control.Request{Op: "unban", Target: x, Reason: "our office NAT"})
	if !strings.Contains(rep.Message, "unbanned 203.0.113.7 here until") || l.inKernel(x) {
		t.Fatalf("unban: %q; in kernel %v", rep.Message, l.inKernel(x))
	}
	if a := l.ack(x, VerdictOverridden); a.Action != "override" || a.Reason != "our office NAT" || a.Until.Before(time.Now().Add(50*time.Minute)) {
		t.Fatalf("override ack %+v", a)
	}
	// The sensor bans it again: refused here, and said so on the bus.
	l.publish(ban("ban-x-again", x, 3*time.Hour))
	if a := l.ack(x, VerdictOverridden); a.ID != "ban-x-again" || a.Reason != string(RefusedOverride) {
		t.Fatalf("ack of the ban refused: %+v", a)
	}
	if l.inKernel(x) {
		t.Fatal("the overridden target is in the kernel again")
	}

}

// checkRestart: reload and check, and the override and the allowlist
// after a restart.
func (l *liveFirewall) checkRestart(x string) {
	t := l.t
	l.deps.Reload = nil
	if _, err := l.do(control.Request{Op: "reload"}); err == nil {
		t.Fatal("reload with no file to read: no error")
	}

	// A restart: the override and the allowlist are in the state.
	l.stop()
	l.deps.Check = func() error { return errors.New("enforce.yaml:3:5: policy.origins[0].key: missing") }
	l.deps.Reload = func() (Protected, error) { return Protected{}, nil }
	l.start()
	st := l.must(control.Request{Op: "status"}).Firewall
	if st.Overrides != 1 || st.Allowed != 1 {
		t.Fatalf("after restart: %+v", st)
	}
	ovs := l.must(control.Request{Op: "bans", Target: x}).Overrides
	if len(ovs) != 1 || ovs[0].Reason != "our office NAT" || ovs[0].Origins[0] != "web1" {
		t.Fatalf("overrides %+v", ovs)
	}
	if rep := l.must(control.Request{Op: "reload"}); rep.Message != "reloaded" {
		t.Fatalf("reload: %+v", rep)
	}
	if _, err := l.do(control.Request{Op: "check"}); err == nil || !strings.Contains(err.Error(), "enforce.yaml:3:5") {
		t.Fatalf("check: %v", err)
	}
	if _, err := l.do(control.Request{Op: "frobnicate"}); err == nil {
		t.Fatal("an unknown request was answered")
	}
}
