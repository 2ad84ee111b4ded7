package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/sinks/jsonl"
	"github.com/stockade-ids/stockade/sources/bus"

	"github.com/nats-io/nats.go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/internal/testservers"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/sign"
)

// busSensor is a sensor as the correlator sees it: an origin and the key
// that signs its decisions.
type busSensor struct {
	name   string
	signer *sign.Signer
}

func newBusSensor(t *testing.T, name string) busSensor {
	t.Helper()
	seed, _, err := sign.Generate()
	if err != nil {
		t.Fatal(err)
	}
	s, err := sign.NewSigner(seed)
	if err != nil {
		t.Fatal(err)
	}
	return busSensor{name: name, signer: s}
}

func (s busSensor) key() string { return s.signer.PublicKey() }

// sign is the signature of data by s's key.
func (s busSensor) sign(t *testing.T, data []byte) string {
	t.Helper()
	sig, err := s.signer.Sign(data)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// decision is the JSON of a ten-minute ban of target by origin.
func busDecision(origin, rule, target string, at time.Time) []byte {
	b, _ := json.Marshal(pipeline.Decision{ID: origin + "-" + target, Action: pipeline.ActionBan, Target: pipeline.MustTarget(target), Rule: rule,
		At: at, Duration: 600, Expires: at.Add(10 * time.Minute), Origin: origin})
	return b
}

// trusting is a policy that trusts these sensors.
func trusting(sensors ...busSensor) *PolicyConfig {
	p := &PolicyConfig{}
	for _, s := range sensors {
		p.Origins = append(p.Origins, OriginConfig{Name: s.name, Key: s.key()})
	}
	return p
}

// runCorrelator runs `stockade run` as origin "hub" reading src, its
// decisions going to h's file, until the test ends.
func runCorrelator(t *testing.T, h *daemonHarness, src SourceConfig) {
	t.Helper()
	cfg := &Config{StateDir: filepath.Join(h.dir, "state"), Socket: h.socket, Origin: "hub", Rules: []string{"default"},
		Sources: []SourceConfig{src}, Sinks: []SinkConfig{{JSONL: &jsonl.Config{Path: h.out}}}}
	d, err := New(*cfg, Deps{Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runDaemon(ctx, d) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	h.waitFor("the correlator", func() bool { _, err := control.NewClient(h.socket).Do(control.Request{Op: "ping"}); return err == nil })
}

// publishNATS sends data with the signature headers given (none when
// signer is empty).
func publishNATS(t *testing.T, nc *nats.Conn, subject string, data []byte, signer, sig string) {
	t.Helper()
	m := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	if signer != "" {
		m.Header.Set(sign.HeaderKey, signer)
		m.Header.Set(sign.HeaderSig, sig)
	}
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
}

func metricsOf(t *testing.T, h *daemonHarness) string {
	t.Helper()
	rep, err := control.NewClient(h.socket).Do(control.Request{Op: "metrics"})
	if err != nil {
		t.Fatal(err)
	}
	return rep.Metrics
}

// TestCorrelator: `stockade run` with a NATS source of decisions is a
// central correlator. Three sensors banning one address make it ban the
// address for a week (the fleet pack); its own decisions coming back over
// the bus, and raw garbage, are not judged.
func TestCorrelator(t *testing.T) {
	srv := testservers.RunNATS(t, testservers.NATSOptions(t))
	h := newHarness(t)
	web1, web2, ids1 := newBusSensor(t, "web1"), newBusSensor(t, "web2"), newBusSensor(t, "ids1")
	runCorrelator(t, h, SourceConfig{NATS: &config.NATSSource{NATSConfig: bus.NATSConfig{Config: NATSConn{URL: srv.ClientURL()}, Subject: "stockade.decisions.>"},
		BusPayload: config.BusPayload{Policy: trusting(web1, web2, ids1)}}})

	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	now := time.Now().UTC()
	hub := newBusSensor(t, "hub")
	publish := func(s busSensor, rule, target string, at time.Time) {
		t.Helper()
		b := busDecision(s.name, rule, target, at)
		publishNATS(t, nc, "stockade.decisions."+s.name+"."+rule, b, s.key(), s.sign(t, b))
	}
	// The subscription must be in place before the first message.
	testkit.WaitFor(t, "the subscription", func() bool { return srv.NumSubscriptions() > 0 })
	nc.Publish("stockade.decisions.x.y", []byte("not a decision"))
	publish(hub, "sshd", "203.0.113.30", now) // our own: ignored
	publish(web1, "sshd", "203.0.113.30", now.Add(time.Second))
	publish(web2, "nginx-scan", "203.0.113.30", now.Add(2*time.Second))
	publish(web1, "sshd", "203.0.113.31", now.Add(3*time.Second)) // two sensors only
	publish(web2, "sshd", "203.0.113.31", now.Add(4*time.Second))
	nc.Flush()
	time.Sleep(300 * time.Millisecond)
	if n := h.bans("203.0.113.30"); n != 0 {
		t.Fatalf("banned after two sensors and its own decision: %d", n)
	}
	publish(ids1, "suricata-p1", "203.0.113.30", now.Add(5*time.Second))
	nc.Flush()
	h.waitFor("the fleet ban", func() bool { return h.bans("203.0.113.30") == 1 })
	for _, x := range h.decisions() {
		if x.Target.String() == "203.0.113.30" && (x.Rule != "fleet" || x.Duration != 7*24*3600 || x.Origin != "hub") {
			t.Errorf("fleet decision %+v", x)
		}
	}
	if n := h.bans("203.0.113.31"); n != 0 {
		t.Errorf("an address two sensors banned was banned fleet-wide")
	}
	metrics := metricsOf(t, h)
	for _, want := range []string{`stockade_bus_own_decisions_total{bus="nats"} 1`, `stockade_bus_bad_messages_total{bus="nats"} 1`,
		`stockade_bus_messages_total{bus="nats"} 7`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestCorrelatorTrust: the correlator believes only what its policy
// trusts. Before, three unsigned messages claiming three sensors made it
// sign a week's ban of any address, which every firewall enforced. Now
// unsigned, forged (a signature that does not match the key named),
// wrongly keyed (a valid signature by a key other than the origin's) and
// unknown-origin decisions are refused and counted, three of each about
// one address and three origins banning it nothing; three genuine
// sensors still make a fleet ban, which names the decisions it was built
// from and who signed them.
func TestCorrelatorTrust(t *testing.T) {
	srv := testservers.RunNATS(t, testservers.NATSOptions(t))
	h := newHarness(t)
	sensors := []busSensor{newBusSensor(t, "sensorA"), newBusSensor(t, "sensorB"), newBusSensor(t, "sensorC")}
	rogue := newBusSensor(t, "rogue")
	runCorrelator(t, h, SourceConfig{NATS: &config.NATSSource{NATSConfig: bus.NATSConfig{Config: NATSConn{URL: srv.ClientURL()}, Subject: "stockade.decisions.>"},
		BusPayload: config.BusPayload{Policy: trusting(sensors...)}}})
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	testkit.WaitFor(t, "the subscription", func() bool { return srv.NumSubscriptions() > 0 })

	const victim, offender = "198.51.100.40", "198.51.100.41"
	now := time.Now().UTC()
	for i, s := range sensors {
		at := now.Add(time.Duration(i) * time.Second)
		b := busDecision(s.name, "sshd", victim, at)
		subj := "stockade.decisions." + s.name + ".sshd"
		publishNATS(t, nc, subj, b, "", "")                    // unsigned
		publishNATS(t, nc, subj, b, s.key(), rogue.sign(t, b)) // forged
		publishNATS(t, nc, subj, b, rogue.key(), rogue.sign(t, b))
		u := busDecision(fmt.Sprintf("sensor%c", 'D'+i), "sshd", victim, at)
		publishNATS(t, nc, "stockade.decisions.other.sshd", u, rogue.key(), rogue.sign(t, u))
	}
	var ids []string
	for i, s := range sensors {
		b := busDecision(s.name, "sshd", offender, now.Add(time.Duration(10+i)*time.Second))
		publishNATS(t, nc, "stockade.decisions."+s.name+".sshd", b, s.key(), s.sign(t, b))
		ids = append(ids, s.name+"-"+offender)
	}
	nc.Flush()
	// The source handles messages in order: once the genuine ban is made,
	// every message before it has been judged.
	h.waitFor("the fleet ban of the genuine offender", func() bool { return h.bans(offender) == 1 })
	if n := h.bans(victim); n != 0 {
		t.Fatalf("%s banned on untrusted decisions: %d", victim, n)
	}
	metrics := metricsOf(t, h)
	for _, reason := range []string{"unsigned", "forged", "wrong_key", "unknown_origin"} {
		if want := fmt.Sprintf(`stockade_bus_refused_total{bus="nats",reason=%q} 3`, reason); !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, x := range h.decisions() {
		if x.Target.String() != offender {
			continue
		}
		if x.Rule != "fleet" || len(x.Provenance) != 3 {
			t.Fatalf("fleet decision %+v", x)
		}
		for i, p := range x.Provenance {
			if p.ID != ids[i] || p.Origin != sensors[i].name || p.Signer != sensors[i].key() {
				t.Errorf("provenance %d: %+v, want %s from %s signed by %s", i, p, ids[i], sensors[i].name, sensors[i].key())
			}
		}
	}
}

// TestCorrelatorKafkaTrust: a Kafka source of decisions verifies them as
// a NATS one does.
func TestCorrelatorKafkaTrust(t *testing.T) {
	const topic = "stockade-decisions"
	cluster := testservers.RunKafka(t, topic, 1)
	h := newHarness(t)
	sensors := []busSensor{newBusSensor(t, "sensorA"), newBusSensor(t, "sensorB"), newBusSensor(t, "sensorC")}
	brokers := cluster.ListenAddrs()
	runCorrelator(t, h, SourceConfig{Kafka: &config.KafkaSource{KafkaConfig: bus.KafkaConfig{Config: KafkaConn{Brokers: brokers, Timeout: Duration(2 * time.Second)},
		Topic: topic, Group: "correlator"}, BusPayload: config.BusPayload{Policy: trusting(sensors...)}}})
	cl := decisionProducer(t, brokers, topic)
	const victim, offender = "198.51.100.42", "198.51.100.43"
	now := time.Now().UTC()
	var recs []*kgo.Record
	for i, s := range sensors {
		recs = append(recs, &kgo.Record{Value: busDecision(s.name, "sshd", victim, now.Add(time.Duration(i)*time.Second))})
	}
	for i, s := range sensors {
		b := busDecision(s.name, "sshd", offender, now.Add(time.Duration(10+i)*time.Second))
		recs = append(recs, &kgo.Record{Value: b, Headers: []kgo.RecordHeader{
			{Key: sign.HeaderKey, Value: []byte(s.key())}, {Key: sign.HeaderSig, Value: []byte(s.sign(t, b))}}})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the fleet ban of the genuine offender", func() bool { return h.bans(offender) == 1 })
	if n := h.bans(victim); n != 0 {
		t.Fatalf("%s banned on unsigned decisions: %d", victim, n)
	}
	if want := `stockade_bus_refused_total{bus="kafka",reason="unsigned"} 3`; !strings.Contains(metricsOf(t, h), want) {
		t.Errorf("metrics lack %s", want)
	}
}

// TestBusSourceNeedsTrust: a source of decisions that trusts no origin is
// refused at load, rather than believing every message.
func TestBusSourceNeedsTrust(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"nats decisions", "nats: {url: nats://127.0.0.1:4222, subject: stockade.decisions.>}", "sources[0].nats: policy: origins: none trusted"},
		{"kafka decisions", "kafka: {brokers: [127.0.0.1:9092], topic: d, payload: decisions}", "sources[0].kafka: policy: origins: none trusted"},
		{"bad key", "nats: {url: nats://127.0.0.1:4222, policy: {origins: [{name: web1, key: nope}]}}", `key: "nope" is not a public nkey`},
		{"lines with a policy", "nats: {url: nats://127.0.0.1:4222, payload: lines, policy: {origins: [{name: web1, key: nope}]}}", "policy: a source of lines"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig("c.yaml", []byte("sources:\n  - "+tc.src+"\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := parseConfig("c.yaml", []byte("sources:\n  - nats: {url: nats://127.0.0.1:4222, payload: lines}\n")); err != nil {
		t.Fatalf("a source of lines needs no policy: %v", err)
	}
}
