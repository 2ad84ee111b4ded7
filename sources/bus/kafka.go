package bus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/stockade-ids/stockade/internal/kafkaconn"
	"github.com/stockade-ids/stockade/internal/yamlnode"
	"github.com/stockade-ids/stockade/pipeline/sign"
)

// DefaultKafkaTopic is the topic of a KafkaConfig that names none.
const DefaultKafkaTopic = "stockade-decisions"

// KafkaConfig says what to consume.
type KafkaConfig struct {
	kafkaconn.Config `yaml:",inline"`
	// Topic to read (default stockade-decisions).
	Topic string `yaml:"topic"`
	// Group is the consumer group (default "stockade"). Firewalls each
	// need their own, so that every one of them sees every decision;
	// correlators share one, so that the topic's partitions (keyed by
	// target) are split between them and each address is counted by one.
	Group string `yaml:"group"`
	// A new group starts at the oldest record the topic keeps; a group
	// that committed resumes after its last commit.

	// Reset deletes the group first, so that it starts over from the
	// oldest record: what a firewall does when its own state is new (a
	// reinstall) and it must learn every ban still active.
	Reset bool

	// Rewind, when set, warms up each partition the group newly assigns
	// to this member: the records stored within Rewind before the last one
	// the group committed are read again and delivered marked WarmUp, so
	// that a correlator rebuilds what the partition's previous holder
	// counted (which sensors banned each address) without deciding again
	// what that holder decided. A correlator sets it to the longest window
	// of its rules that read decisions (config: rewind).
	Rewind time.Duration `yaml:"-"`
	// Counted is, by partition, the offset after the last record the
	// state this member restored counted (its saved windows include it).
	// A partition newly assigned is warmed up from there when that is
	// past the rewind, so that what the state holds is not counted twice
	// (a restart), and not at all when the state holds everything up to
	// the group's commit.
	Counted map[int]int64 `yaml:"-"`
}

func (c *KafkaConfig) setDefaults() {
	c.Config.SetDefaults()
	if c.Topic == "" {
		c.Topic = DefaultKafkaTopic
	}
	if c.Group == "" {
		c.Group = "stockade"
	}
}

// Validate reports every problem of c once its defaults are filled in,
// each with its key (yamlnode.Problems).
func (c KafkaConfig) Validate() error {
	c.setDefaults()
	return c.problems().Err()
}

func (c *KafkaConfig) validate() error { return c.problems().Under("kafka") }

func (c *KafkaConfig) problems() yamlnode.Problems {
	ps := c.Config.Problems()
	if !kafkaconn.ValidTopic(c.Topic) {
		ps.Add("topic", "%q: want up to 249 of letters, digits, '.', '_' and '-'", c.Topic)
	}
	return ps
}

// Kafka is a Consumer in a Kafka consumer group.
type Kafka struct {
	cfg    KafkaConfig
	log    *slog.Logger
	dialer *kafka.Dialer

	mu     sync.Mutex
	g      *kafka.ConsumerGroup // made by Run
	closed bool

	// next is, for each partition this member holds, the offset after the
	// last record it handled; touched by RunBatch's goroutine only.
	next map[int]int64
	// counted is, for each partition this member ever held, the offset
	// after the last record it handed over (warm-up ones too), from
	// KafkaConfig.Counted at first; touched by RunBatch's goroutine only.
	counted map[int]int64

	delivered, retried, warmUp atomic.Uint64
}

// NewKafka checks cfg; it connects when Run starts.
func NewKafka(cfg KafkaConfig, log *slog.Logger) (*Kafka, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	log = log.With("source", "kafka", "topic", cfg.Topic, "group", cfg.Group)
	dialer, err := cfg.Config.Dialer()
	if err != nil {
		return nil, err
	}
	counted := make(map[int]int64, len(cfg.Counted))
	for p, o := range cfg.Counted {
		counted[p] = o
	}
	return &Kafka{cfg: cfg, log: log, dialer: dialer, counted: counted}, nil
}

// newGroup joins the consumer group. It is made only once the group may
// be joined (after a reset).
func (k *Kafka) newGroup() (*kafka.ConsumerGroup, error) {
	return kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: k.cfg.Group, Brokers: k.cfg.Brokers, Topics: []string{k.cfg.Topic}, Dialer: k.dialer,
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		Timeout:           k.cfg.Timeout,
		// A partition added to the topic is assigned without waiting for a
		// member to come or go.
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 5 * time.Second,
		ErrorLogger:            k.debugLogger("kafka group: "),
	})
}

// newPartitionReader reads one partition of the topic, outside any group:
// the group's generation says which partitions are ours.
func (k *Kafka) newPartitionReader(partition int) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers: k.cfg.Brokers, Topic: k.cfg.Topic, Partition: partition, Dialer: k.dialer,
		MinBytes: 1, MaxBytes: 16 << 20,
		// A decision should reach the firewalls in a fraction of a second,
		// not wait for a fuller fetch.
		MaxWait:          100 * time.Millisecond,
		ReadBatchTimeout: time.Second,
		ErrorLogger:      k.debugLogger("kafka reader: "),
	})
}

func (k *Kafka) debugLogger(prefix string) kafka.Logger {
	return kafka.LoggerFunc(func(msg string, args ...any) {
		k.log.Debug(prefix + fmt.Sprintf(msg, args...))
	})
}

// resetGroup deletes the group before it is joined. A group whose last
// member has not timed out yet cannot be deleted: that is retried for a
// while, then given up with a warning (the group then resumes).
func (k *Kafka) resetGroup(ctx context.Context) {
	transport, err := k.cfg.Config.Transport(k.cfg.Topic)
	if err != nil {
		k.log.Warn("kafka: cannot reset the consumer group", "err", err)
		return
	}
	defer transport.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(k.cfg.Brokers...), Timeout: k.cfg.Timeout, Transport: transport}
	var b backoff
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := c.DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: []string{k.cfg.Group}})
		if err == nil {
			err = res.Errors[k.cfg.Group]
		}
		switch {
		case err == nil:
			k.log.Info("consumer group reset: every record the topic holds comes again")
			return
		case errors.Is(err, kafka.GroupIdNotFound):
			return
		case ctx.Err() != nil:
			return
		case time.Now().After(deadline):
			k.log.Warn("kafka: the consumer group could not be reset; it resumes where it was", "err", err)
			return
		}
		k.log.Debug("kafka: consumer group not reset yet", "err", err)
		sleep(ctx, b.next())
	}
}

// Stats are the counts so far.
func (k *Kafka) Stats() Stats {
	return Stats{Delivered: k.delivered.Load(), Retried: k.retried.Load(), WarmUp: k.warmUp.Load()}
}

// Close leaves the group.
func (k *Kafka) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.closed = true
	if k.g == nil {
		return nil
	}
	return k.g.Close()
}

// Run implements Consumer.
func (k *Kafka) Run(ctx context.Context, h Handler) error { return k.RunBatch(ctx, one(h), 1) }

// RunBatch implements Consumer. A batch whose handler fails is retried in
// place, with backoff, before any later record: order per target is kept
// (the key is the target). Each batch is committed once handled.
//
// It consumes one generation of the group after another: a generation
// ends when a member comes or goes, and the next one may hand this member
// other partitions.
func (k *Kafka) RunBatch(ctx context.Context, h BatchHandler, max int) error {
	max = cmp.Or(max, 1)
	g := k.group(ctx)
	if g == nil {
		return nil
	}
	var b backoff
	for {
		gen, err := g.Next(ctx)
		switch {
		case ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed):
			return nil
		case err != nil:
			d := b.next()
			k.log.Warn("kafka: cannot join the consumer group; retrying", "err", err, "in", d)
			if !sleep(ctx, d) {
				return nil
			}
			continue
		}
		b.reset()
		if !k.generation(ctx, gen, h, max) {
			return nil
		}
	}
}

// group is the consumer group, joined at the first run; nil once closed.
func (k *Kafka) group(ctx context.Context) *kafka.ConsumerGroup {
	if k.cfg.Reset {
		k.resetGroup(ctx)
		k.cfg.Reset = false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for !k.closed && k.g == nil {
		g, err := k.newGroup()
		if err != nil {
			// Only a configuration kafka-go refuses; NewKafka checked it.
			k.log.Error("kafka: cannot make the consumer group", "err", err)
			return nil
		}
		k.g = g
	}
	if k.closed {
		return nil
	}
	return k.g
}

// fetched is a record read from one of our partitions; warm-up records
// are older than the group's commit (see KafkaConfig.Rewind).
type fetched struct {
	kafka.Message
	warm bool
}

// generation reads the partitions gen assigns until it ends (true) or ctx
// does (false). A partition this member held in the generation before
// goes on where this member left it; one newly assigned is warmed up
// first (see readPartition). What was fetched and not handled when the
// generation ends is dropped: it is not committed, so whoever holds the
// partition next reads it.
func (k *Kafka) generation(ctx context.Context, gen *kafka.Generation, h BatchHandler, size int) bool {
	ended := make(chan struct{})
	gen.Start(func(gctx context.Context) {
		<-gctx.Done()
		close(ended)
	})
	// Fetching runs ahead of handling, so that what arrived meanwhile is
	// there to batch.
	ch := make(chan fetched, size+256)
	next := map[int]int64{}
	for _, a := range gen.Assignments[k.cfg.Topic] {
		// A partition kept goes on after what this member handled, which
		// may be past the commit (one the rebalance cut short).
		from, held := k.next[a.ID]
		if !held || a.Offset > from {
			from = a.Offset
		}
		// A partition not held just before is warmed up, from after what
		// this member counted of it already if that is within the rewind
		// (its state, restored or kept since it last held it, has those).
		floor, counted := k.counted[a.ID]
		warm := !held && k.cfg.Rewind > 0 && a.Offset > 0 && (!counted || floor < a.Offset)
		next[a.ID] = from
		gen.Start(func(gctx context.Context) {
			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			stop := context.AfterFunc(gctx, cancel)
			defer stop()
			k.readPartition(rctx, a.ID, from, floor, warm, ch)
		})
	}
	k.next = next
	for {
		var first fetched
		select {
		case <-ctx.Done():
			return false
		case <-ended:
			return true
		case first = <-ch:
		}
		batch := drain(first, ch, size)
		if !k.handle(ctx, h, batch) {
			return false
		}
		k.commit(ctx, gen, ended, batch)
	}
}

// readPartition sends the records of partition from offset from into ch
// until ctx ends, retrying a failed fetch with backoff. With warm set, it
// first sends, marked warm-up, what came in the Rewind before the record
// last committed, from floor at the earliest: what the member that held
// the partition before us knew, and this member did not count already.
func (k *Kafka) readPartition(ctx context.Context, partition int, from, floor int64, warm bool, ch chan<- fetched) {
	live := from
	if warm {
		from = k.rewound(ctx, partition, from, floor)
	}
	r := k.newPartitionReader(partition)
	defer r.Close()
	if err := r.SetOffset(from); err != nil {
		return
	}
	var b backoff
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return
			}
			d := b.next()
			k.log.Warn("kafka fetch failed; retrying", "partition", partition, "err", err, "in", d)
			if !sleep(ctx, d) {
				return
			}
			continue
		}
		b.reset()
		select {
		case ch <- fetched{Message: m, warm: m.Offset < live}:
		case <-ctx.Done():
			return
		}
	}
}

// rewound is the offset of partition's first record stored at most Rewind
// before the one at committed-1 (the last the group handled), or floor
// when that is later, or committed when it cannot be told: the warm-up is
// then skipped.
func (k *Kafka) rewound(ctx context.Context, partition int, committed, floor int64) int64 {
	off, err := k.rewindOffset(ctx, partition, committed)
	switch {
	case ctx.Err() != nil:
		return committed
	case err != nil:
		k.log.Warn("kafka: no warm-up of a partition newly assigned: what its previous holder counted is not rebuilt",
			"partition", partition, "err", err)
		return committed
	}
	if floor > off {
		// Counted before: by the saved state, or while this member last held it.
		k.log.Info("kafka: warming up a partition newly assigned, after what was counted already", "partition", partition,
			"from", floor, "to", committed, "rewind", k.cfg.Rewind, "rewind_from", off)
		return floor
	}
	k.log.Info("kafka: warming up a partition newly assigned", "partition", partition,
		"from", off, "to", committed, "rewind", k.cfg.Rewind)
	return off
}

// rewindOffset finds the offset of rewound on a reader of its own, closed
// before the partition's reader starts: kafka-go's Reader starts a fetching
// goroutine at each SetOffset that reads the reader's version unlocked, so a
// SetOffset right after another (SetOffsetAt ends with one) raced with it,
// and the goroutine fetching from the rewind's start could take the newer
// version: its records, from before the offset asked, then delivered as if
// asked for (the race detector found it in TestKafkaWarmUpAfterCounted).
// Close waits for the reader's goroutines, so the partition's reader starts
// after them.
func (k *Kafka) rewindOffset(ctx context.Context, partition int, committed int64) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, k.cfg.Timeout)
	defer cancel()
	r := k.newPartitionReader(partition)
	defer r.Close()
	if err := r.SetOffset(committed - 1); err != nil {
		return 0, err
	}
	last, err := r.FetchMessage(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the record last committed: %w", err)
	}
	if err := r.SetOffsetAt(ctx, last.Time.Add(-k.cfg.Rewind)); err != nil {
		return 0, fmt.Errorf("finding the offset %s before it: %w", k.cfg.Rewind, err)
	}
	off := r.Offset()
	if off < 0 || off > committed {
		return 0, fmt.Errorf("the offset %s before the record last committed is %d, past the commit (%d)", k.cfg.Rewind, off, committed)
	}
	return off, nil
}

// handle gives batch to h until h takes it; false when ctx ended first.
func (k *Kafka) handle(ctx context.Context, h BatchHandler, batch []fetched) bool {
	ds := make([]*Delivery, len(batch))
	for i, m := range batch {
		ds[i] = kafkaDelivery(m.Message)
		ds[i].WarmUp = m.warm
		k.counted[m.Partition] = max(k.counted[m.Partition], m.Offset+1)
		if m.warm {
			k.warmUp.Add(1)
		}
	}
	k.delivered.Add(uint64(len(ds)))
	var b backoff
	for {
		if h(ctx, ds) == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		k.retried.Add(uint64(len(ds)))
		if !sleep(ctx, b.next()) {
			return false
		}
	}
}

// commit commits the live records of batch (warm-up ones lie before the
// group's commit already) until the broker takes them, ctx ends or the
// generation does: a generation over cannot commit, and the partition's
// next holder reads what was not committed. Not committed, a restart
// would deliver it again, which the handler absorbs (decisions are
// idempotent); it keeps trying so the group's position does not fall far
// behind.
func (k *Kafka) commit(ctx context.Context, gen *kafka.Generation, ended <-chan struct{}, batch []fetched) {
	offsets := map[int]int64{}
	for _, m := range batch {
		if !m.warm {
			offsets[m.Partition] = max(offsets[m.Partition], m.Offset+1)
		}
	}
	if len(offsets) == 0 {
		return
	}
	for p, o := range offsets {
		k.next[p] = max(k.next[p], o)
	}
	var b backoff
	for {
		err := gen.CommitOffsets(map[string]map[int]int64{k.cfg.Topic: offsets})
		if err == nil {
			return
		}
		select {
		case <-ended:
			return
		default:
		}
		if ctx.Err() != nil {
			return
		}
		d := b.next()
		k.log.Warn("kafka commit failed; retrying", "err", err, "in", d)
		if !sleep(ctx, d) {
			return
		}
	}
}

func kafkaDelivery(m kafka.Message) *Delivery {
	d := &Delivery{Data: m.Value, Subject: m.Topic, Stored: m.Time, Partition: m.Partition, Offset: m.Offset + 1}
	for _, hd := range m.Headers {
		switch hd.Key {
		case sign.HeaderKey:
			d.Signer = string(hd.Value)
		case sign.HeaderSig:
			d.Sig = string(hd.Value)
		case HeaderFormat:
			d.Format = string(hd.Value)
		case HeaderSource:
			d.Source = string(hd.Value)
		}
	}
	return d
}
