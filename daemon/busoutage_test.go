package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	kafkasink "github.com/stockade-ids/stockade/sinks/kafka"
	natssink "github.com/stockade-ids/stockade/sinks/nats"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/stockade-ids/stockade/internal/testservers"
	"github.com/stockade-ids/stockade/pipeline"
)

// outageRun is a daemon deciding bans from a log into a JSON-lines file
// (its own record of what it decided, in order) and a bus sink.
type outageRun struct {
	t    *testing.T
	h    *daemonHarness
	l    *liveDaemon
	sink string // the bus sink's metric label
	next int
}

// attack makes the daemon decide n new bans and waits until it has.
func (o *outageRun) attack(n int) {
	o.t.Helper()
	want := len(o.h.decisions()) + n
	for range n {
		addr := fmt.Sprintf("203.0.%d.%d", 120+o.next/250, o.next%250)
		o.next++
		for i := range 5 {
			appendFile(o.t, o.h.log, sshdLine(time.Now(), addr, i))
		}
	}
	waitFor(o.t, 15*time.Second, fmt.Sprintf("%d decisions", want), func() bool { return len(o.h.decisions()) == want })
}

// decidedWhileDown spreads n bans over d while the bus is down, checking
// that they keep being decided and wait in the sink's queue.
func (o *outageRun) decidedWhileDown(n int, d time.Duration) {
	o.t.Helper()
	for i := range n {
		o.attack(1)
		time.Sleep(d / time.Duration(n))
		if i == n/2 {
			if up := o.l.metric(fmt.Sprintf("stockade_sink_up{sink=%q}", o.sink)); up != 0 {
				o.t.Errorf("sink up = %v halfway through the outage", up)
			}
		}
	}
	if q := o.l.metric(fmt.Sprintf("stockade_sink_queue_depth{sink=%q}", o.sink)); int(q) != n {
		o.t.Errorf("queue depth %v at the end of the outage, want %d", q, n)
	}
}

// drained waits for the sink's queue to empty after the outage (the sink
// retries with its default backoff, which reaches 30s in a long outage).
func (o *outageRun) drained() {
	o.t.Helper()
	waitFor(o.t, 90*time.Second, "the backlog delivered", func() bool {
		m := o.l.metrics()
		return metricValue(m, fmt.Sprintf("stockade_sink_queue_depth{sink=%q}", o.sink)) == 0 &&
			metricValue(m, fmt.Sprintf("stockade_sink_up{sink=%q}", o.sink)) == 1
	})
}

// decidedIDs are the ids of the bans decided, in the order decided.
func (o *outageRun) decidedIDs() []string {
	var ids []string
	for _, d := range o.h.decisions() {
		ids = append(ids, d.ID)
	}
	return ids
}

// TestDaemonNATSOutage: the NATS server is down for 30 seconds while the
// daemon decides a ban every second. Bans keep being decided and written
// locally, wait in the sink's queue on disk, and once the server is back
// (same port, same JetStream store) the stream holds every decision the
// daemon made, once each, in the order it made them.
func TestDaemonNATSOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("a 30-second outage: not in -short")
	}
	opts := testservers.NATSOptions(t)
	srv := testservers.RunNATS(t, opts)
	url := srv.ClientURL()
	opts.Port = testservers.NATSPort(srv)
	h := newHarness(t)
	cfg := fileConfig(h)
	cfg.Sinks = append(cfg.Sinks, SinkConfig{NATS: &natssink.Config{Config: NATSConn{URL: url, Timeout: Duration(2 * time.Second)}, Stream: "STOCKADE"}})
	o := &outageRun{t: t, h: h, l: startLive(t, cfg, nil), sink: "nats"}

	o.attack(10)
	waitFor(t, 15*time.Second, "the first decisions in the stream", func() bool { return len(testservers.NATSStreamIDs(t, url, "STOCKADE")) == 10 })

	srv.Shutdown()
	srv.WaitForShutdown()
	o.decidedWhileDown(30, 30*time.Second)
	testservers.RunNATS(t, opts)
	o.attack(10)
	o.drained()

	got, want := testservers.NATSStreamIDs(t, url, "STOCKADE"), o.decidedIDs()
	if len(want) != 50 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the stream holds %d decisions, the daemon decided %d: not the same, once each, in order\nstream: %v\ndecided: %v", len(got), len(want), got, want)
	}
}

// TestDaemonKafkaRestart: the Kafka broker stops while the daemon decides
// bans and comes back on the same port with the same data. The topic then
// holds every decision once, each target on one partition, and each
// partition in the order the daemon decided.
func TestDaemonKafkaRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("a broker outage: not in -short")
	}
	const topic = "stockade-decisions"
	data := t.TempDir()
	c := testservers.RunKafka(t, topic, 3, kfake.DataDir(data))
	brokers := c.ListenAddrs()
	_, portStr, _ := net.SplitHostPort(brokers[0])
	port, _ := strconv.Atoi(portStr)
	h := newHarness(t)
	cfg := fileConfig(h)
	cfg.Sinks = append(cfg.Sinks, SinkConfig{Kafka: &kafkasink.Config{Config: KafkaConn{Brokers: brokers, Timeout: Duration(2 * time.Second)}, Topic: topic}})
	o := &outageRun{t: t, h: h, l: startLive(t, cfg, nil), sink: "kafka"}

	o.attack(10)
	waitFor(t, 15*time.Second, "the first decisions delivered", func() bool { return o.l.metric(`stockade_sink_delivered_total{sink="kafka"}`) == 10 })
	c.Close()
	o.decidedWhileDown(10, 5*time.Second)
	c = testservers.RunKafka(t, topic, 3, kfake.DataDir(data), kfake.Ports(port))
	o.attack(5)
	o.drained()

	order := map[string]int{}
	for i, id := range o.decidedIDs() {
		order[id] = i
	}
	seen := map[string]int{}
	partOf := map[string]int{}
	for p := range 3 {
		last := -1
		for _, d := range kafkaPartition(t, c, brokers, topic, p) {
			seen[d.ID]++
			i, ok := order[d.ID]
			if !ok {
				t.Fatalf("partition %d holds %s, which the daemon never decided", p, d.ID)
			}
			if prev, ok := partOf[d.Target.String()]; ok && prev != p {
				t.Errorf("%s on partitions %d and %d", d.Target, prev, p)
			}
			partOf[d.Target.String()] = p
			if i < last {
				t.Errorf("partition %d: decision %d after %d", p, i, last)
			}
			last = i
		}
	}
	for id, i := range order {
		if seen[id] != 1 {
			t.Errorf("decision %d (%s) stored %d times", i, id, seen[id])
		}
	}
	if len(order) != 25 {
		t.Errorf("%d decisions, want 25", len(order))
	}
}

// kafkaPartition reads one partition of topic to its high watermark.
func kafkaPartition(t testing.TB, c *kfake.Cluster, brokers []string, topic string, p int) []pipeline.Decision {
	t.Helper()
	hw := c.PartitionInfo(topic, int32(p)).HighWatermark
	if hw == 0 {
		return nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var out []pipeline.Decision
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("partition %d: %v", p, err)
		}
		var d pipeline.Decision
		if err := json.Unmarshal(m.Value, &d); err != nil {
			t.Fatalf("partition %d offset %d: %v", p, m.Offset, err)
		}
		out = append(out, d)
		if m.Offset+1 >= hw {
			return out
		}
	}
}
