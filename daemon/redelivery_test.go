package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/enforce"
	fleetstatus "github.com/stockade-ids/stockade/fleet"
	"github.com/stockade-ids/stockade/internal/kafkaconn"
	"github.com/stockade-ids/stockade/internal/netlab"
	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/internal/testservers"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/sign"
	"github.com/stockade-ids/stockade/sinks/jsonl"
	kafkasink "github.com/stockade-ids/stockade/sinks/kafka"
	natssink "github.com/stockade-ids/stockade/sinks/nats"
	"github.com/stockade-ids/stockade/sources/bus"
)

// copyState replaces dst with a copy of the files of src (a state
// directory: files only).
func copyState(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.RemoveAll(dst); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	es, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFleetBanRedeliveredNATS: a correlator's fleet ban is on the bus
// once however often the sensors' decisions are delivered to it again.
// Redelivered after its state was committed (the acknowledgements lost:
// here its durable deleted, so every decision comes again), its ledger
// holds the ban and it decides nothing. Redelivered after a crash that
// rolled its state back to before the third sensor's ban (the commit
// lost, the ban already published), it decides the ban again with the
// same id (event time, rule, target and offense are the same), and
// JetStream keeps it once (Nats-Msg-Id, within the stream's duplicate
// window; past it, an enforcer refuses the copy as duplicate, see
// enforce's TestReplay).
func TestFleetBanRedeliveredNATS(t *testing.T) {
	srv, js, stream := decisionStream(t, 0, 10*time.Minute)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	sensors := []busSensor{newBusSensor(t, "web1"), newBusSensor(t, "web2"), newBusSensor(t, "ids1")}
	h := newHarness(t)
	start := func() {
		h.startWith(func(c *Config, _ *Deps) {
			c.Origin, c.Rules = "hub", []string{"default"}
			c.Sources = []SourceConfig{{NATS: &config.NATSSource{NATSConfig: bus.NATSConfig{Config: NATSConn{URL: srv.ClientURL()}, Stream: "STOCKADE", Durable: "hub"},
				BusPayload: config.BusPayload{Policy: trusting(sensors...)}}}}
			c.Sinks = []SinkConfig{{JSONL: &jsonl.Config{Path: h.out}}, {NATS: &natssink.Config{Config: NATSConn{URL: srv.ClientURL(), Timeout: Duration(2 * time.Second)},
				Stream: "STOCKADE", Subject: "stockade.decisions.{origin}.{rule}.{target}"}}}
		})
	}
	const target = "198.51.100.7"
	now := time.Now().UTC()
	publish := func(s busSensor, at time.Time) {
		t.Helper()
		b := busDecision(s.name, "sshd", target, at)
		m := &nats.Msg{Subject: "stockade.decisions." + s.name + ".sshd." + strings.ReplaceAll(target, ".", "_"), Data: b, Header: nats.Header{}}
		m.Header.Set(sign.HeaderKey, s.key())
		m.Header.Set(sign.HeaderSig, s.sign(t, b))
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	judgedAll := func(what string) {
		t.Helper()
		testkit.WaitFor(t, what, func() bool {
			c, err := stream.Consumer(ctx, "hub")
			if err != nil {
				return false
			}
			i, err := c.Info(ctx)
			return err == nil && i.NumPending == 0 && i.NumAckPending == 0 && i.Delivered.Consumer > 0
		})
	}
	// On the bus: the fleet bans the correlator published.
	published := func() uint64 {
		t.Helper()
		info, err := stream.Info(ctx, jetstream.WithSubjectFilter("stockade.decisions.hub.>"))
		if err != nil {
			t.Fatal(err)
		}
		return subjectCount(info.State.Subjects)
	}
	fleetIDs := func() []string {
		var ids []string
		for _, d := range h.decisions() {
			if d.Rule == "fleet" && d.Action == pipeline.ActionBan {
				ids = append(ids, d.ID)
			}
		}
		return ids
	}

	start()
	publish(sensors[0], now)
	publish(sensors[1], now.Add(time.Second))
	judgedAll("the correlator to take web1's and web2's bans")
	h.stop() // committed: two sensors seen
	before := filepath.Join(t.TempDir(), "state")
	copyState(t, filepath.Join(h.dir, "state"), before)

	start()
	publish(sensors[2], now.Add(2*time.Second))
	testkit.WaitFor(t, "the fleet ban on the bus", func() bool { return published() == 1 })
	judgedAll("the correlator to take ids1's ban")
	h.stop()
	first := fleetIDs()
	if len(first) != 1 {
		t.Fatalf("fleet bans %v, want one", first)
	}

	// Every decision delivered again, the state committed: nothing new.
	if err := stream.DeleteConsumer(ctx, "hub"); err != nil {
		t.Fatal(err)
	}
	start()
	judgedAll("the correlator to take the three bans again")
	h.stop() // judges what it took before it returns
	if ids := fleetIDs(); len(ids) != 1 {
		t.Fatalf("redelivered with its state committed, the correlator decided %v again", ids[1:])
	}

	// Rolled back to before the third ban, then every decision again.
	copyState(t, before, filepath.Join(h.dir, "state"))
	if err := stream.DeleteConsumer(ctx, "hub"); err != nil {
		t.Fatal(err)
	}
	start()
	testkit.WaitFor(t, "the rolled-back correlator to decide the fleet ban again", func() bool { return len(fleetIDs()) == 2 })
	judgedAll("the rolled-back correlator to take the three bans again")
	ids := fleetIDs()
	if ids[0] != ids[1] {
		t.Fatalf("decided again with id %s, first %s: the bus cannot tell the copy", ids[1], ids[0])
	}
	testkit.WaitFor(t, "the NATS sink to have the copy confirmed by the bus", func() bool {
		return strings.Contains(h.metricsText(), `stockade_sink_delivered_total{sink="nats"} 1`)
	})
	h.stop()
	if n := published(); n != 1 {
		t.Fatalf("the bus holds the fleet ban %d times, want once", n)
	}
}

func subjectCount(m map[string]uint64) uint64 {
	var n uint64
	for _, c := range m {
		n += c
	}
	return n
}

// TestFleetBanRedeliveredKafka: over Kafka nothing drops a copy on the
// way (no duplicate window), so a correlator rolled back by a crash
// between publishing a fleet ban and committing, its decisions read
// again (its group reset), puts the ban on the topic a second time, with
// the same id; the firewall reading it applies it once and refuses the
// copy as duplicate, and says so in its acks.
func TestFleetBanRedeliveredKafka(t *testing.T) {
	const decisions, fleetTopic = "stockade-decisions", "stockade-fleet"
	cluster := testservers.RunKafka(t, decisions, 3, kfake.SeedTopics(1, fleetTopic, enforce.AckTopic))
	brokers := cluster.ListenAddrs()
	conn := KafkaConn{Brokers: brokers, Timeout: Duration(2 * time.Second)}
	sensors := []busSensor{newBusSensor(t, "web1"), newBusSensor(t, "web2"), newBusSensor(t, "ids1")}
	h := newHarness(t)
	seed, hubKey, err := sign.Generate()
	if err != nil {
		t.Fatal(err)
	}
	seedFile := filepath.Join(h.dir, "hub.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	start := func(reset bool) {
		h.startWith(func(c *Config, _ *Deps) {
			c.Origin, c.Rules, c.SignKey = "hub", []string{"default"}, seedFile
			c.Sources = []SourceConfig{{Kafka: &config.KafkaSource{KafkaConfig: bus.KafkaConfig{Config: conn, Topic: decisions, Group: "hub", Reset: reset},
				BusPayload: config.BusPayload{Policy: trusting(sensors...)}}}}
			c.Sinks = []SinkConfig{{JSONL: &jsonl.Config{Path: h.out}}, {Kafka: &kafkasink.Config{Config: conn, Topic: fleetTopic}}}
		})
	}
	ns := netlab.New(t, "redeliv")
	fw := &EnforceConfig{StateDir: filepath.Join(h.dir, "fw"), Name: "fw-k",
		Policy: PolicyConfig{Origins: []OriginConfig{{Name: "hub", Key: hubKey}}},
		Kafka:  &bus.KafkaConfig{Config: conn, Topic: fleetTopic, Group: "fw-k"}}
	fw.NFTables.NetNS = int(ns.Fd)
	fwCtx, fwStop := context.WithCancel(context.Background())
	fwDone, ready := make(chan error, 1), make(chan *enforce.Firewall, 1)
	go func() { fwDone <- runEnforcer(fwCtx, fw, testkit.Log(t), ready) }()
	select {
	case <-ready:
	case err := <-fwDone:
		t.Fatalf("firewall: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("the firewall did not start")
	}
	defer func() {
		fwStop()
		if err := <-fwDone; err != nil {
			t.Errorf("firewall: %v", err)
		}
	}()
	cl := decisionProducer(t, brokers, decisions)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	const target = "198.51.100.7"
	now := time.Now().UTC()
	send := func(s busSensor, at time.Time) {
		t.Helper()
		kafkaDecisions(ctx, t, cl, []busSensor{s}, []string{target}, at)
	}
	judged := func(what string, n float64) {
		t.Helper()
		testkit.WaitForWithin(t, 30*time.Second, what, func() bool { return metricValue(h.metricsText(), "stockade_events_total") >= n })
	}
	fleetIDs := func() []string {
		var ids []string
		for _, d := range h.decisions() {
			if d.Rule == "fleet" && d.Action == pipeline.ActionBan {
				ids = append(ids, d.ID)
			}
		}
		return ids
	}
	acks := func() map[string]int {
		out := map[string]int{}
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
		defer rcancel()
		as, err := fleetstatus.KafkaRead(rctx, kafkaconn.Config{Brokers: brokers, Timeout: 2 * time.Second}, now.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			out[a.Verdict+" "+a.Reason]++
		}
		return out
	}

	start(false)
	send(sensors[0], now)
	send(sensors[1], now.Add(time.Second))
	judged("the correlator to judge web1's and web2's bans", 2)
	h.stop() // committed: two sensors seen
	before := filepath.Join(t.TempDir(), "state")
	copyState(t, filepath.Join(h.dir, "state"), before)

	start(false)
	send(sensors[2], now.Add(2*time.Second))
	testkit.WaitForWithin(t, 30*time.Second, "the firewall to apply the fleet ban", func() bool { return acks()["applied accepted"] == 1 })
	h.stop()

	// Rolled back to before the third ban; the group reset: every
	// decision again.
	copyState(t, before, filepath.Join(h.dir, "state"))
	start(true)
	testkit.WaitForWithin(t, 30*time.Second, "the rolled-back correlator to decide the fleet ban again", func() bool { return len(fleetIDs()) == 2 })
	if ids := fleetIDs(); ids[0] != ids[1] {
		t.Fatalf("decided again with id %s, first %s", ids[1], ids[0])
	}
	testkit.WaitForWithin(t, 30*time.Second, "the firewall to refuse the copy as duplicate", func() bool { return acks()["refused duplicate"] == 1 })
	h.stop()
	if got := acks(); got["applied accepted"] != 1 || got["refused duplicate"] != 1 || len(got) != 2 {
		t.Fatalf("the firewall's acks %v, want the ban applied once and its copy refused as duplicate", got)
	}
}
