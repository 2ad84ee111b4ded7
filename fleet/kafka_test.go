package fleet

import (
	"context"
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
}
