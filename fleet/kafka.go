package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/internal/kafkaconn"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/sign"
)

// KafkaStatus is Status on Kafka: the acks of the topic
// enforce.AckTopic and the decisions of topic, since since, read without
// a consumer group (nothing is committed or changed).
func KafkaStatus(ctx context.Context, cfg kafkaconn.Config, topic string, since, now time.Time) ([]Firewall, []Published, error) {
	acks, err := KafkaRead(ctx, cfg, since)
	if err != nil {
		return nil, nil, err
	}
	var pub []Published
	err = eachKafka(ctx, cfg, topic, since, func(m kafka.Message) {
		for _, h := range m.Headers {
			if h.Key == "id" && len(h.Value) > 0 {
				pub = append(pub, Published{ID: string(h.Value), At: m.Time})
			}
		}
	})
	if err != nil {
		return nil, nil, err
	}
	// Partitions are read one after the other: oldest first across them,
	// as Lag wants.
	sortPublished(pub)
	return SummarizePublished(acks, pub, now), pub, nil
}

// KafkaRead is Read on Kafka: the acks of the topic enforce.AckTopic
// since since, oldest first within each partition, at most maxRead.
func KafkaRead(ctx context.Context, cfg kafkaconn.Config, since time.Time) ([]Ack, error) {
	var acks []Ack
	err := eachKafka(ctx, cfg, enforce.AckTopic, since, func(m kafka.Message) {
		if a, ok := decodeKafka(m); ok {
			acks = append(acks, a)
		}
	})
	return acks, err
}

// KafkaAbout is About on Kafka: the decisions of topic since since whose
// target holds addr, as published (not verified: for showing, not
// believing).
func KafkaAbout(ctx context.Context, cfg kafkaconn.Config, topic string, since time.Time, addr netip.Prefix) ([]pipeline.Decision, error) {
	var out []pipeline.Decision
	err := eachKafka(ctx, cfg, topic, since, func(m kafka.Message) {
		var d pipeline.Decision
		if json.Unmarshal(m.Value, &d) == nil && d.Target.IsValid() && d.Target.Overlaps(addr) {
			out = append(out, d)
		}
	})
	return out, err
}

func decodeKafka(m kafka.Message) (Ack, bool) {
	var a Ack
	if err := json.Unmarshal(m.Value, &a.Ack); err != nil || a.Firewall == "" {
		return a, false
	}
	var key, sig string
	for _, h := range m.Headers {
		switch h.Key {
		case sign.HeaderKey:
			key = string(h.Value)
		case sign.HeaderSig:
			sig = string(h.Value)
		}
	}
	if key != "" && sign.Verify(key, m.Value, sig) == nil {
		a.Signer = key
	}
	return a, true
}

// eachKafka calls fn with every message of topic written since since, up
// to maxRead, partition by partition, up to each one's end when read.
func eachKafka(ctx context.Context, cfg kafkaconn.Config, topic string, since time.Time, fn func(kafka.Message)) error {
	if len(cfg.Brokers) == 0 {
		return errors.New("kafka: no brokers")
	}
	dialer, err := cfg.Dialer()
	if err != nil {
		return err
	}
	conn, err := dialer.DialContext(ctx, "tcp", cfg.Brokers[0])
	if err != nil {
		return fmt.Errorf("kafka %s: %w", cfg.Brokers[0], err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		return fmt.Errorf("kafka topic %s: %w", topic, err)
	}
	left := maxRead
	for _, p := range parts {
		n, err := eachPartition(ctx, dialer, cfg.Brokers[0], topic, p.ID, since, left, fn)
		if err != nil {
			return fmt.Errorf("kafka topic %s partition %d: %w", topic, p.ID, err)
		}
		if left -= n; left <= 0 {
			break
		}
	}
	return nil
}

func eachPartition(ctx context.Context, dialer *kafka.Dialer, broker, topic string, part int, since time.Time, limit int, fn func(kafka.Message)) (int, error) {
	lc, err := dialer.DialLeader(ctx, "tcp", broker, topic, part)
	if err != nil {
		return 0, err
	}
	defer lc.Close()
	if dl, ok := ctx.Deadline(); ok {
		lc.SetDeadline(dl)
	}
	first, err := lc.ReadOffset(since)
	if err != nil {
		return 0, err
	}
	last, err := lc.ReadLastOffset() // the next offset to be written
	// No message since since (an empty partition, or all older): the
	// broker answers -1, which is no offset to seek to.
	if err != nil || first < 0 || first >= last {
		return 0, err
	}
	if _, err := lc.Seek(first, kafka.SeekAbsolute); err != nil {
		return 0, err
	}
	n := 0
	for off := first; off < last && n < limit; n++ {
		m, err := lc.ReadMessage(1 << 20)
		if err != nil {
			return n, err
		}
		off = m.Offset + 1
		fn(m)
	}
	return n, nil
}
