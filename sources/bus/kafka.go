package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/stockade-ids/stockade/internal/kafkaconn"
	"github.com/stockade-ids/stockade/pipeline/sign"
)

// KafkaConfig says what to consume.
type KafkaConfig struct {
	kafkaconn.Config
	// Topic to read (default stockade-decisions).
	Topic string
	// Group is the consumer group (default "stockade"). Firewalls each
	// need their own, so that every one of them sees every decision;
	// correlators share one, so that the topic's partitions (keyed by
	// target) are split between them and each address is counted by one.
	Group string
	// A new group starts at the oldest record the topic keeps; a group
	// that committed resumes after its last commit.
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

func (c *KafkaConfig) validate() error {
	errs := []error{c.Config.Validate("kafka")}
	if !kafkaconn.ValidTopic(c.Topic) {
		errs = append(errs, fmt.Errorf("kafka: topic: %q: want up to 249 of letters, digits, '.', '_' and '-'", c.Topic))
	}
	return errors.Join(errs...)
}

// Kafka is a Consumer in a Kafka consumer group.
type Kafka struct {
	cfg KafkaConfig
	log *slog.Logger
	r   *kafka.Reader

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
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: cfg.Brokers, GroupID: cfg.Group, Topic: cfg.Topic, Dialer: dialer,
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
			log.Debug("kafka reader: " + fmt.Sprintf(msg, args...))
		}),
	})
	return &Kafka{cfg: cfg, log: log, r: r}, nil
}

// Stats are the counts so far.
func (k *Kafka) Stats() Stats { return Stats{Delivered: k.delivered.Load(), Retried: k.retried.Load()} }

// Close leaves the group.
func (k *Kafka) Close() error { return k.r.Close() }

// Run implements Consumer. A record whose handler fails is retried in
// place, with backoff, before any later record of its partition: order
// per target is kept (the key is the target).
func (k *Kafka) Run(ctx context.Context, h Handler) error {
	var fetchBackoff backoff
	for {
		m, err := k.r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return nil
			}
			d := fetchBackoff.next()
			k.log.Warn("kafka fetch failed; retrying", "err", err, "in", d)
			if !sleep(ctx, d) {
				return nil
			}
			continue
		}
		fetchBackoff.reset()
		d := Delivery{Data: m.Value, Subject: m.Topic, Stored: m.Time}
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
		k.delivered.Add(1)
		var b backoff
		for {
			err := h(ctx, &d)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			k.retried.Add(1)
			if !sleep(ctx, b.next()) {
				return nil
			}
		}
		var cb backoff
		for {
			err := k.r.CommitMessages(ctx, m)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			// Not committed: a restart would deliver it again, which the
			// handler absorbs (decisions are idempotent). Keep trying so
			// the group's position does not fall far behind.
			d := cb.next()
			k.log.Warn("kafka commit failed; retrying", "err", err, "in", d)
			if !sleep(ctx, d) {
				return nil
			}
		}
	}
}
