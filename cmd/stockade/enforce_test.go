package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/fleet"
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

// TestEnforceCLI runs the firewall's control commands, as an admin types
// them, against a running firewall over its real socket (nftables in a
// namespace, decisions from an embedded NATS server).
func TestEnforceCLI(t *testing.T) {
	ns := netlab.New(t, "cli")
	srv := testservers.RunNATS(t, testservers.NATSOptions(t))
	conn := natsconn.Config{URL: srv.ClientURL(), Timeout: 2 * time.Second}
	nc, err := natsgo.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(t.Context(), fleet.StreamConfig()); err != nil {
		t.Fatal(err)
	}
	seed, pub, _ := sign.Generate()
	signer, _ := sign.NewSigner(seed)
	sensor, err := nats.NewPublisher(nats.Config{Config: conn, Stream: "STOCKADE", Signer: signer}, testkit.Log(t))
	if err != nil {
		t.Fatal(err)
	}
	defer sensor.Close()
	testkit.WaitFor(t, "the sensor connected", sensor.Conn().IsConnected)
	now := time.Now()
	ban := func(id, target string, d time.Duration) pipeline.Decision {
		return pipeline.Decision{ID: id, Action: pipeline.ActionBan, Target: pipeline.MustTarget(target), Rule: "sshd",
			At: now, Duration: int64(d / time.Second), Expires: now.Add(d), Origin: "web1"}
	}
	if err := queue.PublishNow(t.Context(), sensor, []pipeline.Decision{ban("a", "203.0.113.7", time.Hour), ban("b", "198.51.100.9", 2*time.Hour)}); err != nil {
		t.Fatal(err)
	}
	cfg := enforce.Config{StateDir: t.TempDir(), Name: "fw-edge1", Policy: enforce.Policy{Origins: []enforce.Origin{{Name: "web1", Key: pub}}},
		NFTables: nftables.Config{NetNS: int(ns.Fd)}, NATS: &bus.NATSConfig{Config: conn, Stream: "STOCKADE"}}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan *enforce.Firewall, 1), make(chan error, 1)
	go func() { done <- enforce.Run(ctx, cfg, enforce.Deps{Log: testkit.Log(t), Ready: ready}) }()
	defer func() {
		cancel()
		<-done
	}()
	var fw *enforce.Firewall
	select {
	case fw = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	testkit.WaitFor(t, "both bans", func() bool { n, _ := fw.Enforcer().Active(); return n == 2 })
	sock := cfg.SocketPath()
	cli := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(t.Context(), append(append([]string{"enforce"}, args...), "--socket", sock), &out, &errb)
		return out.String() + errb.String(), err
	}
	for _, step := range []struct {
		args []string
		want []string
		fail bool
	}{
		{args: []string{"status"}, want: []string{"Firewall fw-edge1 (nats)", "Active bans:\t2", "web1: 2 active", "accepted=2"}},
		{args: []string{"bans"}, want: []string{"TARGET", "198.51.100.9  web1    sshd  1h59m", "203.0.113.7   web1    sshd  59m"}},
		{args: []string{"unban", "203.0.113.7"}, fail: true, want: []string{"--reason"}},
		{args: []string{"unban", "203.0.113.7", "--reason", "our office NAT"}, want: []string{"unbanned 203.0.113.7 here until"}},
		{args: []string{"bans", "203.0.113.0/24"}, want: []string{"Overridden here", "203.0.113.7", "web1", "our office NAT"}},
		{args: []string{"allow", "add", "198.51.100.0/24", "--comment", "partner"}, want: []string{"allowed 198.51.100.0/24"}},
		{args: []string{"allow", "list"}, want: []string{"198.51.100.0/24", "partner"}},
		{args: []string{"reload"}, fail: true, want: []string{"no configuration file"}},
		{args: []string{"check"}, fail: true, want: []string{"no configuration file to check"}},
	} {
		out, err := cli(step.args...)
		if (err != nil) != step.fail {
			t.Fatalf("%v: err %v\n%s", step.args, err, out)
		}
		if err != nil {
			out += err.Error()
		}
		for _, w := range step.want {
			if !strings.Contains(out, w) {
				t.Fatalf("stockade enforce %s:\n%s\nwants %q", strings.Join(step.args, " "), out, w)
			}
		}
		t.Logf("$ stockade enforce %s\n%s", strings.Join(step.args, " "), out)
	}
	testkit.WaitFor(t, "the allowlisted ban lifted", func() bool { n, _ := fw.Enforcer().Active(); return n == 0 })

	// The fleet's view of it, from its acks on the bus.
	var out, errb bytes.Buffer
	testkit.WaitFor(t, "fleet status", func() bool {
		out.Reset()
		err := run(t.Context(), []string{"fleet", "status", "--nats", srv.ClientURL()}, &out, &errb)
		return err == nil && strings.Contains(out.String(), "overrode 203.0.113.7")
	})
	for _, w := range []string{"2 decisions on the bus", "fw-edge1", "overrode 203.0.113.7 until", "our office NAT"} {
		if !strings.Contains(out.String(), w) {
			t.Fatalf("stockade fleet status:\n%s\nwants %q", out.String(), w)
		}
	}
	t.Logf("$ stockade fleet status\n%s", out.String())
	for _, tc := range []struct{ addr, want string }{
		{"203.0.113.7", "fw-edge1: overridden: its administrator lifted 203.0.113.7 until"},
		{"198.51.100.9", "fw-edge1: not blocked: 198.51.100.9 lifted here: protected"}, // by allow add
	} {
		out.Reset()
		if err := run(t.Context(), []string{"fleet", "why", tc.addr, "--nats", srv.ClientURL()}, &out, &errb); err != nil || !strings.Contains(out.String(), tc.want) {
			t.Fatalf("stockade fleet why %s: %v\n%s\nwants %q", tc.addr, err, out.String(), tc.want)
		}
		t.Logf("$ stockade fleet why %s\n%s", tc.addr, out.String())
	}
}
