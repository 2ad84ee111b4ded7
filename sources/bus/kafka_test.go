package bus

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stockade-ids/stockade/internal/kafkaconn"
	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/internal/testservers"
)

// The warm-up tests' topic and consumer group.
const topic, group = "decisions", "correlators"

// warmUpTopic is a kfake broker whose topic holds ten records, r0-r4
// stored two days ago (older than a day's rewind) and r5-r9 an hour ago,
// with a client of it and a context bounding the test.
type warmUpTopic struct {
	ctx     context.Context
	cl      *kgo.Client
	brokers []string
	now     time.Time
}

func newWarmUpTopic(t *testing.T) *warmUpTopic {
	t.Helper()
	cluster := testservers.RunKafka(t, topic, 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	w := &warmUpTopic{ctx: ctx, cl: cl, brokers: cluster.ListenAddrs(), now: time.Now()}
	w.produce(t, 0, 5, w.now.Add(-48*time.Hour))
	w.produce(t, 5, 10, w.now.Add(-time.Hour))
	return w
}

// produce stores records r<from> to r<to-1>, each at the time at.
func (w *warmUpTopic) produce(t *testing.T, from, to int, at time.Time) {
	t.Helper()
	for i := from; i < to; i++ {
		r := &kgo.Record{Value: fmt.Appendf(nil, "r%d", i), Timestamp: at}
		if err := w.cl.ProduceSync(w.ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// kafka is a member of the group reading the topic, cfg giving the rest.
func (w *warmUpTopic) kafka(t *testing.T, cfg KafkaConfig, log *slog.Logger) *Kafka {
	t.Helper()
	cfg.Config = kafkaconn.Config{Brokers: w.brokers, Timeout: 2 * time.Second}
	cfg.Topic, cfg.Group = topic, group
	k, err := NewKafka(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestKafkaWarmUp: a member given a partition another member of its group
// held reads again, marked WarmUp, the records stored within Rewind
// before the last one committed (not older ones), then the rest live;
// the group's commit never moves back, and a member without Rewind
// starts at the commit.
func TestKafkaWarmUp(t *testing.T) {
	w := newWarmUpTopic(t)
	ctx, cl, now := w.ctx, w.cl, w.now
	produce := func(from, to int, at time.Time) { w.produce(t, from, to, at) }
	newKafka := func(rewind time.Duration, log *slog.Logger) *Kafka {
		return w.kafka(t, KafkaConfig{Rewind: rewind}, log)
	}

	// The first member reads everything live and commits it.
	first := consume(ctx, t, newKafka(24*time.Hour, quiet()), 10)
	if got := first.list(); got != "r0 r1 r2 r3 r4 r5 r6 r7 r8 r9" {
		t.Fatalf("first member: %s", got)
	}
	testkit.WaitFor(t, "the group to commit the ten records", func() bool { return committed(ctx, cl, group, topic) == 10 })

	// The next one warms up from 24h before r9's time, then goes on live.
	var logs strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	k := newKafka(24*time.Hour, log)
	second := startConsume(ctx, t, k)
	testkit.WaitFor(t, "the warm-up of r5 to r9", func() bool { return second.len() == 5 })
	if c := committed(ctx, cl, group, topic); c != 10 {
		t.Errorf("committed %d after the warm-up, want 10: a warm-up commits nothing", c)
	}
	produce(10, 12, now)
	testkit.WaitFor(t, "the live records r10 and r11", func() bool { return second.len() == 7 })
	second.stop()
	if got := second.list(); got != "~r5 ~r6 ~r7 ~r8 ~r9 r10 r11" {
		t.Errorf("second member (~: warm-up): %s", got)
	}
	if st := k.Stats(); st.WarmUp != 5 || st.Delivered != 7 {
		t.Errorf("stats %+v: want 5 warm-up of 7 delivered", st)
	}
	testkit.WaitFor(t, "the group to commit r10 and r11", func() bool { return committed(ctx, cl, group, topic) == 12 })
	mu.Lock()
	if !strings.Contains(logs.String(), "msg=\"kafka: warming up a partition newly assigned\" source=kafka topic=decisions group=correlators partition=0 from=5 to=10 rewind=24h0m0s") {
		t.Errorf("no warm-up logged:\n%s", logs.String())
	}
	mu.Unlock()

	// Without a rewind, the next member starts at the commit.
	produce(12, 13, now)
	third := consume(ctx, t, newKafka(0, quiet()), 1)
	if got := third.list(); got != "r12" {
		t.Errorf("member without rewind: %s", got)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// received is what a consumer delivered, "~" before a warm-up record.
type received struct {
	mu   sync.Mutex
	got  []string
	stop func()
}

func (r *received) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func (r *received) list() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.got, " ")
}

// startConsume runs k until stop, which closes it (leaving the group).
func startConsume(ctx context.Context, t *testing.T, k *Kafka) *received {
	r := &received{}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- k.RunBatch(ctx, func(_ context.Context, ds []*Delivery) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			for _, d := range ds {
				if d.WarmUp {
					r.got = append(r.got, "~"+string(d.Data))
				} else {
					r.got = append(r.got, string(d.Data))
				}
			}
			return nil
		}, 64)
	}()
	r.stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("RunBatch: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("RunBatch did not return within 10s of its cancel")
		}
		k.Close()
	}
	return r
}

// consume runs k until it delivered n records, then closes it.
func consume(ctx context.Context, t *testing.T, k *Kafka, n int) *received {
	t.Helper()
	r := startConsume(ctx, t, k)
	testkit.WaitFor(t, fmt.Sprintf("%d records", n), func() bool { return r.len() >= n })
	r.stop()
	return r
}

// committed is group's committed offset of partition 0 of topic (-1:
// none, or not known).
func committed(ctx context.Context, cl *kgo.Client, group, topic string) int64 {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{0}
	req.Topics = []kmsg.OffsetFetchRequestTopic{rt}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return -1
	}
	return resp.Topics[0].Partitions[0].Offset
}

// TestKafkaWarmUpAfterCounted: a member whose state counted a partition
// up to some offset (KafkaConfig.Counted, restored with it) warms it up
// only from after that offset when it is past the rewind's start, not at
// all when it reaches the commit, and from the rewind's start when it is
// older; each delivery says its partition and offset.
func TestKafkaWarmUpAfterCounted(t *testing.T) {
	w := newWarmUpTopic(t)
	ctx, cl, now := w.ctx, w.cl, w.now
	newKafka := func(counted map[int]int64, log *slog.Logger) *Kafka {
		return w.kafka(t, KafkaConfig{Rewind: 24 * time.Hour, Counted: counted}, log)
	}
	first := consume(ctx, t, newKafka(nil, quiet()), 10)
	if got := first.list(); got != "r0 r1 r2 r3 r4 r5 r6 r7 r8 r9" {
		t.Fatalf("first member: %s", got)
	}
	testkit.WaitFor(t, "the group to commit the ten records", func() bool { return committed(ctx, cl, group, topic) == 10 })

	var logs strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	// Counted up to r7 (offset 8 is the next): r8 and r9 were judged after
	// the state's save, and are warmed up; r5 to r7 are not read again.
	k := newKafka(map[int]int64{0: 8}, log)
	var offsets []int64
	second := &received{}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- k.RunBatch(sctx, func(_ context.Context, ds []*Delivery) error {
			second.mu.Lock()
			defer second.mu.Unlock()
			for _, d := range ds {
				second.got = append(second.got, map[bool]string{true: "~"}[d.WarmUp]+string(d.Data))
				offsets = append(offsets, int64(d.Partition)*1000+d.Offset)
			}
			return nil
		}, 64)
	}()
	testkit.WaitFor(t, "the warm-up of r8 and r9", func() bool { return second.len() == 2 })
	stop()
	k.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := second.list(); got != "~r8 ~r9" {
		t.Errorf("member that counted up to r7 (~: warm-up): %s, want ~r8 ~r9", got)
	}
	if fmt.Sprint(offsets) != "[9 10]" {
		t.Errorf("deliveries' partition*1000+offset: %v, want [9 10] (offset: the record's plus one)", offsets)
	}
	mu.Lock()
	if !strings.Contains(logs.String(), `msg="kafka: warming up a partition newly assigned, after what was counted already" source=kafka topic=decisions group=correlators partition=0 from=8 to=10 rewind=24h0m0s rewind_from=5`) {
		t.Errorf("no warm-up after what was counted logged:\n%s", logs.String())
	}
	mu.Unlock()

	// Counted up to the commit: nothing is read again; r10 comes live.
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("r10"), Timestamp: now}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if got := consume(ctx, t, newKafka(map[int]int64{0: 10}, quiet()), 1).list(); got != "r10" {
		t.Errorf("member that counted everything committed: %s, want r10 alone", got)
	}
	testkit.WaitFor(t, "the group to commit r10", func() bool { return committed(ctx, cl, group, topic) == 11 })

	// Counted up to before the rewind's start: warmed up from the rewind.
	if got := consume(ctx, t, newKafka(map[int]int64{0: 3}, quiet()), 6).list(); got != "~r5 ~r6 ~r7 ~r8 ~r9 ~r10" {
		t.Errorf("member that counted up to r2: %s, want the warm-up from r5", got)
	}
}

// TestKafkaRecordOverFetchSize: brokers that take records of 64 MB (an
// administrator's setting) let whoever may publish on the topic write one
// of 20 MB, more than a reader fetches at once (16 MB). The partition
// must not stall on it, as consumers of other clients have: the records
// after it are delivered (the source then counts the large one as bad).
func TestKafkaRecordOverFetchSize(t *testing.T) {
	cluster := testservers.RunKafka(t, topic, 1, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "67108864"}))
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchMaxBytes(64<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for _, v := range [][]byte{[]byte("r0"), bytes.Repeat([]byte("x"), 20<<20), []byte("r2")} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	k, err := NewKafka(KafkaConfig{Config: kafkaconn.Config{Brokers: cluster.ListenAddrs(), Timeout: 2 * time.Second}, Topic: topic, Group: group}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	r := startConsume(ctx, t, k)
	defer r.stop()
	testkit.WaitFor(t, "r2, after the 20 MB record", func() bool { return strings.HasSuffix(r.list(), " r2") })
}
