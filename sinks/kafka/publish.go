// Package kafka produces decisions to a Kafka topic: one record per
// decision, its value the decision's JSON (pipeline.Decision), its key the
// target (so every decision about one address or range lands on one
// partition, in order), and a header "id" with the decision id, which
// consumers use to drop the copies an at-least-once retry can produce.
// Records are acknowledged by all in-sync replicas (acks=all).
//
// Open wraps the publisher in a queue.Sink: decisions wait on disk while
// the brokers are unreachable and go out in order when they are back.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/sign"
	"github.com/stockade-ids/stockade/sinks/queue"
)

// Publisher is a queue.Publisher for one topic.
type Publisher struct {
	cfg       Config
	w         *kafka.Writer
	transport *kafka.Transport
}

// Open starts a Kafka sink whose backlog lives in dir (the state
// directory): Write queues, a goroutine produces.
func Open(cfg Config, dir string, log *slog.Logger) (*queue.Sink, error) {
	if log == nil {
		log = slog.Default()
	}
	p, err := NewPublisher(cfg, log)
	if err != nil {
		return nil, err
	}
	return queue.OpenSink(dir, p.cfg.queueName(), p, p.cfg.Queue, p.cfg.Delivery, log)
}

// NewPublisher checks cfg; it connects on the first Publish, so that a
// daemon starts while the brokers are down.
func NewPublisher(cfg Config, log *slog.Logger) (*Publisher, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	transport, err := cfg.Config.Transport(cfg.Topic)
	if err != nil {
		return nil, err
	}
	batch := cfg.Delivery.Batch
	if batch <= 0 {
		batch = 256 // queue.SinkConfig's default
	}
	log = log.With("sink", "kafka", "topic", cfg.Topic)
	w := &kafka.Writer{
		Addr:         kafka.TCP(cfg.Brokers...),
		Topic:        cfg.Topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		Compression:  compressions[cfg.Compression],
		Transport:    transport,
		// One delivery batch is at most one produce request per partition,
		// and produce requests to a partition go one at a time, so a
		// partition's records keep their order even when a request fails
		// and the queue sends it again. The writer waits BatchTimeout for a
		// partition's batch to fill; ours are complete when handed over.
		BatchSize:    batch,
		BatchTimeout: time.Millisecond,
		// Our queue retries with its own backoff; the writer's retries
		// would only hide an outage from the metrics.
		MaxAttempts:  2,
		ReadTimeout:  cfg.Timeout,
		WriteTimeout: cfg.Timeout,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			log.Debug("kafka writer: " + fmt.Sprintf(msg, args...))
		}),
	}
	return &Publisher{cfg: cfg, w: w, transport: transport}, nil
}

// Encode implements queue.Publisher: the decision's JSON, signed when a
// signer is set, keyed by its target.
func (p *Publisher) Encode(d *pipeline.Decision) (queue.Message, error) {
	return Encode(d, p.cfg.Signer)
}

// Encode is the queued message a decision becomes, signed when signer is
// set.
func Encode(d *pipeline.Decision, signer *sign.Signer) (queue.Message, error) {
	v, err := d.AppendJSON(nil) // json.Marshal's bytes, which the signature covers
	if err != nil {
		return queue.Message{}, fmt.Errorf("kafka: decision %s: %w", d.ID, err)
	}
	m := queue.Message{ID: d.ID, Key: d.Target.String(), Data: v}
	if signer != nil {
		if m.Sig, err = signer.Sign(v); err != nil {
			return queue.Message{}, fmt.Errorf("kafka: sign decision %s: %w", d.ID, err)
		}
		m.Signer = signer.PublicKey()
	}
	return m, nil
}

// Record is the Kafka record of a queued message.
func Record(m *queue.Message) kafka.Message {
	headers := make([]kafka.Header, 1, 3)
	headers[0] = kafka.Header{Key: "id", Value: []byte(m.ID)}
	if m.Signer != "" {
		headers = append(headers, kafka.Header{Key: sign.HeaderKey, Value: []byte(m.Signer)},
			kafka.Header{Key: sign.HeaderSig, Value: []byte(m.Sig)})
	}
	// No Time: the broker's clock stamps the record. A replayed decision's
	// event time may be old enough for retention to delete it at once.
	return kafka.Message{Key: []byte(m.Key), Value: m.Data, Headers: headers}
}

// Message is the record a decision becomes, signed when signer is set.
func Message(d *pipeline.Decision, signer *sign.Signer) (kafka.Message, error) {
	m, err := Encode(d, signer)
	if err != nil {
		return kafka.Message{}, err
	}
	return Record(&m), nil
}

// Publish implements queue.Publisher. The messages before the first one
// the brokers did not acknowledge count as delivered; the rest are sent
// again later, and consumers drop any copy by its "id" header.
func (p *Publisher) Publish(ctx context.Context, ms []queue.Message) error {
	recs := make([]kafka.Message, len(ms))
	for i := range ms {
		recs[i] = Record(&ms[i])
	}
	err := p.w.WriteMessages(ctx, recs...)
	if err == nil {
		return nil
	}
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		n := 0
		for n < len(werrs) && werrs[n] == nil {
			n++
		}
		var first error
		for _, e := range werrs {
			if e != nil {
				first = e
				break
			}
		}
		return &queue.PartialError{Delivered: n, Err: fmt.Errorf("kafka: %d of %d records failed: %w", werrs.Count(), len(werrs), first)}
	}
	return fmt.Errorf("kafka: %w", err)
}

// Stats are the writer's statistics since the last call.
func (p *Publisher) Stats() kafka.WriterStats { return p.w.Stats() }

// Close implements queue.Publisher.
func (p *Publisher) Close() error {
	err := p.w.Close()
	p.transport.CloseIdleConnections()
	return err
}
