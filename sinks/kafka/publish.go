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
	log       *slog.Logger
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
	return &Publisher{cfg: cfg, w: w, transport: transport, log: log}, nil
}

// Encode implements queue.Publisher: the decision's JSON, signed when a
// signer is set, keyed by its target.
func (p *Publisher) Encode(d *pipeline.Decision) (queue.Message, error) {
	m, cut, err := encode(d, p.cfg.Signer)
	if cut > 0 {
		p.log.Warn("decision's evidence cut to fit a record", "id", d.ID, "lines_left_out", cut, "max_value", maxValue)
	}
	return m, err
}

// maxValue is the most bytes of a record's value: the brokers' default
// message.max.bytes and the writer's batch bytes are 1 MB, and the key
// (a target), the headers (id, signer, signature) and the record's own
// fields take a few hundred bytes of it.
const maxValue = pipeline.MaxDecisionBytes - 1024

// Encode is the queued message a decision becomes, signed when signer is
// set. A decision larger than a record may be keeps as much of its
// evidence as fits (see pipeline.Decision.FitJSON).
func Encode(d *pipeline.Decision, signer *sign.Signer) (queue.Message, error) {
	m, _, err := encode(d, signer)
	return m, err
}

// encode is Encode, also saying how many evidence lines it left out.
func encode(d *pipeline.Decision, signer *sign.Signer) (queue.Message, int, error) {
	v, cut, err := d.FitJSON(nil, maxValue) // json.Marshal's bytes, which the signature covers
	if err != nil {
		return queue.Message{}, 0, fmt.Errorf("kafka: decision %s: %w", d.ID, err)
	}
	m := queue.Message{ID: d.ID, Key: d.Target.String(), Data: v}
	if signer != nil {
		if m.Sig, err = signer.Sign(v); err != nil {
			return queue.Message{}, 0, fmt.Errorf("kafka: sign decision %s: %w", d.ID, err)
		}
		m.Signer = signer.PublicKey()
	}
	return m, cut, nil
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
//
// A record the brokers refuse as too large is refused at every retry:
// once the ones before it are acknowledged, it is reported refused (see
// queue.RefusedError), for the queue to drop it rather than hold up the
// ones behind it. A queued decision larger than a record may be (queued
// by a stockade before this one) is encoded again with the evidence that
// fits.
func (p *Publisher) Publish(ctx context.Context, ms []queue.Message) error {
	recs := make([]kafka.Message, len(ms))
	for i := range ms {
		m, err := p.fit(&ms[i])
		if err != nil {
			return p.before(ctx, recs[:i], err)
		}
		recs[i] = Record(m)
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
		if n < len(werrs) && errors.Is(werrs[n], kafka.MessageSizeTooLarge) {
			// The brokers refuse a batch over their message.max.bytes
			// whole: this record alone tells whether it is the one.
			return p.alone(ctx, recs[n], n, werrs[n])
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

// fit is m as a record may hold it: m itself, or, when its value is
// larger than maxValue, encoded again from its decision with the
// evidence that fits, and signed again.
func (p *Publisher) fit(m *queue.Message) (*queue.Message, error) {
	if len(m.Data) <= maxValue {
		return m, nil
	}
	f, err := queue.Reencode(m, p)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return f, nil
}

// alone produces rec, record n of a Publish whose batch the brokers
// refused as too large (err) after the n before it: refused for good
// when it is too large on its own, delivered with them otherwise.
func (p *Publisher) alone(ctx context.Context, rec kafka.Message, n int, err error) error {
	aerr := p.w.WriteMessages(ctx, rec)
	if aerr == nil {
		return &queue.PartialError{Delivered: n + 1, Err: fmt.Errorf("kafka: a batch larger than the brokers take: %w", err)}
	}
	var werrs kafka.WriteErrors
	if errors.As(aerr, &werrs) && len(werrs) == 1 && errors.Is(werrs[0], kafka.MessageSizeTooLarge) {
		return &queue.RefusedError{Delivered: n, Err: fmt.Errorf("kafka: %w", werrs[0])}
	}
	return &queue.PartialError{Delivered: n, Err: fmt.Errorf("kafka: %w", aerr)}
}

// before produces recs, the records before one that cannot be sent
// (err), and reports that one refused once they are acknowledged.
func (p *Publisher) before(ctx context.Context, recs []kafka.Message, err error) error {
	if len(recs) > 0 {
		if werr := p.w.WriteMessages(ctx, recs...); werr != nil {
			return fmt.Errorf("kafka: %w", werr)
		}
	}
	return &queue.RefusedError{Delivered: len(recs), Err: err}
}

// Stats are the writer's statistics since the last call.
func (p *Publisher) Stats() kafka.WriterStats { return p.w.Stats() }

// Close implements queue.Publisher.
func (p *Publisher) Close() error {
	err := p.w.Close()
	p.transport.CloseIdleConnections()
	return err
}
