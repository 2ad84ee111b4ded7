package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/internal/testservers"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources/bus"
)

// TestCorrelatorTakeoverKafka: two correlators of one consumer group;
// two sensors ban 24 addresses (and a third 6 of them: fleet bans), one
// correlator is stopped so that the group hands its partitions to the
// other, then the third sensor bans 12 more of them. The one left warms
// up the partitions it was given from before the group's commit, so it
// knows the two sensors' earlier bans and decides all 12 fleet bans
// (before: only those of the partitions it held, 6 of 12 when measured),
// and the 6 fleet bans its peer made are not decided again.
func TestCorrelatorTakeoverKafka(t *testing.T) {
	const topic, group, partitions = "stockade-decisions", "correlators", 6
	cluster := testservers.RunKafka(t, topic, partitions)
	brokers := cluster.ListenAddrs()
	web1, web2, ids1 := newBusSensor(t, "web1"), newBusSensor(t, "web2"), newBusSensor(t, "ids1")
	src := SourceConfig{Kafka: &config.KafkaSource{KafkaConfig: bus.KafkaConfig{Config: KafkaConn{Brokers: brokers, Timeout: Duration(2 * time.Second)},
		Topic: topic, Group: group}, BusPayload: config.BusPayload{Policy: trusting(web1, web2, ids1)}}}
	hs := []*daemonHarness{newHarness(t), newHarness(t)}
	alive := []bool{true, true}
	for _, h := range hs {
		correlatorAt(t, h, src)
	}
	t.Cleanup(func() {
		for i, h := range hs {
			if alive[i] {
				h.stop()
			}
		}
	})
	cl := decisionProducer(t, brokers, topic)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	testkit.WaitForWithin(t, 30*time.Second, "the group to give each of two correlators partitions", func() bool { return groupSpread(ctx, cl, group, 2) })

	now := time.Now().UTC()
	targets, _ := partitionTargets(100, 24)
	kafkaDecisions(ctx, t, cl, []busSensor{web1, web2}, targets, now)
	kafkaDecisions(ctx, t, cl, []busSensor{ids1}, targets[12:18], now.Add(time.Minute))
	var want []string
	for _, a := range targets[12:18] {
		want = append(want, a+" fleet")
	}
	waitBans(t, "the fleet bans of the addresses three sensors banned", want, hs...)
	testkit.WaitForWithin(t, 15*time.Second, "the group to commit every decision sent", func() bool { return groupCommitted(ctx, cl, group, topic, partitions) })
	if len(fleetBans(hs[1])) == 0 || len(fleetBans(hs[0])) == 0 {
		t.Fatalf("fleet bans %v and %v: the work was not shared", fleetBans(hs[0]), fleetBans(hs[1]))
	}

	hs[1].stop()
	alive[1] = false
	testkit.WaitForWithin(t, 30*time.Second, "the group to hand the stopped correlator's partitions to the other", func() bool { return groupSpread(ctx, cl, group, 1) })
	kafkaDecisions(ctx, t, cl, []busSensor{ids1}, targets[:12], now.Add(2*time.Minute))
	want = nil
	for _, a := range targets[:18] {
		want = append(want, a+" fleet")
	}
	waitBans(t, "the fleet bans of the third sensor's bans after the handover (the two earlier ones counted)", want, hs...)
	testkit.WaitForWithin(t, 15*time.Second, "the group to commit every decision sent", func() bool { return groupCommitted(ctx, cl, group, topic, partitions) })
	decided := map[string]int{}
	for _, h := range hs {
		for _, d := range h.decisions() {
			if d.Action == pipeline.ActionBan && d.Rule == "fleet" {
				decided[d.Target.String()]++
			}
		}
	}
	for a, n := range decided {
		if n != 1 {
			t.Errorf("%s: fleet ban decided %d times, want once (the warm-up decides nothing)", a, n)
		}
	}
}

// groupCommitted says whether group committed, on each of topic's
// partitions, every record the topic holds.
func groupCommitted(ctx context.Context, cl *kgo.Client, group, topic string, partitions int) bool {
	ends := map[int32]int64{}
	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	for p := range int32(partitions) {
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition, lp.Timestamp = p, -1
		lt.Partitions = append(lt.Partitions, lp)
	}
	lo.Topics = []kmsg.ListOffsetsRequestTopic{lt}
	lr, err := lo.RequestWith(ctx, cl)
	if err != nil {
		return false
	}
	for _, t := range lr.Topics {
		for _, p := range t.Partitions {
			ends[p.Partition] = p.Offset
		}
	}
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Group = group
	ft := kmsg.NewOffsetFetchRequestTopic()
	ft.Topic = topic
	for p := range int32(partitions) {
		ft.Partitions = append(ft.Partitions, p)
	}
	of.Topics = []kmsg.OffsetFetchRequestTopic{ft}
	fr, err := of.RequestWith(ctx, cl)
	if err != nil || len(ends) != partitions {
		return false
	}
	for _, t := range fr.Topics {
		for _, p := range t.Partitions {
			if end := ends[p.Partition]; end > 0 && p.Offset != end {
				return false
			}
		}
	}
	return true
}
