package daemon

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/internal/testservers"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources/bus"
)

// repeatPack is a user's rule over the fleet's decisions that counts
// them: three bans of an address within the hour, whoever made them.
const repeatPack = `pack: repeat
rules:
  - name: repeat
    formats: [decision]
    when: verb == "Ban" && jail != "repeat"
    threshold: 3
    window: 1h
    ban: 1d
`

// repeatRules writes repeatPack in a directory of its own under h.
func repeatRules(t *testing.T, h *daemonHarness) string {
	t.Helper()
	dir := filepath.Join(h.dir, "repeat")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "repeat.yaml"), []byte(repeatPack), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// repeatBans counts the repeat bans of target h decided.
func repeatBans(h *daemonHarness, target string) int {
	n := 0
	for _, d := range h.decisions() {
		if d.Action == pipeline.ActionBan && d.Rule == "repeat" && d.Target.String() == target {
			n++
		}
	}
	return n
}

// sensorBan sends one sensor's ban of target, keyed by it.
func sensorBan(ctx context.Context, t *testing.T, cl *kgo.Client, s busSensor, target string, at time.Time) {
	t.Helper()
	kafkaDecisions(ctx, t, cl, []busSensor{s}, []string{target}, at)
}

// TestCorrelatorRestartCountsOnceKafka: a correlator counting the fleet's
// decisions (threshold: 3 in 1h) has judged and saved two sensors' bans
// of an address, and is stopped and started again. Warming up the
// partition it held, it read those two records again on top of its
// saved windows (before: 4 counted, a ban decided in the warm-up and so
// never published, and the third sensor's ban then banned nothing); now
// it warms up from after what its state counted, and the third ban bans
// once.
func TestCorrelatorRestartCountsOnceKafka(t *testing.T) {
	const topic, group, target = "stockade-decisions", "correlators", "198.51.100.7"
	cluster := testservers.RunKafka(t, topic, 1)
	brokers := cluster.ListenAddrs()
	web1, web2, ids1 := newBusSensor(t, "web1"), newBusSensor(t, "web2"), newBusSensor(t, "ids1")
	src := SourceConfig{Kafka: &config.KafkaSource{KafkaConfig: bus.KafkaConfig{Config: KafkaConn{Brokers: brokers, Timeout: Duration(2 * time.Second)},
		Topic: topic, Group: group}, BusPayload: config.BusPayload{Policy: trusting(web1, web2, ids1)}}}
	h := newHarness(t)
	rules := repeatRules(t, h)
	start := func() {
		h.startWith(func(c *Config, _ *Deps) {
			c.Origin, c.Rules, c.Sources = "hub", []string{rules}, []SourceConfig{src}
		})
	}
	start()
	cl := decisionProducer(t, brokers, topic)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	testkit.WaitForWithin(t, 30*time.Second, "the group to give the correlator its partition", func() bool { return groupSpread(ctx, cl, group, 1) })
	now := time.Now().UTC()
	sensorBan(ctx, t, cl, web1, target, now)
	sensorBan(ctx, t, cl, web2, target, now.Add(time.Second))
	testkit.WaitForWithin(t, 15*time.Second, "the correlator to judge both sensors' bans", func() bool {
		return metricValue(h.metricsText(), "stockade_events_total") >= 2
	})
	testkit.WaitForWithin(t, 15*time.Second, "the group to commit both", func() bool { return groupCommitted(ctx, cl, group, topic, 1) })
	h.stop()

	start()
	t.Cleanup(h.stop)
	testkit.WaitForWithin(t, 30*time.Second, "the group to give the restarted correlator its partition", func() bool { return groupSpread(ctx, cl, group, 1) })
	sensorBan(ctx, t, cl, ids1, target, now.Add(2*time.Second))
	testkit.WaitForWithin(t, 20*time.Second, "the third sensor's ban to be judged", func() bool {
		return metricValue(h.metricsText(), `stockade_events_total`) >= 1
	})
	// A ban decided in the warm-up is in the ledger before the third
	// record is judged: the two are read in order from one partition.
	if n := metricValue(h.metricsText(), "stockade_warmup_decisions_total"); n != 0 {
		t.Errorf("the warm-up decided %v bans: it counted again what the saved state held", n)
	}
	testkit.WaitForWithin(t, 10*time.Second, "the third sensor's ban to ban the address", func() bool { return repeatBans(h, target) > 0 })
	if n := repeatBans(h, target); n != 1 {
		t.Errorf("repeat bans of %s: %d, want 1", target, n)
	}
}

// TestCorrelatorKill9CountsOnceKafka: TestCorrelatorRestartCountsOnceKafka
// with the correlator a child process killed with SIGKILL once it judged
// and committed (state and group) the two sensors' bans: restarted, its
// warm-up counts none of them again, and the third ban bans once.
func TestCorrelatorKill9CountsOnceKafka(t *testing.T) {
	if os.Getenv("STOCKADE_DAEMON_CHILD") != "" {
		t.Skip("child")
	}
	const topic, group, target = "stockade-decisions", "correlators", "198.51.100.8"
	cluster := testservers.RunKafka(t, topic, 1)
	brokers := cluster.ListenAddrs()
	sensors := []busSensor{newBusSensor(t, "web1"), newBusSensor(t, "web2"), newBusSensor(t, "ids1")}
	cl := decisionProducer(t, brokers, topic)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	h := newHarness(t)
	rules := repeatRules(t, h)
	child := childCorrelatorRules(t, h, kafkaGroup(brokers, topic, group), rules, sensors)
	testkit.WaitForWithin(t, 30*time.Second, "the group to give the correlator its partition", func() bool { return groupSpread(ctx, cl, group, 1) })
	now := time.Now().UTC()
	sensorBan(ctx, t, cl, sensors[0], target, now)
	sensorBan(ctx, t, cl, sensors[1], target, now.Add(time.Second))
	waitCommitted(t, h, 2)
	testkit.WaitForWithin(t, 15*time.Second, "the group to commit both", func() bool { return groupCommitted(ctx, cl, group, topic, 1) })
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()

	childCorrelatorRules(t, h, kafkaGroup(brokers, topic, group), rules, sensors)
	// The killed member leaves the group when its session times out
	// (10 s); the restarted one then gets the partition.
	testkit.WaitForWithin(t, 45*time.Second, "the group to give the restarted correlator the partition", func() bool { return groupSpread(ctx, cl, group, 1) })
	sensorBan(ctx, t, cl, sensors[2], target, now.Add(2*time.Second))
	testkit.WaitForWithin(t, 20*time.Second, "the third sensor's ban to be judged", func() bool {
		return childMetric(t, h, "stockade_events_total") >= 1
	})
	if n := childMetric(t, h, "stockade_warmup_decisions_total"); n != 0 {
		t.Errorf("the warm-up decided %v bans: it counted again what the saved state held", n)
	}
	testkit.WaitForWithin(t, 10*time.Second, "the third sensor's ban to ban the address", func() bool { return repeatBans(h, target) > 0 })
	if n := repeatBans(h, target); n != 1 {
		t.Errorf("repeat bans of %s: %d, want 1", target, n)
	}
}
