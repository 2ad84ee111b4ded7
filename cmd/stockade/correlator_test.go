package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/internal/testservers"
	"github.com/stockade-ids/stockade/pipeline"
)

// TestCorrelator: `stockade run` with a NATS source of decisions is a
// central correlator. Three sensors banning one address make it ban the
// address for a week (the fleet pack); its own decisions coming back over
// the bus, and raw garbage, are not judged.
func TestCorrelator(t *testing.T) {
	srv := testservers.RunNATS(t, testservers.NATSOptions(t))
	h := newHarness(t)
	cfg := &Config{StateDir: filepath.Join(h.dir, "state"), Socket: h.socket, Origin: "hub", Rules: []string{"default"},
		Sources: []SourceConfig{{NATS: &NATSSourceConfig{NATSConn: NATSConn{URL: srv.ClientURL()}, Subject: "stockade.decisions.>"}}},
		Sinks:   []SinkConfig{{JSONL: h.out}}}
	d, err := newDaemon(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	h.waitFor("the correlator", func() bool { _, err := call(h.socket, ctlReq{Op: "ping"}); return err == nil })

	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	now := time.Now().UTC()
	publish := func(origin, rule, target string, at time.Time) {
		t.Helper()
		b, _ := json.Marshal(pipeline.Decision{ID: origin + target, Action: pipeline.ActionBan, Target: target, Rule: rule,
			At: at, Duration: 600, Expires: at.Add(10 * time.Minute), Origin: origin})
		if err := nc.Publish("stockade.decisions."+origin+"."+rule, b); err != nil {
			t.Fatal(err)
		}
	}
	// The subscription must be in place before the first message.
	testkit.WaitFor(t, "the subscription", func() bool { return srv.NumSubscriptions() > 0 })
	nc.Publish("stockade.decisions.x.y", []byte("not a decision"))
	publish("hub", "sshd", "203.0.113.30", now) // our own: ignored
	publish("web1", "sshd", "203.0.113.30", now.Add(time.Second))
	publish("web2", "nginx-scan", "203.0.113.30", now.Add(2*time.Second))
	publish("web1", "sshd", "203.0.113.31", now.Add(3*time.Second)) // two sensors only
	publish("web2", "sshd", "203.0.113.31", now.Add(4*time.Second))
	nc.Flush()
	time.Sleep(300 * time.Millisecond)
	if n := h.bans("203.0.113.30"); n != 0 {
		t.Fatalf("banned after two sensors and its own decision: %d", n)
	}
	publish("ids1", "suricata-p1", "203.0.113.30", now.Add(5*time.Second))
	nc.Flush()
	h.waitFor("the fleet ban", func() bool { return h.bans("203.0.113.30") == 1 })
	for _, x := range h.decisions() {
		if x.Target == "203.0.113.30" && (x.Rule != "fleet" || x.Duration != 7*24*3600 || x.Origin != "hub") {
			t.Errorf("fleet decision %+v", x)
		}
	}
	if n := h.bans("203.0.113.31"); n != 0 {
		t.Errorf("an address two sensors banned was banned fleet-wide")
	}
	rep, err := call(h.socket, ctlReq{Op: "metrics"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`stockade_bus_own_decisions_total{bus="nats"} 1`, `stockade_bus_bad_messages_total{bus="nats"} 1`,
		`stockade_bus_messages_total{bus="nats"} 7`} {
		if !strings.Contains(rep.Metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
