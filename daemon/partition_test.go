package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/internal/natsconn"
	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/internal/testservers"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/sign"
	"github.com/stockade-ids/stockade/sources/bus"
)

// correlatorAt starts (again) a correlator "hub" in dir reading src, its
// decisions appended to dir's file.
func correlatorAt(t *testing.T, h *daemonHarness, src SourceConfig) {
	t.Helper()
	h.startWith(func(c *Config, _ *Deps) {
		c.Origin, c.Rules, c.Sources = "hub", []string{"default"}, []SourceConfig{src}
	})
}

// fleetBans is the sorted set of "target rule" the correlators banned
// fleet-wide, each counted once however many times it was decided.
func fleetBans(hs ...*daemonHarness) []string {
	var out []string
	for _, h := range hs {
		for _, d := range h.decisions() {
			if d.Action == pipeline.ActionBan && d.Rule == "fleet" {
				out = append(out, d.Target.String()+" "+d.Rule)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// waitBans waits, up to 15s, for the fleet bans of hs to be want, and
// says which differ if they never are.
func waitBans(t *testing.T, what string, want []string, hs ...*daemonHarness) {
	t.Helper()
	waitBansWithin(t, 15*time.Second, what, want, hs...)
}

// waitBansWithin is waitBans up to limit.
func waitBansWithin(t *testing.T, limit time.Duration, what string, want []string, hs ...*daemonHarness) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !slices.Equal(fleetBans(hs...), want) {
		if time.Now().After(deadline) {
			got := fleetBans(hs...)
			var missing, extra []string
			for _, w := range want {
				if !slices.Contains(got, w) {
					missing = append(missing, w)
				}
			}
			for _, g := range got {
				if !slices.Contains(want, g) {
					extra = append(extra, g)
				}
			}
			t.Fatalf("timed out waiting for %s: missing %v, extra %v", what, missing, extra)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startCorrelators starts one correlator reading everything and three
// reading their share, stopped when the test ends if still running
// (alive).
func startCorrelators(t *testing.T, all SourceConfig, part func(int) SourceConfig) (single *daemonHarness, parts []*daemonHarness, alive []bool) {
	t.Helper()
	single = newHarness(t)
	correlatorAt(t, single, all)
	t.Cleanup(single.stop)
	parts, alive = make([]*daemonHarness, 3), []bool{true, true, true}
	for i := range parts {
		parts[i] = newHarness(t)
		correlatorAt(t, parts[i], part(i))
	}
	t.Cleanup(func() {
		for i, h := range parts {
			if alive[i] {
				h.stop()
			}
		}
	})
	return single, parts, alive
}

// eachDecision calls send for the decisions of a batch: three sensors
// about the first half of the targets, two about the rest, a second and
// a millisecond apart.
func eachDecision(sensors []busSensor, targets []string, at time.Time, send func(s busSensor, target string, at time.Time)) {
	for i, a := range targets {
		for j, s := range sensors {
			if j < 2 || i < len(targets)/2 {
				send(s, a, at.Add(time.Duration(i)*time.Second+time.Duration(j)*time.Millisecond))
			}
		}
	}
}

// partitionTargets is the fleet test's addresses: the first half banned
// by three sensors (a fleet ban each), the rest by two (none).
func partitionTargets(base, n int) (all, fleet []string) {
	for i := range n {
		a := fmt.Sprintf("198.51.100.%d", base+i)
		all = append(all, a)
		if i < n/2 {
			fleet = append(fleet, a+" fleet")
		}
	}
	return all, fleet
}

// TestPartitionedCorrelatorsNATS: three correlators, each reading one
// partition of the decisions (the server maps stockade.decisions.
// <origin>.<rule>.<target> to a partition by target), decide the same
// fleet bans as one correlator reading everything, and keep doing so
// while one of them is stopped and restarted: its partition waits in
// JetStream, and the windows it kept in its state go on.
func TestPartitionedCorrelatorsNATS(t *testing.T) {
	srv, js, _ := decisionStream(t, 3, 0)
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	sensors := []busSensor{newBusSensor(t, "web1"), newBusSensor(t, "web2"), newBusSensor(t, "ids1")}
	src := func(partition int, all bool) SourceConfig {
		s := &config.NATSSource{NATSConfig: bus.NATSConfig{Config: NATSConn{URL: srv.ClientURL()}, Stream: "STOCKADE"},
			Partitioning: bus.Partitioning{Partitions: 3, Partition: partition}, BusPayload: config.BusPayload{Policy: trusting(sensors...)}}
		if all {
			s.Partitioning, s.Durable = bus.Partitioning{}, "single"
		}
		return SourceConfig{NATS: s}
	}
	single, parts, alive := startCorrelators(t, src(0, true), func(i int) SourceConfig { return src(i, false) })
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
	batch := func(targets []string, at time.Time) { eachDecision(sensors, targets, at, publish) }
	first, want := partitionTargets(100, 24)
	batch(first, now)
	waitBans(t, "the single correlator's fleet bans", want, single)
	waitBans(t, "the partitioned correlators' fleet bans to equal the single one's", want, parts...)

	// Correlator 1 stops; the decisions of its partition wait for it in
	// JetStream, the others' go on being judged.
	parts[1].stop()
	alive[1] = false
	stopped := parts[1]
	second, want2 := partitionTargets(150, 24)
	want = append(want, want2...)
	slices.Sort(want)
	batch(second, now.Add(time.Minute))
	waitBans(t, "the single correlator's fleet bans of both batches", want, single)
	info, err := js.Consumer(ctx, "STOCKADE", "stockade-p1")
	if err != nil {
		t.Fatal(err)
	}
	if info.CachedInfo().NumPending == 0 {
		t.Fatalf("no decision waits for the stopped correlator's partition: the test shows nothing")
	}
	correlatorAt(t, stopped, src(1, false))
	alive[1] = true
	waitBans(t, "the partitioned correlators' fleet bans of both batches, correlator 1 restarted", want, parts...)
	for i, h := range parts {
		for _, b := range fleetBans(h) {
			for j, o := range parts {
				if j != i && slices.Contains(fleetBans(o), b) {
					t.Errorf("%s decided by correlators %d and %d: partitions overlap", b, i, j)
				}
			}
		}
	}
}

// TestPartitionedCorrelatorsKafka: three correlators of one consumer
// group, the topic's partitions chosen by each decision's key (its
// target), decide the same fleet bans as one correlator, and keep doing
// so while one of them is stopped (the group hands its partitions to the
// others) and restarted (it gets its share back).
func TestPartitionedCorrelatorsKafka(t *testing.T) {
	const topic = "stockade-decisions"
	cluster := testservers.RunKafka(t, topic, 6)
	brokers := cluster.ListenAddrs()
	sensors := []busSensor{newBusSensor(t, "web1"), newBusSensor(t, "web2"), newBusSensor(t, "ids1")}
	src := func(group string) SourceConfig {
		return SourceConfig{Kafka: &config.KafkaSource{KafkaConfig: bus.KafkaConfig{Config: KafkaConn{Brokers: brokers, Timeout: Duration(2 * time.Second)},
			Topic: topic, Group: group}, BusPayload: config.BusPayload{Policy: trusting(sensors...)}}}
	}
	single, parts, alive := startCorrelators(t, src("single"), func(int) SourceConfig { return src("correlators") })
	cl := decisionProducer(t, brokers, topic)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Second)
	defer cancel()
	// Each sensor's decisions keyed by target, as the Kafka sink sends
	// them: the key picks the partition.
	batch := func(targets []string, at time.Time) {
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
	now := time.Now().UTC()
	testkit.WaitFor(t, "the group to give each of three correlators partitions", func() bool { return groupSpread(ctx, cl, "correlators", 3) })
	first, want := partitionTargets(100, 24)
	batch(first, now)
	waitBans(t, "the single correlator's fleet bans", want, single)
	waitBans(t, "the group's fleet bans to equal the single one's", want, parts...)
	for i, h := range parts {
		if len(fleetBans(h)) == 0 {
			t.Fatalf("correlator %d decided nothing: the work was not shared", i)
		}
	}

	parts[1].stop()
	alive[1] = false
	stopped := parts[1]
	second, want2 := partitionTargets(150, 24)
	want = append(want, want2...)
	slices.Sort(want)
	batch(second, now.Add(time.Minute))
	waitBans(t, "the single correlator's fleet bans of two batches", want, single)
	waitBans(t, "the two correlators left to take over the stopped one's partitions (its earlier bans counted)", want, parts...)

	correlatorAt(t, stopped, src("correlators"))
	alive[1] = true
	testkit.WaitFor(t, "the group to give the restarted correlator partitions again", func() bool { return groupSpread(ctx, cl, "correlators", 3) })
	before := len(fleetBans(stopped))
	third, want3 := partitionTargets(200, 24)
	want = append(want, want3...)
	slices.Sort(want)
	batch(third, now.Add(2*time.Minute))
	waitBans(t, "the single correlator's fleet bans of three batches", want, single)
	waitBans(t, "the group's fleet bans of three batches, correlator 1 restarted", want, parts...)
	if len(fleetBans(stopped)) == before {
		t.Errorf("the restarted correlator decided nothing of the third batch")
	}
}

// groupSpread says whether group is stable with n members, each assigned
// at least one partition.
func groupSpread(ctx context.Context, cl *kgo.Client, group string, n int) bool {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Groups) != 1 {
		return false
	}
	g := resp.Groups[0]
	if g.State != "Stable" || len(g.Members) != n {
		return false
	}
	for _, m := range g.Members {
		var a kmsg.ConsumerMemberAssignment
		if a.ReadFrom(m.MemberAssignment) != nil {
			return false
		}
		parts := 0
		for _, tp := range a.Topics {
			parts += len(tp.Partitions)
		}
		if parts == 0 {
			return false
		}
	}
	return true
}

// TestEmbeddedNATSPartitions: nats_server: {partitions: 3} maps each
// decision, by its target, to one partition, which the durable of the
// correlator listed with that partition reads, with the sensor's role
// allowing its subject as before the mapping. Durables made before the
// partitions are set to theirs.
func TestEmbeddedNATSPartitions(t *testing.T) {
	dir := t.TempDir()
	sensor := newNATSKey(t, dir, "web1", nil)
	cfg := &NATSServerConfig{Listen: "127.0.0.1:-1", StoreDir: filepath.Join(dir, "js"), Partitions: 3,
		Sensors: []NATSPeer{{Name: "web1", Key: sensor.pub}}}
	for i := range 3 {
		k := newNATSKey(t, dir, fmt.Sprintf("corr%d", i), nil)
		cfg.Correlators = append(cfg.Correlators, config.NATSCorrelator{NATSPeer: NATSPeer{Name: fmt.Sprintf("corr%d", i), Key: k.pub}, Partition: i})
	}
	// First without partitions: the durables read everything; then with
	// three, which must set their filters to their partition.
	cfg.Partitions = 0
	for i := range cfg.Correlators {
		cfg.Correlators[i].Partition = 0
	}
	e, err := startNATSServer(cfg, dir, quiet())
	if err != nil {
		t.Fatal(err)
	}
	e.Shutdown()
	cfg.Partitions = 3
	for i := range cfg.Correlators {
		cfg.Correlators[i].Partition = i
	}
	if e, err = startNATSServer(cfg, dir, quiet()); err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	sc := connectAs(t, e.Server.ClientURL(), sensor)
	defer sc.nc.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	targets := []string{"198_51_100_7", "203_0_113_9", "2001:db8::5", "192_0_2_44", "198_51_100_8", "203_0_113_10"}
	for round := range 2 {
		for _, tg := range targets {
			if _, err := sc.js.Publish(ctx, "stockade.decisions.web1.sshd."+tg, []byte(`{}`)); err != nil {
				t.Fatalf("round %d, %s: %v", round, tg, err)
			}
		}
	}
	// The daemon's own (administrator's) connection reads the durables.
	ac := e.conn(natsconn.Config{})
	ac.SetDefaults()
	nc, err := ac.Connect("admin", quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	where := readPartitions(ctx, t, js, 3, 2*len(targets))
	used := map[int]bool{}
	for _, tg := range targets {
		if len(where[tg]) != 1 {
			t.Errorf("%s: messages by partition %v, want both in one", tg, where[tg])
		}
		for p, n := range where[tg] {
			used[p] = true
			if n != 2 {
				t.Errorf("%s: %d messages in partition %d, want 2", tg, n, p)
			}
		}
	}
	if len(used) < 2 {
		t.Errorf("six targets all in partitions %v: the mapping does not spread them", used)
	}
}

// TestPartitionConfig: partition settings out of range, or a subject a
// partition number cannot be appended to, are refused at load, each at
// its key.
func TestPartitionConfig(t *testing.T) {
	const pol = "policy: {origins: [{name: web1, key: UAO7PESDROBHPI4PEWED7ZURDAVQNOO5C6NLLAE6C2ZJSAICVPO6GVVX}]}"
	for _, tc := range []struct{ name, yaml, want string }{
		{"partition past the end", "sources:\n  - nats: {url: nats://127.0.0.1:4222, partitions: 3, partition: 3, " + pol + "}\n", "partition: 3 is not between 0 and partitions-1 (2)"},
		{"partition without partitions", "sources:\n  - nats: {url: nats://127.0.0.1:4222, partition: 1, " + pol + "}\n", "partition: needs partitions:"},
		{"subject ending in >", "sources:\n  - nats: {url: nats://127.0.0.1:4222, subject: stockade.decisions.>, partitions: 2, " + pol + "}\n", "with partitions, the subject ends in a token"},
		{"too many partitions", "sources:\n  - nats: {url: nats://127.0.0.1:4222, partitions: 5000, " + pol + "}\n", "partitions: 5000 is not between 1 and 1024"},
		{"server: correlator's partition past the end", "nats_server: {listen: 127.0.0.1:4222, partitions: 2, correlators: [{name: c, key: UAO7PESDROBHPI4PEWED7ZURDAVQNOO5C6NLLAE6C2ZJSAICVPO6GVVX, partition: 2}]}\n",
			"correlators[0].partition: 2 is not between 0 and partitions-1 (1)"},
		{"server: partition without partitions", "nats_server: {listen: 127.0.0.1:4222, correlators: [{name: c, key: UAO7PESDROBHPI4PEWED7ZURDAVQNOO5C6NLLAE6C2ZJSAICVPO6GVVX, partition: 1}]}\n",
			"correlators[0].partition: needs nats_server's partitions:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig("c.yaml", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	ok := "sources:\n  - nats: {url: nats://127.0.0.1:4222, stream: STOCKADE, partitions: 3, partition: 2, " + pol + "}\n"
	if _, err := parseConfig("c.yaml", []byte(ok)); err != nil {
		t.Fatalf("partition 2 of 3: %v", err)
	}
}

// readPartitions reads what the durables corr0… hold, checking each
// reads its partition, until it has read total messages (or 10 s):
// target token → partition → messages. A pull that does not wait can be
// answered "no messages" before the server has the messages ready for a
// durable just given its partition (a clean-clone CI run read none of
// the twelve), so it pulls again until all are in.
func readPartitions(ctx context.Context, t *testing.T, js jetstream.JetStream, n, total int) map[string]map[int]int {
	t.Helper()
	where := map[string]map[int]int{} // target → partition → messages
	cons := make([]jetstream.Consumer, n)
	for i := range n {
		c, err := js.Consumer(ctx, "STOCKADE", fmt.Sprintf("corr%d", i))
		if err != nil {
			t.Fatalf("durable corr%d: %v", i, err)
		}
		if want := fmt.Sprintf("stockade.decisions.*.*.*.%d", i); c.CachedInfo().Config.FilterSubject != want {
			t.Errorf("durable corr%d reads %q, want %q", i, c.CachedInfo().Config.FilterSubject, want)
		}
		cons[i] = c
	}
	read := 0
	for deadline := time.Now().Add(10 * time.Second); read < total && time.Now().Before(deadline); {
		for i, c := range cons {
			batch, err := c.FetchNoWait(100)
			if err != nil {
				t.Fatal(err)
			}
			for m := range batch.Messages() {
				read++
				m.Ack()
				tok := strings.Split(m.Subject(), ".")
				if len(tok) != 6 || tok[5] != strconv.Itoa(i) {
					t.Errorf("durable corr%d got %s", i, m.Subject())
					continue
				}
				if where[tok[4]] == nil {
					where[tok[4]] = map[int]int{}
				}
				where[tok[4]][i]++
			}
		}
		if read < total {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return where
}

// decisionStream starts an embedded NATS server holding a fleet's stream
// of decisions, STOCKADE, with the mapping `nats_server: {partitions: N}`
// installs when partitions is above 0 and JetStream's duplicate window dup
// (0: its default).
func decisionStream(t *testing.T, partitions int, dup time.Duration) (*server.Server, jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	srv := testservers.RunNATS(t, testservers.NATSOptions(t))
	if partitions > 0 {
		if err := srv.GlobalAccount().AddMapping(config.PartitionMapping(partitions)); err != nil {
			t.Fatal(err)
		}
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "STOCKADE", Subjects: []string{"stockade.decisions.>"}, Duplicates: dup})
	if err != nil {
		t.Fatal(err)
	}
	return srv, js, stream
}

// decisionProducer is a Kafka client that writes to topic, as a sensor's
// sink would.
func decisionProducer(t *testing.T, brokers []string, topic string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}
