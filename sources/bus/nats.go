package bus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stockade-ids/stockade/internal/natsconn"
	"github.com/stockade-ids/stockade/internal/yamlnode"
	"github.com/stockade-ids/stockade/pipeline/sign"
)

// NATSConfig says what to consume.
type NATSConfig struct {
	natsconn.Config `yaml:",inline"`
	// Subject to subscribe to, wildcards allowed (default
	// stockade.decisions.>). With a Stream, it filters the stream.
	Subject string `yaml:"subject"`
	// Stream, when set, consumes through a JetStream durable consumer:
	// messages published while we were away are delivered when we are
	// back, and each is acknowledged once handled. Without it, a core NATS
	// subscription sees only what is published while it is connected.
	Stream string `yaml:"stream"`
	// Durable names the consumer (default "stockade"); each firewall needs
	// its own, or they would share the messages out between them.
	Durable string `yaml:"durable"`
	// Since limits what a new consumer starts with to messages stored this
	// recently (default 0: everything the stream holds).
	Since time.Duration `yaml:"since"`
	// Reset reads again (from Since) what the durable consumer already
	// delivered, before going on with it: what a firewall does when its
	// own state is new (a reinstall) and it must learn every ban still
	// active. It reads message by message with read-only requests, and
	// leaves the durable as it is, so it needs no right to delete or
	// create consumers (on a bus with roles, a firewall has none).
	Reset bool
	// Partitioning makes this one of several correlators (a source's
	// setting, not a firewall's: a firewall reads every decision).
	Partitioning `yaml:"-"`
	// Name is the connection's name on the server.
	Name string
}

// Partitioning makes a source one of Partitions correlators sharing the
// decisions: the server maps each decision's subject, {target} last
// (stockade.decisions.<origin>.<rule>.<target>), to the same subject with
// a partition number appended (stockade.decisions.*.*.*.{{partition(N,3)}}),
// so that every decision about one target carries the same number, and
// the source reads only the subjects ending in Partition. Subject must
// then end in a token, not '>' (default stockade.decisions.*.*.*), and
// Durable defaults to stockade-p<Partition>.
type Partitioning struct {
	Partitions int `yaml:"partitions"`
	Partition  int `yaml:"partition"`
}

// filter is the subject the source subscribes to: Subject, or with
// Partitions the subjects of Partition.
func (c *NATSConfig) filter() string {
	if c.Partitions == 0 {
		return c.Subject
	}
	return c.Subject + "." + strconv.Itoa(c.Partition)
}

func (c *NATSConfig) setDefaults() {
	c.Config.SetDefaults()
	switch {
	case c.Subject != "":
	case c.Partitions > 0:
		c.Subject = "stockade.decisions.*.*.*"
	default:
		c.Subject = "stockade.decisions.>"
	}
	switch {
	case c.Durable != "":
	case c.Partitions > 0:
		c.Durable = "stockade-p" + strconv.Itoa(c.Partition)
	default:
		c.Durable = "stockade"
	}
	if c.Name == "" {
		c.Name = "stockade-consumer"
	}
}

// Validate reports every problem of c once its defaults are filled in,
// each with its key (yamlnode.Problems).
func (c NATSConfig) Validate() error {
	c.setDefaults()
	return c.problems().Err()
}

func (c *NATSConfig) validate() error { return c.problems().Under("nats") }

func (c *NATSConfig) problems() yamlnode.Problems {
	ps := c.Config.Problems()
	if strings.ContainsAny(c.Subject, " \t\r\n") || strings.Contains(c.Subject, "..") || strings.HasPrefix(c.Subject, ".") || strings.HasSuffix(c.Subject, ".") {
		ps.Add("subject", "%q is not a subject", c.Subject)
	}
	if strings.ContainsAny(c.Durable, ". *>\t\r\n/\\") {
		ps.Add("durable", "%q cannot hold '.', '*', '>', '/', '\\' or whitespace", c.Durable)
	}
	if c.Since < 0 {
		ps.Add("since", "%v is negative", c.Since)
	}
	switch {
	case c.Partitions < 0 || c.Partitions > 1024:
		ps.Add("partitions", "%d is not between 1 and 1024", c.Partitions)
	case c.Partitions == 0 && c.Partition != 0:
		ps.Add("partition", "needs partitions: (how many correlators share the decisions)")
	case c.Partitions > 0 && (c.Partition < 0 || c.Partition >= c.Partitions):
		ps.Add("partition", "%d is not between 0 and partitions-1 (%d)", c.Partition, c.Partitions-1)
	case c.Partitions > 0 && strings.HasSuffix(c.Subject, ">"):
		ps.Add("subject", "%q: with partitions, the subject ends in a token (e.g. stockade.decisions.*.*.*), the partition number being appended to it", c.Subject)
	}
	return ps
}

// NATS is a Consumer on NATS.
type NATS struct {
	cfg   NATSConfig
	log   *slog.Logger
	nc    *nats.Conn
	reset bool

	delivered, retried atomic.Uint64
}

// NewNATS checks cfg and starts connecting (without waiting for the
// server).
func NewNATS(cfg NATSConfig, log *slog.Logger) (*NATS, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	log = log.With("source", "nats", "subject", cfg.filter())
	nc, err := cfg.Config.Connect(cfg.Name, log)
	if err != nil {
		return nil, err
	}
	return &NATS{cfg: cfg, log: log, nc: nc, reset: cfg.Reset}, nil
}

// Conn is the connection (status, tests).
func (n *NATS) Conn() *nats.Conn { return n.nc }

// Stats are the counts so far.
func (n *NATS) Stats() Stats { return Stats{Delivered: n.delivered.Load(), Retried: n.retried.Load()} }

// Close closes the connection.
func (n *NATS) Close() { n.nc.Close() }

// Run implements Consumer.
func (n *NATS) Run(ctx context.Context, h Handler) error { return n.RunBatch(ctx, one(h), 1) }

// RunBatch implements Consumer.
func (n *NATS) RunBatch(ctx context.Context, h BatchHandler, max int) error {
	max = cmp.Or(max, 1)
	if n.cfg.Stream == "" {
		return n.runCore(ctx, h, max)
	}
	return n.runJetStream(ctx, h, max)
}

func delivery(subject string, data []byte, hdr nats.Header, stored time.Time) *Delivery {
	return &Delivery{
		Data: data, Subject: subject, Stored: stored,
		Signer: hdr.Get(sign.HeaderKey), Sig: hdr.Get(sign.HeaderSig),
		Format: hdr.Get(HeaderFormat), Source: hdr.Get(HeaderSource),
	}
}

// drain takes first and whatever else is waiting in ch, up to max.
func drain[T any](first T, ch <-chan T, max int) []T {
	batch := []T{first}
	for len(batch) < max {
		select {
		case m := <-ch:
			batch = append(batch, m)
		default:
			return batch
		}
	}
	return batch
}

// runCore subscribes until ctx is done. A handler error cannot bring the
// messages back on core NATS: they are retried in place a few times.
func (n *NATS) runCore(ctx context.Context, h BatchHandler, max int) error {
	msgs := make(chan *nats.Msg, 4096)
	sub, err := n.nc.ChanSubscribe(n.cfg.filter(), msgs)
	if err != nil {
		return fmt.Errorf("nats: subscribe %s: %w", n.cfg.filter(), err)
	}
	// The server must not drop us as a slow consumer before the buffer does.
	_ = sub.SetPendingLimits(1<<20, 256<<20)
	defer sub.Unsubscribe()
	for {
		var first *nats.Msg
		select {
		case <-ctx.Done():
			return nil
		case first = <-msgs:
		}
		batch := drain(first, msgs, max)
		ds := make([]*Delivery, len(batch))
		for i, m := range batch {
			ds[i] = delivery(m.Subject, m.Data, m.Header, time.Now())
		}
		n.delivered.Add(uint64(len(ds)))
		var b backoff
		for attempt := 0; ; attempt++ {
			err := h(ctx, ds)
			if err == nil || ctx.Err() != nil {
				break
			}
			n.retried.Add(uint64(len(ds)))
			if attempt == 4 {
				n.log.Error("messages dropped after 5 attempts (core NATS cannot redeliver)", "count", len(ds), "err", err)
				break
			}
			if !sleep(ctx, b.next()) {
				return nil
			}
		}
	}
}

// runJetStream consumes through the durable consumer, creating it when
// missing and starting over when the stream or the server lost it.
func (n *NATS) runJetStream(ctx context.Context, h BatchHandler, max int) error {
	js, err := jetstream.New(n.nc)
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	var b backoff
	for ctx.Err() == nil {
		if n.reset {
			if err := n.replay(ctx, js, h, max); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				d := b.next()
				n.log.Warn("cannot read the stream from the start; retrying", "stream", n.cfg.Stream, "err", err, "in", d)
				sleep(ctx, d)
				continue
			}
			n.reset = false
			b.reset()
		}
		cons, err := n.consumer(ctx, js)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			d := b.next()
			n.log.Warn("JetStream consumer not ready; retrying", "stream", n.cfg.Stream, "durable", n.cfg.Durable, "err", err, "in", d)
			sleep(ctx, d)
			continue
		}
		b.reset()
		if err := n.consume(ctx, cons, h, max); err != nil && ctx.Err() == nil {
			d := b.next()
			n.log.Warn("JetStream consumer stopped; resuming", "err", err, "in", d)
			sleep(ctx, d)
		}
	}
	return nil
}

func (n *NATS) consumer(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error) {
	if !n.nc.IsConnected() {
		// Say so, rather than what a request on a dead connection says.
		if err := n.nc.LastError(); err != nil {
			return nil, fmt.Errorf("not connected (%s): %w", n.nc.Status(), err)
		}
		return nil, fmt.Errorf("not connected (%s)", n.nc.Status())
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	c, err := js.Consumer(ctx, n.cfg.Stream, n.cfg.Durable)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, err
	}
	cc := DurableConfig(n.cfg.Durable, n.cfg.filter())
	if n.cfg.Since > 0 {
		t := time.Now().Add(-n.cfg.Since)
		cc.DeliverPolicy, cc.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	}
	c, err = js.CreateOrUpdateConsumer(ctx, n.cfg.Stream, cc)
	if err != nil {
		// On a bus with roles only the administrator makes consumers (the
		// daemon hosting nats_server makes one per firewall it lists).
		return nil, fmt.Errorf("durable consumer %s is missing on stream %s and could not be created here (on a bus with roles only an administrator may: "+
			"list this firewall under the embedded server's firewalls, or `nats consumer add` it): %w", n.cfg.Durable, n.cfg.Stream, err)
	}
	return c, nil
}

// replay hands over, in order and in batches, every message the stream
// holds on our subject that the durable consumer already delivered (to
// the state this consumer lost), read by sequence (a read-only request
// each); the durable then delivers the rest, so each message comes once
// (but for those delivered and not yet acknowledged, which the durable
// delivers again). A durable that does not exist yet will deliver
// everything itself: nothing to read then. A batch the handler fails is
// retried until it succeeds or ctx ends: a new firewall must not skip an
// active ban.
func (n *NATS) replay(ctx context.Context, js jetstream.JetStream, h BatchHandler, max int) error {
	if !n.nc.IsConnected() {
		return fmt.Errorf("not connected (%s)", n.nc.Status())
	}
	ictx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	cons, err := js.Consumer(ictx, n.cfg.Stream, n.cfg.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	stream, err := js.Stream(ictx, n.cfg.Stream)
	if err != nil {
		return err
	}
	state := stream.CachedInfo().State
	state.LastSeq = min(state.LastSeq, cons.CachedInfo().Delivered.Stream)
	var since time.Time
	if n.cfg.Since > 0 {
		since = time.Now().Add(-n.cfg.Since)
	}
	read := 0
	for seq := state.FirstSeq; seq > 0 && seq <= state.LastSeq; {
		var batch []*Delivery
		for len(batch) < max && seq <= state.LastSeq {
			gctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
			m, err := stream.GetMsg(gctx, seq, jetstream.WithGetMsgSubject(n.cfg.filter()))
			cancel()
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				seq = state.LastSeq + 1 // nothing on our subject from seq on
				break
			}
			if err != nil {
				return fmt.Errorf("message %d: %w", seq, err)
			}
			if m.Sequence > state.LastSeq {
				seq = m.Sequence
				break
			}
			seq = m.Sequence + 1
			if m.Time.Before(since) {
				continue
			}
			batch = append(batch, delivery(m.Subject, m.Data, m.Header, m.Time))
		}
		if len(batch) == 0 {
			continue
		}
		n.delivered.Add(uint64(len(batch)))
		var b backoff
		for h(ctx, batch) != nil {
			n.retried.Add(uint64(len(batch)))
			if !sleep(ctx, b.next()) {
				return ctx.Err()
			}
		}
		read += len(batch)
	}
	n.log.Info("read the stream from the start, as this consumer's state is new", "stream", n.cfg.Stream, "durable", n.cfg.Durable,
		"messages", read, "up_to", state.LastSeq)
	return nil
}

// DurableConfig is the durable consumer a firewall or a correlator reads
// through: made by the consumer itself when it may, or by the
// administrator (the daemon hosting the embedded server makes one for each
// firewall and correlator it lists).
func DurableConfig(durable, subject string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       durable,
		Description:   "stockade",
		FilterSubject: subject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: 8192,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// consume hands messages over in stream order, in batches of what has
// arrived, and acknowledges each batch once handled. When it ends, it
// gives back what it was handed and did not handle (see giveBack).
func (n *NATS) consume(ctx context.Context, cons jetstream.Consumer, h BatchHandler, max int) error {
	msgs := make(chan jetstream.Msg, 2*max+512)
	fatal := make(chan error, 1)
	// stopping is closed once consume ends: what arrives then waits in
	// left, never blocking the library's delivery.
	stopping := make(chan struct{})
	var leftMu sync.Mutex
	var left []jetstream.Msg
	var unhandled []jetstream.Msg // the batch the handler left when we stop
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case msgs <- m:
		case <-stopping:
			leftMu.Lock()
			left = append(left, m)
			leftMu.Unlock()
		}
	}, jetstream.PullMaxMessages(max+512), jetstream.PullHeartbeat(2*time.Second),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			// Heartbeats missed during a reconnect are retried by the
			// library; a consumer that is gone must be made again.
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
				select {
				case fatal <- err:
				default:
				}
			}
		}))
	if err != nil {
		return err
	}
	defer func() {
		close(stopping)
		n.giveBack(cc, unhandled, msgs, func() []jetstream.Msg {
			leftMu.Lock()
			defer leftMu.Unlock()
			l := left
			left = nil
			return l
		})
	}()
	for {
		var first jetstream.Msg
		select {
		case <-ctx.Done():
			return nil
		case err := <-fatal:
			return err
		case first = <-msgs:
		}
		batch := drain(first, msgs, max)
		ds := make([]*Delivery, len(batch))
		for i, m := range batch {
			stored := time.Now()
			if md, err := m.Metadata(); err == nil {
				stored = md.Timestamp
			}
			ds[i] = delivery(m.Subject(), m.Data(), m.Headers(), stored)
		}
		n.delivered.Add(uint64(len(ds)))
		if err := h(ctx, ds); err != nil {
			if ctx.Err() != nil {
				// Not handled because we stop: back at once (giveBack's
				// Nak, once the server no longer delivers to us).
				unhandled = batch
				return nil
			}
			n.retried.Add(uint64(len(ds)))
			for _, m := range batch {
				// Later, not at once: whatever failed needs time to recover.
				_ = m.NakWithDelay(time.Second)
			}
			continue
		}
		for _, m := range batch {
			_ = m.Ack()
		}
	}
}

// giveBack ends a Consume so that nothing it was handed and did not
// handle waits for the AckWait (30s) before another consumer of the
// durable, or this one started again, gets it.
//
// First the pull requests are withdrawn: the subscription they are
// answered on is drained, which waits for the server to have read its
// unsubscription (a flush). Until then the server still delivers to this
// connection, even once it is closed here (it reads the close late when
// busy), and what it delivered would be pending on a connection that is
// gone. Drained, it delivers nothing more to us, and every message still
// in the library's buffer has gone through the callback (into msgs or
// left). Then each of those is Nak'ed, and the connection flushed, so the
// server has them back before the connection closes.
func (n *NATS) giveBack(cc jetstream.ConsumeContext, back []jetstream.Msg, msgs chan jetstream.Msg, left func() []jetstream.Msg) {
	if !n.nc.IsConnected() {
		// The server drops our pull requests as it sees the connection
		// go; nothing can be given back without it.
		cc.Stop()
		return
	}
	cc.Drain()
	t := time.NewTimer(n.cfg.Timeout)
	defer t.Stop()
	select {
	case <-cc.Closed():
	case <-t.C:
		// The server does not answer: whatever it delivered comes again
		// after the AckWait.
		cc.Stop()
		n.log.Warn("JetStream consumer not drained in time: messages it holds come again after the AckWait", "timeout", n.cfg.Timeout)
	}
	back = append(back, left()...)
	for more := true; more; {
		select {
		case m := <-msgs:
			back = append(back, m)
		default:
			more = false
		}
	}
	back = append(back, left()...)
	if len(back) == 0 {
		return
	}
	for _, m := range back {
		_ = m.Nak()
	}
	if err := n.nc.FlushTimeout(n.cfg.Timeout); err != nil {
		n.log.Warn("messages given back not confirmed: they come again after the AckWait", "count", len(back), "err", err)
		return
	}
	n.log.Debug("messages received and not handled given back", "count", len(back))
}
