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
}

func (c *KafkaConfig) setDefaults() {
	c.Config.SetDefaults()
	if c.Topic == "" {
		c.Topic = "stockade-decisions"
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
	r      *kafka.Reader // made by Run
	closed bool

	delivered, retried atomic.Uint64
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
	return &Kafka{cfg: cfg, log: log, dialer: dialer}, nil
}

// newReader joins the group: kafka-go's reader does so as soon as it
// exists, so it is made only once the group may be joined (after a reset).
func (k *Kafka) newReader() *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers: k.cfg.Brokers, GroupID: k.cfg.Group, Topic: k.cfg.Topic, Dialer: k.dialer,
		StartOffset: kafka.FirstOffset,
		MinBytes:    1, MaxBytes: 16 << 20,
		// A decision should reach the firewalls in a fraction of a second,
		// not wait for a fuller fetch.
		MaxWait:           100 * time.Millisecond,
		ReadBatchTimeout:  time.Second,
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		// Commits are synchronous, after the handler: at-least-once.
		CommitInterval:         0,
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 5 * time.Second,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			k.log.Debug("kafka reader: " + fmt.Sprintf(msg, args...))
		}),
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
func (k *Kafka) Stats() Stats { return Stats{Delivered: k.delivered.Load(), Retried: k.retried.Load()} }

// Close leaves the group.
func (k *Kafka) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.closed = true
	if k.r == nil {
		return nil
	}
	return k.r.Close()
}

// Run implements Consumer.
func (k *Kafka) Run(ctx context.Context, h Handler) error { return k.RunBatch(ctx, one(h), 1) }

// RunBatch implements Consumer. A batch whose handler fails is retried in
// place, with backoff, before any later record: order per target is kept
// (the key is the target). Each batch is committed once handled.
func (k *Kafka) RunBatch(ctx context.Context, h BatchHandler, max int) error {
	max = cmp.Or(max, 1)
	r := k.reader(ctx)
	if r == nil {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Fetching runs ahead of handling, so that what arrived meanwhile is
	// there to batch.
	fetched := make(chan kafka.Message, max+256)
	go k.fetch(ctx, r, fetched)
	for {
		var first kafka.Message
		select {
		case <-ctx.Done():
			return nil
		case first = <-fetched:
		}
		batch := drain(first, fetched, max)
		if !k.handle(ctx, h, batch) || !k.commit(ctx, r, batch) {
			return nil
		}
	}
}

// reader is the group's reader, made at the first run; nil once closed.
func (k *Kafka) reader(ctx context.Context) *kafka.Reader {
	if k.cfg.Reset {
		k.resetGroup(ctx)
		k.cfg.Reset = false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil
	}
	if k.r == nil {
		k.r = k.newReader()
	}
	return k.r
}

// fetch reads records into fetched until ctx ends, retrying a failed
// fetch with backoff.
func (k *Kafka) fetch(ctx context.Context, r *kafka.Reader, fetched chan<- kafka.Message) {
	var b backoff
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return
			}
			d := b.next()
			k.log.Warn("kafka fetch failed; retrying", "err", err, "in", d)
			if !sleep(ctx, d) {
				return
			}
			continue
		}
		b.reset()
		select {
		case fetched <- m:
		case <-ctx.Done():
			return
		}
	}
}

// handle gives batch to h until h takes it; false when ctx ended first.
func (k *Kafka) handle(ctx context.Context, h BatchHandler, batch []kafka.Message) bool {
	ds := make([]*Delivery, len(batch))
	for i, m := range batch {
		ds[i] = kafkaDelivery(m)
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

// commit commits batch until the broker takes it; false when ctx ended
// first. Not committed, a restart would deliver it again, which the
// handler absorbs (decisions are idempotent); it keeps trying so the
// group's position does not fall far behind.
func (k *Kafka) commit(ctx context.Context, r *kafka.Reader, batch []kafka.Message) bool {
	var b backoff
	for {
		err := r.CommitMessages(ctx, batch...)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		d := b.next()
		k.log.Warn("kafka commit failed; retrying", "err", err, "in", d)
		if !sleep(ctx, d) {
			return false
		}
	}
}

func kafkaDelivery(m kafka.Message) *Delivery {
	d := &Delivery{Data: m.Value, Subject: m.Topic, Stored: m.Time}
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
