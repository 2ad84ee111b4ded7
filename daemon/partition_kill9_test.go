package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/internal/testservers"
	"github.com/stockade-ids/stockade/pipeline/sign"
	"github.com/stockade-ids/stockade/sources/bus"
)

// natsPartition is the source of correlator part (of 3) on NATS, as
// childCorrelator takes it.
func natsPartition(url string, part int) string {
	return fmt.Sprintf("nats: {url: %q, stream: STOCKADE, partitions: 3, partition: %d", url, part)
}

// childCorrelator runs correlator "hub" reading source (a source's YAML
// flow mapping, its policy left out: the sensors' is added) as a child
// process on h's directory, its decisions appended to h's file, and waits
// for its control socket.
func childCorrelator(t *testing.T, h *daemonHarness, source string, sensors []busSensor) *exec.Cmd {
	t.Helper()
	return childCorrelatorRules(t, h, source, "default", sensors)
}

// childCorrelatorRules is childCorrelator judging with rules (a pack's
// name or a directory).
func childCorrelatorRules(t *testing.T, h *daemonHarness, source, rules string, sensors []busSensor) *exec.Cmd {
	t.Helper()
	cfgPath := filepath.Join(h.dir, "correlator.yaml")
	var origins []string
	for _, s := range sensors {
		origins = append(origins, fmt.Sprintf("{name: %s, key: %s}", s.name, s.key()))
	}
	cfg := fmt.Sprintf(`state_dir: %s
socket: %s
origin: hub
rules: [%s]
sources:
  - %s, policy: {origins: [%s]}}
sinks:
  - jsonl: %s
`, filepath.Join(h.dir, "state"), h.socket, rules, source, strings.Join(origins, ", "), h.out)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := startChild(t, cfgPath)
	h.waitFor("the child correlator's control socket", func() bool {
		_, err := control.NewClient(h.socket).Do(control.Request{Op: "ping"})
		return err == nil
	})
	return cmd
}

// childMetric reads one of the child's metrics through its control socket.
func childMetric(t *testing.T, h *daemonHarness, series string) float64 {
	t.Helper()
	rep, err := control.NewClient(h.socket).Do(control.Request{Op: "metrics"})
	if err != nil {
		t.Fatalf("the child's metrics: %v", err)
	}
	return metricValue(rep.Metrics, series)
}

// waitCommitted waits until the child daemon of h has judged atLeast events
// and neither judged nor committed anything for 2.5 s, over two commit
// ticks (saveEvery): whatever it judged is in a commit by then, as
// nothing is left to commit. (What a bus source acknowledges is handed to
// the engine, not yet committed.)
func waitCommitted(t *testing.T, h *daemonHarness, atLeast float64) {
	t.Helper()
	judged, saves, since := -1.0, -1.0, time.Now()
	testkit.WaitForWithin(t, 30*time.Second, "the child to judge its decisions and commit its state", func() bool {
		e, s := childMetric(t, h, "stockade_events_total"), childMetric(t, h, "stockade_state_saves_total")
		if e != judged || s != saves {
			judged, saves, since = e, s, time.Now()
		}
		return e >= atLeast && s > 0 && time.Since(since) > 5*saveEvery/2
	})
}

// TestPartitionedCorrelatorsKill9NATS: the partitioned correlators of
// TestPartitionedCorrelatorsNATS, correlator 1 a child process killed
// with SIGKILL between the sensors' bans of one address: two sensors'
// bans are judged and committed before the kill, the third's arrives
// while it is dead and waits in JetStream. Restarted, it still counts the
// first two (what distinct() saw is in its state) and the correlators
// decide the same fleet bans as one correlator reading everything.
func TestPartitionedCorrelatorsKill9NATS(t *testing.T) {
	if os.Getenv("STOCKADE_DAEMON_CHILD") != "" {
		t.Skip("child")
	}
	srv, js, _ := decisionStream(t, 3, 0)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	sensors := []busSensor{newBusSensor(t, "web1"), newBusSensor(t, "web2"), newBusSensor(t, "ids1")}
	src := func(partition int, all bool) SourceConfig {
		s := &config.NATSSource{NATSConfig: bus.NATSConfig{Config: NATSConn{URL: srv.ClientURL()}, Stream: "STOCKADE"}, BusPayload: config.BusPayload{Policy: trusting(sensors...)}}
		s.Partitioning.Partitions, s.Partitioning.Partition = 3, partition
		if all {
			s.Partitioning.Partitions, s.Partitioning.Partition, s.Durable = 0, 0, "single"
		}
		return SourceConfig{NATS: s}
	}
	single := newHarness(t)
	correlatorAt(t, single, src(0, true))
	t.Cleanup(single.stop)
	parts := []*daemonHarness{newHarness(t), newHarness(t), newHarness(t)}
	for _, i := range []int{0, 2} {
		correlatorAt(t, parts[i], src(i, false))
		t.Cleanup(parts[i].stop)
	}
	child := childCorrelator(t, parts[1], natsPartition(srv.ClientURL(), 1), sensors)

	now := time.Now().UTC()
	publish := func(s busSensor, target string, at time.Time) {
		t.Helper()
		b := busDecision(s.name, "sshd", target, at)
		m := &nats.Msg{Subject: "stockade.decisions." + s.name + ".sshd." + strings.ReplaceAll(target, ".", "_"), Data: b, Header: nats.Header{}}
		m.Header.Set(sign.HeaderKey, s.key())
		m.Header.Set(sign.HeaderSig, s.sign(t, b))
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	targets, want := partitionTargets(100, 24)
	// web1's and web2's bans of every target: no fleet ban yet.
	eachDecision(sensors[:2], targets, now, publish)
	var delivered uint64
	testkit.WaitFor(t, "correlator 1 to acknowledge every decision of its partition", func() bool {
		c, err := js.Consumer(ctx, "STOCKADE", "stockade-p1")
		if err != nil {
			return false
		}
		i := c.CachedInfo()
		delivered = i.Delivered.Consumer
		return i.NumPending == 0 && i.NumAckPending == 0 && i.Delivered.Consumer > 0
	})
	// Acknowledged is handed to the engine, not judged: every one of them
	// judged, then committed, before the kill.
	waitCommitted(t, parts[1], float64(delivered))
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	// The server drops the dead process's pull requests once it sees its
	// connection closed. Until then it may deliver to them: a decision
	// sent meanwhile would wait out its ack wait (30 s) before going to
	// the restarted correlator, past the wait below (a CI run missed the
	// first two of partition 1's fleet bans so).
	testkit.WaitFor(t, "the server to drop the killed correlator's pull requests", func() bool {
		c, err := js.Consumer(ctx, "STOCKADE", "stockade-p1")
		return err == nil && c.CachedInfo().NumWaiting == 0
	})

	// ids1's bans of the first half: the third sensor, while correlator
	// 1 is dead; its share waits in JetStream.
	eachDecision(sensors[2:], targets[:len(targets)/2], now.Add(time.Minute), publish)
	waitBans(t, "the single correlator's fleet bans", want, single)
	if got := fleetBans(parts[1]); len(got) != 0 {
		t.Fatalf("correlator 1 banned %v before it was killed: the kill straddles nothing", got)
	}
	childCorrelator(t, parts[1], natsPartition(srv.ClientURL(), 1), sensors)
	waitBans(t, "the partitioned correlators' fleet bans, correlator 1 killed and restarted between the sensors' bans", want, parts...)
	if len(fleetBans(parts[1])) == 0 {
		t.Fatal("correlator 1's partition held no fleet ban: the test shows nothing of its restart")
	}
}

// kafkaGroup is the source of a correlator of group on Kafka, as
// childCorrelator takes it.
func kafkaGroup(brokers []string, topic, group string) string {
	return fmt.Sprintf("kafka: {brokers: [%s], topic: %s, group: %s, timeout: 2s", strings.Join(brokers, ", "), topic, group)
}

// kafkaDecisions sends the decisions eachDecision makes, keyed by target
// as the Kafka sink keys them (the key picks the partition).
func kafkaDecisions(ctx context.Context, t *testing.T, cl *kgo.Client, sensors []busSensor, targets []string, at time.Time) {
	t.Helper()
	var recs []*kgo.Record
	eachDecision(sensors, targets, at, func(s busSensor, a string, at time.Time) {
		b := busDecision(s.name, "sshd", a, at)
		recs = append(recs, &kgo.Record{Key: []byte(a), Value: b, Headers: []kgo.RecordHeader{
			{Key: sign.HeaderKey, Value: []byte(s.key())}, {Key: sign.HeaderSig, Value: []byte(s.sign(t, b))}}})
	})
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestCorrelatorKill9Kafka: a correlator alone in its consumer group,
// killed with SIGKILL between the sensors' bans of one address (two
// judged and committed, offsets and state, before the kill; the third
// sent while it is dead), gets its partitions back when restarted and,
// remembering the first two, decides the fleet bans.
func TestCorrelatorKill9Kafka(t *testing.T) {
	if os.Getenv("STOCKADE_DAEMON_CHILD") != "" {
		t.Skip("child")
	}
	const topic = "stockade-decisions"
	cluster := testservers.RunKafka(t, topic, 6)
	brokers := cluster.ListenAddrs()
	sensors := []busSensor{newBusSensor(t, "web1"), newBusSensor(t, "web2"), newBusSensor(t, "ids1")}
	cl := decisionProducer(t, brokers, topic)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	h := newHarness(t)
	child := childCorrelator(t, h, kafkaGroup(brokers, topic, "correlators"), sensors)
	testkit.WaitForWithin(t, 30*time.Second, "the group to give the correlator its partitions", func() bool { return groupSpread(ctx, cl, "correlators", 1) })
	targets, want := partitionTargets(100, 24)
	now := time.Now().UTC()
	kafkaDecisions(ctx, t, cl, sensors[:2], targets, now)
	waitCommitted(t, h, float64(2*len(targets)))
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	kafkaDecisions(ctx, t, cl, sensors[2:], targets[:len(targets)/2], now.Add(time.Minute))
	if got := fleetBans(h); len(got) != 0 {
		t.Fatalf("banned %v before the kill: the kill straddles nothing", got)
	}
	childCorrelator(t, h, kafkaGroup(brokers, topic, "correlators"), sensors)
	// The killed member leaves the group when its session times out
	// (10 s); the restarted one then gets every partition.
	waitBansWithin(t, 45*time.Second, "the restarted correlator's fleet bans of the sensors' bans straddling the kill", want, h)
}

// TestPartitionedCorrelatorsKill9Kafka: TestPartitionedCorrelatorsKafka
// with correlator 1 a child process killed with SIGKILL: once its session
// times out the group hands its partitions to the other two, which go on
// deciding the single correlator's fleet bans; restarted, it gets its
// share back and decides its part of the next.
func TestPartitionedCorrelatorsKill9Kafka(t *testing.T) {
	if os.Getenv("STOCKADE_DAEMON_CHILD") != "" {
		t.Skip("child")
	}
	const topic = "stockade-decisions"
	cluster := testservers.RunKafka(t, topic, 6)
	brokers := cluster.ListenAddrs()
	sensors := []busSensor{newBusSensor(t, "web1"), newBusSensor(t, "web2"), newBusSensor(t, "ids1")}
	src := func(group string) SourceConfig {
		return SourceConfig{Kafka: &config.KafkaSource{KafkaConfig: bus.KafkaConfig{Config: KafkaConn{Brokers: brokers, Timeout: Duration(2 * time.Second)},
			Topic: topic, Group: group}, BusPayload: config.BusPayload{Policy: trusting(sensors...)}}}
	}
	single := newHarness(t)
	correlatorAt(t, single, src("single"))
	t.Cleanup(single.stop)
	parts := []*daemonHarness{newHarness(t), newHarness(t), newHarness(t)}
	for _, i := range []int{0, 2} {
		correlatorAt(t, parts[i], src("correlators"))
		t.Cleanup(parts[i].stop)
	}
	child := childCorrelator(t, parts[1], kafkaGroup(brokers, topic, "correlators"), sensors)
	cl := decisionProducer(t, brokers, topic)
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	testkit.WaitForWithin(t, 30*time.Second, "the group to give each of three correlators partitions", func() bool { return groupSpread(ctx, cl, "correlators", 3) })
	now := time.Now().UTC()
	first, want := partitionTargets(100, 24)
	kafkaDecisions(ctx, t, cl, sensors, first, now)
	waitBans(t, "the single correlator's fleet bans", want, single)
	waitBans(t, "the group's fleet bans to equal the single one's", want, parts...)
	if len(fleetBans(parts[1])) == 0 {
		t.Fatal("correlator 1 decided nothing: the work was not shared")
	}

	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	second, want2 := partitionTargets(150, 24)
	want = append(want, want2...)
	slices.Sort(want)
	kafkaDecisions(ctx, t, cl, sensors, second, now.Add(time.Minute))
	waitBans(t, "the single correlator's fleet bans of two batches", want, single)
	waitBansWithin(t, 45*time.Second, "the two correlators left to take over the killed one's partitions", want, parts...)

	childCorrelator(t, parts[1], kafkaGroup(brokers, topic, "correlators"), sensors)
	testkit.WaitForWithin(t, 45*time.Second, "the group to give the restarted correlator partitions again", func() bool { return groupSpread(ctx, cl, "correlators", 3) })
	before := len(fleetBans(parts[1]))
	third, want3 := partitionTargets(200, 24)
	want = append(want, want3...)
	slices.Sort(want)
	kafkaDecisions(ctx, t, cl, sensors, third, now.Add(2*time.Minute))
	waitBans(t, "the single correlator's fleet bans of three batches", want, single)
	waitBans(t, "the group's fleet bans of three batches, correlator 1 killed and restarted", want, parts...)
	if len(fleetBans(parts[1])) == before {
		t.Errorf("the restarted correlator decided nothing of the third batch")
	}
}

// TestPartitionWarningLogged: the daemon logs config.Daemon.Warnings when
// it is made from a file: a NATS sink without {target} beside
// nats_server's partitions, at its position.
func TestPartitionWarningLogged(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "hub.yaml")
	cfg := fmt.Sprintf("state_dir: %s\nnats_server: {listen: 127.0.0.1:4222, partitions: 3}\nsources: [{files: [%s]}]\nsinks:\n  - nats: {url: nats://127.0.0.1:4222}\n",
		filepath.Join(dir, "state"), filepath.Join(dir, "auth.log"))
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	if _, err := New(*c, Deps{Log: slog.New(slog.NewTextHandler(&logs, nil))}); err != nil {
		t.Fatal(err)
	}
	want := `level=WARN msg="configuration: sinks[0].nats.subject: \"stockade.decisions.{origin}.{rule}\" is not of the form`
	if !strings.Contains(logs.String(), want) || !strings.Contains(logs.String(), "at="+p+":5:5") {
		t.Fatalf("logs:\n%s\nwant the warning at %s:5:5", logs.String(), p)
	}
}
