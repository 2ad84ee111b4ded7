// Package nats publishes decisions to NATS, one message per decision: the
// decision's JSON (pipeline.Decision) on a subject made from a template,
// with the decision id as Nats-Msg-Id. The message is made and signed once,
// when the decision is queued. With a JetStream stream, a decision
// counts as delivered once the stream has stored it, and a copy sent again
// within the stream's duplicate window is dropped by the server.
//
// Open wraps the publisher in a queue.Sink: decisions wait on disk while
// the server is down and go out in order when it is back.
package nats

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stockade-ids/stockade/internal/natsconn"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/sign"
	"github.com/stockade-ids/stockade/sinks/queue"
)

// Publisher is a queue.Publisher for one NATS connection.
type Publisher struct {
	cfg  Config
	subj *template
	log  *slog.Logger
	nc   *nats.Conn
	js   jetstream.JetStream // nil on core NATS

	streamMu sync.Mutex
	streamOK atomic.Bool

	duplicates atomic.Uint64
}

// Open starts a NATS sink whose backlog lives in dir (the state directory):
// Write queues, a goroutine publishes.
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

// NewPublisher checks cfg and starts connecting. It does not wait for the
// server: a daemon must start while NATS is down, and Publish fails until
// the connection is up.
func NewPublisher(cfg Config, log *slog.Logger) (*Publisher, error) {
	cfg.setDefaults()
	subj, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	log = log.With("sink", "nats", "url", natsconn.RedactURL(cfg.URL))
	nc, err := cfg.Config.Connect(cfg.connName(), log)
	if err != nil {
		return nil, err
	}
	p := &Publisher{cfg: cfg, subj: subj, log: log, nc: nc}
	if cfg.Stream != "" {
		p.js, err = jetstream.New(nc, jetstream.WithPublishAsyncTimeout(cfg.Timeout))
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("nats: %w", err)
		}
	}
	return p, nil
}

// Encode implements queue.Publisher: the decision's JSON, signed when a
// signer is set, on the subject the template makes of it.
// A decision larger than the server takes keeps as much of its evidence
// as fits (see pipeline.Decision.FitJSON).
func (p *Publisher) Encode(d *pipeline.Decision) (queue.Message, error) {
	max := p.maxPayload()
	m := queue.Message{ID: d.ID, Key: p.subj.Subject(d)}
	if p.cfg.Signer != nil {
		m.Signer = p.cfg.Signer.PublicKey()
		m.Sig = sigRoom // its length, for the headers' size
	}
	// json.Marshal's bytes, which the signature covers.
	data, cut, err := d.FitJSON(nil, max-headerSize(&m))
	if err != nil {
		return queue.Message{}, fmt.Errorf("nats: decision %s: %w", d.ID, err)
	}
	if cut > 0 {
		p.log.Warn("decision's evidence cut to fit the server's max_payload", "id", d.ID, "lines_left_out", cut, "max_payload", max)
	}
	m.Data, m.Sig = data, ""
	if p.cfg.Signer != nil {
		if m.Sig, err = p.cfg.Signer.Sign(data); err != nil {
			return queue.Message{}, fmt.Errorf("nats: sign decision %s: %w", d.ID, err)
		}
	}
	return m, nil
}

// sigRoom is as long as a signature header's value: an ed25519 signature
// in unpadded base64url.
var sigRoom = strings.Repeat("x", base64.RawURLEncoding.EncodedLen(ed25519.SignatureSize))

// maxPayload is the most bytes a message may have, headers and data: what
// the server said when it was last connected, or its default, and never
// more than the decisions a bus source takes (a server allowing more
// would carry decisions the correlators drop).
func (p *Publisher) maxPayload() int {
	if mp := p.nc.MaxPayload(); mp > 0 {
		return int(min(mp, pipeline.MaxDecisionBytes))
	}
	return pipeline.MaxDecisionBytes
}

// headerSize is the size of the headers natsMsg gives m, as the server
// counts them against max_payload.
func headerSize(m *queue.Message) int {
	n := len("NATS/1.0\r\n\r\n") + len(nats.MsgIdHdr) + len(m.ID) + 4
	if m.Signer != "" {
		n += len(sign.HeaderKey) + len(m.Signer) + 4 + len(sign.HeaderSig) + len(m.Sig) + 4
	}
	return n
}

// fit is m as it can be sent to a server taking max bytes: m itself, or,
// when it is larger (queued while the server was away, or before it was
// set lower), encoded again from its decision with the evidence that
// fits, and signed again.
func (p *Publisher) fit(m *queue.Message, max int) (*queue.Message, error) {
	if len(m.Data)+headerSize(m) <= max {
		return m, nil
	}
	f, err := queue.Reencode(m, p)
	if err != nil {
		return nil, fmt.Errorf("nats: max_payload %d: %w", max, err)
	}
	return f, nil
}

// Publish implements queue.Publisher. On core NATS the messages count as
// delivered once a flush returns (the server has them; subscribers may
// not); on JetStream, once the stream acknowledged each one.
func (p *Publisher) Publish(ctx context.Context, ms []queue.Message) error {
	if !p.nc.IsConnected() {
		// The last error says why: refused, authorization, TLS.
		if err := p.nc.LastError(); err != nil {
			return fmt.Errorf("nats: not connected (%s): %w", p.nc.Status(), err)
		}
		return fmt.Errorf("nats: not connected (%s)", p.nc.Status())
	}
	max := p.maxPayload() // once a batch: it takes the connection's lock
	if p.js != nil {
		return p.publishJS(ctx, ms, max)
	}
	var refused error
	for i := range ms {
		m, err := p.fit(&ms[i], max)
		if err != nil {
			// Those before it count once flushed.
			refused = &queue.RefusedError{Delivered: i, Err: err}
			break
		}
		if err := p.nc.PublishMsg(natsMsg(m)); err != nil {
			return fmt.Errorf("nats: publish: %w", err)
		}
	}
	fctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	if err := p.nc.FlushWithContext(fctx); err != nil {
		return fmt.Errorf("nats: flush: %w", err)
	}
	return refused
}

// natsMsg is the NATS message of a queued one: its id as Nats-Msg-Id, its
// signature in headers.
func natsMsg(m *queue.Message) *nats.Msg {
	h := make(nats.Header, 3)
	h[nats.MsgIdHdr] = []string{m.ID}
	if m.Signer != "" {
		h[sign.HeaderKey] = []string{m.Signer}
		h[sign.HeaderSig] = []string{m.Sig}
	}
	return &nats.Msg{Subject: m.Key, Header: h, Data: m.Data}
}

// publishJS sends the batch without waiting between messages (one
// connection keeps them in order) and then collects the acks in order;
// the messages before the first missing ack count as delivered.
func (p *Publisher) publishJS(ctx context.Context, ms []queue.Message, max int) error {
	if err := p.ensureStream(ctx); err != nil {
		return err
	}
	futs := make([]jetstream.PubAckFuture, 0, len(ms))
	var sendErr error
	for i := range ms {
		m, err := p.fit(&ms[i], max)
		if err != nil {
			sendErr = &queue.RefusedError{Delivered: i, Err: err}
			break
		}
		f, err := p.js.PublishMsgAsync(natsMsg(m), jetstream.WithExpectStream(p.cfg.Stream))
		if err != nil {
			sendErr = fmt.Errorf("nats: publish: %w", err)
			break
		}
		futs = append(futs, f)
	}
	for n, f := range futs {
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				p.duplicates.Add(1)
			}
		case err := <-f.Err():
			// Look for (or make) the stream again; say so once per outage.
			if errors.Is(err, jetstream.ErrNoStreamResponse) && p.streamOK.CompareAndSwap(true, false) {
				p.log.Error("no JetStream stream stored the decisions: the stream is missing (the administrator must create it; "+
					"a daemon hosting nats_server with roles does at start) or unavailable; decisions wait in the queue",
					"stream", p.cfg.Stream, "subject", ms[n].Key)
			}
			return &queue.PartialError{Delivered: n, Err: fmt.Errorf("nats: stream %s: %w", p.cfg.Stream, err)}
		case <-ctx.Done():
			return &queue.PartialError{Delivered: n, Err: ctx.Err()}
		}
	}
	var refused *queue.RefusedError
	if errors.As(sendErr, &refused) {
		return refused // every one before it acknowledged
	}
	if sendErr != nil {
		return &queue.PartialError{Delivered: len(futs), Err: sendErr}
	}
	return nil
}

// ensureStream finds the stream, or creates it on the subjects the
// template can make, once per connection to a server that has it. On a bus
// with roles a sensor may not create the stream, and perhaps not even look
// it up: then the administrator must have made it, and publishing (each
// message expecting that stream) is what tells whether it is there.
func (p *Publisher) ensureStream(ctx context.Context) error {
	if p.streamOK.Load() {
		return nil
	}
	p.streamMu.Lock()
	defer p.streamMu.Unlock()
	if p.streamOK.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	_, err := p.js.Stream(ctx, p.cfg.Stream)
	switch {
	case err == nil:
	case errors.Is(err, jetstream.ErrStreamNotFound):
		subject := p.subj.streamSubject()
		_, err = p.js.CreateStream(ctx, StreamConfig(p.cfg.Stream, subject, p.cfg.Duplicates, p.cfg.MaxAge))
		switch {
		case errors.Is(err, jetstream.ErrStreamNameAlreadyInUse):
			// another sensor made it first
		case err != nil:
			// Said at every attempt: nothing goes out until it is fixed.
			p.log.Error("JetStream stream missing, and this sink could not create it (on a bus with roles only an administrator may): "+
				"the administrator must create it (a daemon hosting nats_server with roles does at start); decisions wait in the queue",
				"stream", p.cfg.Stream, "subjects", subject, "err", err)
			return fmt.Errorf("nats: stream %s: missing and not created: %w", p.cfg.Stream, err)
		default:
			p.log.Info("created JetStream stream", "stream", p.cfg.Stream, "subjects", subject, "duplicates", p.cfg.Duplicates)
		}
	default:
		p.log.Warn("cannot look up the JetStream stream (this sink may lack the right to read its settings); publishing to it, each message expecting it",
			"stream", p.cfg.Stream, "err", err)
	}
	p.streamOK.Store(true)
	return nil
}

// StreamConfig is the stream of decisions on subject (stockade.decisions.>
// for the default template): what a sink creates when it may, and what the
// daemon hosting the embedded server creates as its administrator. Direct
// gets let a consumer read any message by sequence without a consumer of
// its own (a firewall starting over with no right to reset its durable).
func StreamConfig(name, subject string, duplicates, maxAge time.Duration) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        name,
		Description: "stockade ban decisions",
		Subjects:    []string{subject},
		Storage:     jetstream.FileStorage,
		Duplicates:  duplicates,
		MaxAge:      maxAge,
		AllowDirect: true,
	}
}

// Duplicates counts decisions the stream had already stored (re-sent after
// a lost acknowledgement, or replayed).
func (p *Publisher) Duplicates() uint64 { return p.duplicates.Load() }

// Conn is the connection (status, statistics).
func (p *Publisher) Conn() *nats.Conn { return p.nc }

// Close implements queue.Publisher.
func (p *Publisher) Close() error {
	p.nc.Close()
	return nil
}
