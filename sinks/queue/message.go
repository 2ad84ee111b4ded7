package queue

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/sign"
)

// Message is a decision as the remote receives it, made once when it is
// queued: its JSON (the signed bytes), the signature, and where it goes.
// What waits in the queue is byte for byte what is sent, so a decision is
// neither encoded again nor signed again at every retry, and what a
// remote acknowledged is exactly what the queue held.
type Message struct {
	ID     string // the decision's id: NATS's Nats-Msg-Id, Kafka's "id" header
	Key    string // the NATS subject, or the Kafka record key
	Data   []byte // the decision's JSON
	Signer string // the signer's public key; "" when unsigned
	Sig    string
}

// Encoder makes the Message a decision becomes. It may be called from
// several goroutines at once (a batch is signed on every core).
type Encoder interface {
	Encode(d *pipeline.Decision) (Message, error)
}

// ErrSkip, from Encode, says the remote does not want the decision (a
// notification of bans only gets no unbans): it is left out, silently.
var ErrSkip = errors.New("queue: not for this remote")

// EncodeFunc is an Encoder made of a function.
type EncodeFunc func(d *pipeline.Decision) (Message, error)

// Encode implements Encoder.
func (f EncodeFunc) Encode(d *pipeline.Decision) (Message, error) { return f(d) }

// JSON is the Encoder of an unsigned decision with no key: its JSON.
func JSON(d *pipeline.Decision) (Message, error) {
	data, err := d.AppendJSON(nil)
	if err != nil {
		return Message{}, fmt.Errorf("decision %s: %w", d.ID, err)
	}
	return Message{ID: d.ID, Data: data}, nil
}

// Reencode is m as enc makes it again from the decision m holds, with m's
// key: for a publisher to send a queued message the remote would refuse
// as it is (larger than it now takes), fitted and signed anew, as
// upgradeEntry re-encodes an older stockade's entries.
func Reencode(m *Message, enc Encoder) (*Message, error) {
	var d pipeline.Decision
	if err := json.Unmarshal(m.Data, &d); err != nil {
		return nil, fmt.Errorf("a queued decision of %d bytes, more than the remote takes, does not decode: %w", len(m.Data), err)
	}
	f, err := enc.Encode(&d)
	if err != nil {
		return nil, err
	}
	f.Key = m.Key
	return &f, nil
}

// An entry (format 2) is the enqueue time (8 bytes, Unix ns) followed by
// the message's fields, each a uvarint length and its bytes, in the order
// ID, Key, Signer, Sig, Data.
func appendEntry(b []byte, m *Message, now time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(now.UnixNano()))
	for _, s := range [...]string{m.ID, m.Key, m.Signer, m.Sig} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Data)))
	return append(b, m.Data...)
}

func entrySize(m *Message) int {
	return 8 + 5*binary.MaxVarintLen32 + len(m.ID) + len(m.Key) + len(m.Signer) + len(m.Sig) + len(m.Data)
}

var errEntry = errors.New("truncated entry")

// readEntry decodes an entry; Data is a copy (bbolt's bytes live only as
// long as the transaction).
func readEntry(v []byte) (Message, error) {
	if len(v) < 8 {
		return Message{}, errEntry
	}
	v = v[8:]
	var fields [5][]byte
	for i := range fields {
		n, k := binary.Uvarint(v)
		if k <= 0 || n > uint64(len(v)-k) {
			return Message{}, errEntry
		}
		fields[i], v = v[k:k+int(n)], v[k+int(n):]
	}
	if len(v) != 0 {
		return Message{}, errors.New("trailing bytes in entry")
	}
	return Message{
		ID: string(fields[0]), Key: string(fields[1]), Signer: string(fields[2]), Sig: string(fields[3]),
		Data: append([]byte(nil), fields[4]...),
	}, nil
}

// upgradeEntry turns an entry of format 1 (the enqueue time, then the
// decision's JSON) into one of format 2 made by enc, keeping its time.
func upgradeEntry(v []byte, enc Encoder) ([]byte, error) {
	if len(v) < 8 {
		return nil, errEntry
	}
	var d pipeline.Decision
	if err := json.Unmarshal(v[8:], &d); err != nil {
		return nil, err
	}
	m, err := enc.Encode(&d)
	if err != nil {
		return nil, err
	}
	t := time.Unix(0, int64(binary.BigEndian.Uint64(v)))
	return appendEntry(make([]byte, 0, entrySize(&m)), &m, t), nil
}

// PublishNow encodes ds with p (on every core, as Sink.Write does) and
// publishes them at once, with no queue: for a tool or a test that sends a
// few decisions and wants to know.
func PublishNow(ctx context.Context, p Publisher, ds []pipeline.Decision) error {
	ms, errs := make([]Message, len(ds)), make([]error, len(ds))
	sign.Each(len(ds), func(i int) { ms[i], errs[i] = p.Encode(&ds[i]) })
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return p.Publish(ctx, ms)
}
