package daemon

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/internal/testservers"
	"github.com/stockade-ids/stockade/pipeline/sign"
	"github.com/stockade-ids/stockade/sources/bus"
)

// childCorrelator runs correlator "hub" of partition part (of 3) as a
// child process on h's directory, its decisions appended to h's file, and
// waits for its control socket.
func childCorrelator(t *testing.T, h *daemonHarness, url string, part int, sensors []busSensor) *exec.Cmd {
	t.Helper()
	cfgPath := filepath.Join(h.dir, "correlator.yaml")
	var origins []string
	for _, s := range sensors {
		origins = append(origins, fmt.Sprintf("{name: %s, key: %s}", s.name, s.key()))
	}
	cfg := fmt.Sprintf(`state_dir: %s
socket: %s
origin: hub
rules: [default]
sources:
  - nats: {url: %q, stream: STOCKADE, partitions: 3, partition: %d, policy: {origins: [%s]}}
sinks:
  - jsonl: %s
`, filepath.Join(h.dir, "state"), h.socket, url, part, strings.Join(origins, ", "), h.out)
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
	srv := testservers.RunNATS(t, testservers.NATSOptions(t))
	if err := srv.GlobalAccount().AddMapping(config.PartitionMapping(3)); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "STOCKADE", Subjects: []string{"stockade.decisions.>"}}); err != nil {
		t.Fatal(err)
	}
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
	child := childCorrelator(t, parts[1], srv.ClientURL(), 1, sensors)

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
	testkit.WaitFor(t, "correlator 1 to acknowledge every decision of its partition", func() bool {
		c, err := js.Consumer(ctx, "STOCKADE", "stockade-p1")
		if err != nil {
			return false
		}
		i := c.CachedInfo()
		return i.NumPending == 0 && i.NumAckPending == 0 && i.Delivered.Consumer > 0
	})
	// Acknowledged is handed to the engine, not yet committed: wait until
	// it has judged some and neither judged nor committed anything for
	// 2.5 s, over two commit ticks (saveEvery): whatever it judged is in
	// a commit by then, as nothing is left to commit.
	judged, saves, since := -1.0, -1.0, time.Now()
	testkit.WaitForWithin(t, 30*time.Second, "correlator 1 to judge its decisions and commit its state", func() bool {
		e, s := childMetric(t, parts[1], "stockade_events_total"), childMetric(t, parts[1], "stockade_state_saves_total")
		if e != judged || s != saves {
			judged, saves, since = e, s, time.Now()
		}
		return e > 0 && s > 0 && time.Since(since) > 5*saveEvery/2
	})
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()

	// ids1's bans of the first half: the third sensor, while correlator
	// 1 is dead; its share waits in JetStream.
	eachDecision(sensors[2:], targets[:len(targets)/2], now.Add(time.Minute), publish)
	waitBans(t, "the single correlator's fleet bans", want, single)
	if got := fleetBans(parts[1]); len(got) != 0 {
		t.Fatalf("correlator 1 banned %v before it was killed: the kill straddles nothing", got)
	}
	childCorrelator(t, parts[1], srv.ClientURL(), 1, sensors)
	waitBans(t, "the partitioned correlators' fleet bans, correlator 1 killed and restarted between the sensors' bans", want, parts...)
	if len(fleetBans(parts[1])) == 0 {
		t.Fatal("correlator 1's partition held no fleet ban: the test shows nothing of its restart")
	}
}
