package fleet

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/internal/kafkaconn"
	"github.com/stockade-ids/stockade/internal/netlab"
	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/internal/testservers"
	"github.com/stockade-ids/stockade/pipeline/sign"
	"github.com/stockade-ids/stockade/sinks/kafka"
	"github.com/stockade-ids/stockade/sinks/nftables"
	"github.com/stockade-ids/stockade/sinks/queue"
	"github.com/stockade-ids/stockade/sources/bus"
)

// TestKafkaStatus: over Kafka, a firewall's acks go to stockade-acks and
// the fleet's status reads them there, with the decisions of the topic:
// what it applied, signed, and what it missed while it was down.
func TestKafkaStatus(t *testing.T) {
	const topic = "stockade-decisions"
	cluster := testservers.RunKafka(t, topic, 3, kfake.SeedTopics(1, enforce.AckTopic))
	conn := kafkaconn.Config{Brokers: cluster.ListenAddrs(), Timeout: 2 * time.Second}
	seed, pub, _ := sign.Generate()
	signer, _ := sign.NewSigner(seed)
	sensor, err := kafka.NewPublisher(kafka.Config{Config: conn, Topic: topic, Signer: signer}, testkit.Log(t))
	if err != nil {
		t.Fatal(err)
	}
	defer sensor.Close()
	publish := func(from, to int) {
		t.Helper()
		if err := queue.PublishNow(t.Context(), sensor, bans("k", from, to)); err != nil {
			t.Fatal(err)
		}
	}
	ns := netlab.New(t, "kfleet")
	fwSeed, fwPub, _ := sign.Generate()
	fwSigner, _ := sign.NewSigner(fwSeed)
	fw := &convergeFW{ns: ns, cfg: enforce.Config{StateDir: t.TempDir(), Name: "fw-k", Signer: fwSigner,
		Policy:   enforce.Policy{Origins: []enforce.Origin{{Name: "web1", Key: pub}}},
		NFTables: nftables.Config{NetNS: int(ns.Fd)}, Kafka: &bus.KafkaConfig{Config: conn, Topic: topic, Group: "fw-k"}}}
	fw.start(t)
	defer fw.stop(t)

	status := func() []Firewall {
		time.Sleep(50 * time.Millisecond)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		st, _, err := KafkaStatus(ctx, conn, topic, time.Now().Add(-time.Hour), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	publish(1, 3)
	var st []Firewall
	testkit.WaitFor(t, "fw-k's acks of three bans on stockade-acks", func() bool {
		st = status()
		return len(st) == 1 && st[0].Applied == 3 && st[0].Missing == 0
	})
	if len(st[0].Signers) != 1 || st[0].Signers[0] != fwPub {
		t.Fatalf("acks signed by %q, want the firewall's key", st[0].Signers)
	}
	fw.stop(t)
	publish(4, 5)
	testkit.WaitFor(t, "fw-k, stopped, missing two bans, with a lag", func() bool {
		st = status()
		return len(st) == 1 && st[0].Missing == 2 && st[0].Lag > 0 && st[0].Applied == 3
	})
	fw.start(t)
	testkit.WaitFor(t, "fw-k, restarted, caught up", func() bool {
		st = status()
		return len(st) == 1 && st[0].Missing == 0 && st[0].Applied == 5
	})
	logStatus(t, "over Kafka", st, 5)

	kafkaWhyAndFollow(t, conn, topic)
}

// kafkaWhyAndFollow checks, after TestKafkaStatus, fleet why and
// follow_acks on Kafka: 203.0.113.4 blocked on fw-k by decision k4, fw-k
// up to date, a listed firewall never heard from behind.
func kafkaWhyAndFollow(t *testing.T, conn kafkaconn.Config, topic string) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	addr := netip.MustParsePrefix("203.0.113.4/32")
	acks, err := KafkaRead(ctx, conn, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	about, err := KafkaAbout(ctx, conn, topic, time.Now().Add(-time.Hour), addr)
	if err != nil || len(about) != 1 || about[0].ID != "k4" {
		t.Fatalf("decisions about %s: %+v, %v", addr, about, err)
	}
	why := WhyAbout(acks, about, addr, time.Now())
	if len(why) != 1 || why[0].Firewall != "fw-k" || why[0].State != "blocked" || !strings.Contains(why[0].Detail, "decision k4") {
		t.Fatalf("why %s: %+v", addr, why)
	}

	// follow_acks on Kafka: the metrics' reading, fw-k up to date.
	f := NewFollower(FollowConfig{Every: 50 * time.Millisecond, Kafka: &FollowKafka{Config: conn, Topic: topic}, Firewalls: []string{"fw-k", "fw-never"}}, testkit.Log(t))
	fctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(fctx) }()
	testkit.WaitFor(t, "follow_acks on Kafka to read fw-k applied 5, fw-never behind", func() bool {
		got, ok := f.Status()
		return ok && len(got) == 2 && got[0].Applied == 5 && got[0].Missing == 0 && got[1].Name == "fw-never" && got[1].Missing == 5
	})
	if got, _ := f.Status(); Behind(got, time.Nanosecond) != 1 {
		t.Errorf("behind: %d, want 1 (fw-never)", Behind(got, time.Nanosecond))
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestFollowKafkaConfig: follow_acks reads either NATS or Kafka, and its
// kafka: is checked as the kafka sink's connection is.
func TestFollowKafkaConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  FollowConfig
		want string
	}{
		{"kafka", FollowConfig{Kafka: &FollowKafka{Config: kafkaconn.Config{Brokers: []string{"127.0.0.1:9092"}}}}, ""},
		{"both", FollowConfig{Kafka: &FollowKafka{Config: kafkaconn.Config{Brokers: []string{"127.0.0.1:9092"}}}}, "set either url (NATS) or kafka"},
		{"no brokers", FollowConfig{Kafka: &FollowKafka{}}, "kafka.brokers: at least one host:port is required"},
		{"sasl without mechanism", FollowConfig{Kafka: &FollowKafka{Config: kafkaconn.Config{Brokers: []string{"b:9092"}, SASL: kafkaconn.SASLConfig{User: "u"}}}}, "kafka.sasl.mechanism"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "both" {
				tc.cfg.URL = "nats://127.0.0.1:4222"
			}
			err := tc.cfg.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate: %v, want %q", err, tc.want)
			}
			c := tc.cfg
			c.SetDefaults()
			if tc.want == "" && c.Kafka.Topic != "stockade-decisions" {
				t.Fatalf("topic %q, want the kafka sink's default", c.Kafka.Topic)
			}
		})
	}
}
