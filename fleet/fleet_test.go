package fleet

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/enforce"
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

// TestFleetStatus: a firewall acknowledges each decision it judged on the
// bus, signed; the fleet's status counts what it applied and refused (and
// why), its overrides, the time from log line to kernel, and the
// decisions it never acknowledged while it was down.
func TestFleetStatus(t *testing.T) {
	ns := netlab.New(t, "fleet")
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
	at := start.Add(-2 * time.Second) // the log line's time: two seconds before the kernel
	d := func(id string, a pipeline.Action, target string) pipeline.Decision {
		return pipeline.Decision{ID: id, Action: a, Target: pipeline.MustTarget(target), Rule: "sshd", At: at,
			Duration: 3600, Expires: at.Add(time.Hour), Origin: "web1"}
	}
	publish := func(ds ...pipeline.Decision) {
		if err := queue.PublishNow(t.Context(), sensor, ds); err != nil {
			t.Fatal(err)
		}
	}
	publish(d("a", pipeline.ActionBan, "203.0.113.7"), d("b", pipeline.ActionBan, "203.0.113.8"),
		d("c", pipeline.ActionBan, "10.1.2.3"), d("d", pipeline.ActionUnban, "203.0.113.7"))

	fwSeed, fwPub, _ := sign.Generate()
	fwSigner, _ := sign.NewSigner(fwSeed)
	cfg := enforce.Config{StateDir: t.TempDir(), Name: "fw1", Signer: fwSigner,
		Policy:   enforce.Policy{Origins: []enforce.Origin{{Name: "web1", Key: pub}}},
		NFTables: nftables.Config{NetNS: int(ns.Fd)}, NATS: &bus.NATSConfig{Config: conn, Stream: "STOCKADE"},
		RepairEvery: 100 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan *enforce.Firewall, 1), make(chan error, 1)
	go func() { done <- enforce.Run(ctx, cfg, enforce.Deps{Log: testkit.Log(t), Ready: ready}) }()
	fw := <-ready
	testkit.WaitFor(t, "two bans applied", func() bool { n, _ := fw.Enforcer().Active(); return n == 2 })
	if _, err := control.NewClient(cfg.SocketPath()).Do(control.Request{Op: "unban", Target: "203.0.113.8", Reason: "a test"}); err != nil {
		t.Fatal(err)
	}
	var acks []Ack
	testkit.WaitFor(t, "the acks of four decisions and an override", func() bool {
		acks, err = Read(t.Context(), nc, start.Add(-time.Minute))
		return err == nil && len(acks) >= 5
	})
	acks = flushAndRepair(t, ns, nc, start)
	cancel()
	<-done
	publish(d("e", pipeline.ActionBan, "203.0.113.9")) // fw1 is down: it never judges it

	ids, err := Decisions(t.Context(), nc, "STOCKADE", start.Add(-time.Minute))
	if err != nil || len(ids) != 5 {
		t.Fatalf("decisions %v, %v", ids, err)
	}
	acks, _ = Read(t.Context(), nc, start.Add(-time.Minute))
	st := Summarize(acks, ids, time.Now())
	if len(st) != 1 {
		t.Fatalf("status %+v", st)
	}
	f := st[0]
	if f.Name != "fw1" || f.Judged != 4 || f.Applied != 2 || f.Refused != 2 || f.Reasons["private_or_reserved"] != 1 ||
		f.Reasons["unban_not_allowed"] != 1 || len(f.Overrides) != 1 || f.Overrides[0].Target != "203.0.113.8" || f.Missing != 1 || f.Repaired != 1 {
		t.Fatalf("fw1: %+v", f)
	}
	if len(f.Signers) != 1 || f.Signers[0] != fwPub {
		t.Fatalf("acks signed by %q, want the firewall's key", f.Signers)
	}
	if f.Latency.N != 2 || f.Latency.P50 < 2*time.Second || f.Latency.Max > time.Minute {
		t.Fatalf("line to kernel %+v, want about 2s for the 2 bans applied", f.Latency)
	}

	checkWhy(t, nc, acks, start)
}

// checkWhy: why is each address blocked on fw1, or not?
func checkWhy(t *testing.T, nc *natsgo.Conn, acks []Ack, start time.Time) {
	for _, tc := range []struct{ addr, state, detail string }{
		{"203.0.113.7", "blocked", "203.0.113.7 banned by web1 (decision a)"}, // its unban was refused
		{"203.0.113.8", "overridden", "lifted 203.0.113.8 until"},
		{"10.1.2.3", "not blocked", "refused: private_or_reserved"},
		{"203.0.113.9", "never judged", "decision e (ban 203.0.113.9 from web1) not acknowledged"},
		{"198.51.100.1", "not blocked", "no decision about it"},
	} {
		addr := pipeline.MustTarget(tc.addr).Prefix
		about, err := About(t.Context(), nc, "STOCKADE", start.Add(-time.Minute), addr)
		if err != nil {
			t.Fatal(err)
		}
		why := WhyAbout(acks, about, addr, time.Now())
		if len(why) != 1 || why[0].State != tc.state || !strings.Contains(why[0].Detail, tc.detail) {
			t.Fatalf("why %s: %+v, want %s: %s", tc.addr, why, tc.state, tc.detail)
		}
	}
}

// flushAndRepair: an administrator flushes the firewall's set by hand; the
// next check puts the ban back, and says so on the bus.
func flushAndRepair(t *testing.T, ns *netlab.NS, nc *natsgo.Conn, start time.Time) []Ack {
	var acks []Ack
	if out, err := exec.Command(netlab.IPCmd, "netns", "exec", ns.Name, "nft", "flush", "set", "inet", "stockade", "banned4").CombinedOutput(); err != nil {
		t.Fatalf("nft flush: %v: %s", err, out)
	}
	testkit.WaitFor(t, "the drift repaired and reported", func() bool {
		var err error
		if acks, err = Read(t.Context(), nc, start.Add(-time.Minute)); err != nil {
			return false
		}
		for _, a := range acks {
			if a.Verdict == enforce.VerdictRepaired {
				return true
			}
		}
		return false
	})
	if out, _ := exec.Command(netlab.IPCmd, "netns", "exec", ns.Name, "nft", "list", "set", "inet", "stockade", "banned4").CombinedOutput(); !strings.Contains(string(out), "203.0.113.7") {
		t.Fatalf("the ban is not back in the kernel:\n%s", out)
	}
	return acks
}
