// Package bus consumes what sensors publish on NATS or Kafka: ban
// decisions (for `stockade enforce`, or for a central correlator that
// counts bans across the fleet) or raw log lines (for a correlator that
// judges other hosts' logs). A Consumer hands each message to a Handler
// and acknowledges it only when the handler is done, so a crash in
// between delivers it again rather than losing it.
package bus

import (
	"context"
	"time"
)

// Header names beside the signature headers of package sign.
const (
	// HeaderFormat names the log format of a raw line ("syslog", "nginx",
	// …); without it the consumer's configured format applies.
	HeaderFormat = "Stockade-Format"
	// HeaderSource names the file or listener a raw line came from.
	HeaderSource = "Stockade-Source"
)

// Delivery is one message.
type Delivery struct {
	Data    []byte
	Signer  string // the sign.HeaderKey header
	Sig     string // the sign.HeaderSig header
	Format  string // HeaderFormat
	Source  string // HeaderSource
	Subject string // NATS subject, or Kafka topic
	Stored  time.Time
	// WarmUp marks a record read again to rebuild what another consumer
	// counted (KafkaConfig.Rewind): judged, but what it decides was
	// decided already.
	WarmUp bool
	// Partition and Offset place a Kafka record: Offset is the record's
	// offset plus one (0: not a Kafka record), what the daemon saves with
	// the state that counted it (KafkaConfig.Counted).
	Partition int
	Offset    int64
}

// Handler processes one delivery. It returns nil when the message is done
// with, accepted or refused alike (a forged decision is counted and
// dropped, never retried), and an error only when it should be delivered
// again later (the firewall could not be updated).
type Handler func(ctx context.Context, d *Delivery) error

// BatchHandler processes messages that arrived together, in order. An
// error asks for all of them again.
type BatchHandler func(ctx context.Context, ds []*Delivery) error

// Consumer delivers messages until ctx is done; it returns nil then.
// Connection trouble is retried inside, never returned. RunBatch hands
// over what has arrived, up to max messages at a time, without waiting
// for more: one message alone goes at once, a burst goes in batches.
type Consumer interface {
	Run(ctx context.Context, h Handler) error
	RunBatch(ctx context.Context, h BatchHandler, max int) error
}

// one turns a Handler into a BatchHandler for batches of one.
func one(h Handler) BatchHandler {
	return func(ctx context.Context, ds []*Delivery) error { return h(ctx, ds[0]) }
}

// Stats count what a consumer did.
type Stats struct {
	Delivered uint64 // handed to the handler
	Retried   uint64 // handler errors: the message comes again
	WarmUp    uint64 // of Delivered, records read again to warm up (Kafka)
}

// backoff doubles from 50 ms to 5 s.
type backoff struct{ d time.Duration }

func (b *backoff) next() time.Duration {
	if b.d == 0 {
		b.d = 50 * time.Millisecond
	} else {
		b.d = min(2*b.d, 5*time.Second)
	}
	return b.d
}

func (b *backoff) reset() { b.d = 0 }

// sleep waits d or until ctx is done, reporting whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
