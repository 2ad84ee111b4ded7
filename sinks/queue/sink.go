package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/sign"
)

// Publisher sends decisions to a remote (a NATS subject, a Kafka topic).
// Encode makes a decision's message once, when it is queued (signing it);
// Publish sends messages exactly as queued. Publish returns nil only when
// the remote confirmed every message, in order; when it confirmed only the
// first few, it says so with a *PartialError. Publish must return soon
// after ctx is done.
type Publisher interface {
	Encoder
	Publish(ctx context.Context, ms []Message) error
	Close() error
}

// PartialError reports that the remote confirmed the first Delivered
// decisions of a Publish and not the rest. Anything not confirmed is sent
// again, so a publisher that cannot tell simply returns a plain error:
// decision ids make the copies harmless.
type PartialError struct {
	Delivered int
	Err       error
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("%d delivered, then: %v", e.Delivered, e.Err)
}

func (e *PartialError) Unwrap() error { return e.Err }

// RefusedError reports that the remote confirmed the first Delivered
// messages of a Publish and will never take the next one, whatever the
// retries (larger than it takes). The Sink drops that one, with an error
// in the log and in the dropped count, so that it does not hold up the
// ones behind it, and goes on with the rest.
type RefusedError struct {
	Delivered int
	Err       error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%d delivered, then refused for good: %v", e.Delivered, e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// Sink turns a Publisher into a pipeline.Sink: Write puts decisions in the
// queue and returns at once (unless the queue is full and its policy is
// Block); one goroutine delivers them in order, retrying with exponential
// backoff while the remote is down, and removes from the queue only what
// the remote confirmed.
type Sink struct {
	q   *Queue
	pub Publisher
	cfg SinkConfig
	log *slog.Logger

	kick     chan struct{} // a Write happened
	stop     chan struct{} // Close began
	stopOnce sync.Once
	cancel   context.CancelFunc // aborts a Publish in flight
	done     chan struct{}      // the delivery goroutine returned
	closeErr error

	delivered, failures atomic.Uint64
	up                  atomic.Bool

	// spill holds, in order, the decisions the queue could not take (its
	// disk is full, say) until it can: later writes go behind them, so the
	// order holds. It is memory: bounded like the queue, and lost if
	// stockade stops before the disk takes it.
	spillMu  sync.Mutex
	spill    []Message
	spillLog time.Time
}

// NewSink starts delivering what q holds through pub. The Sink owns both:
// Close closes them.
func NewSink(q *Queue, pub Publisher, cfg SinkConfig) *Sink {
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sink{
		q: q, pub: pub, cfg: cfg, log: cfg.Log.With("queue", q.Name()),
		kick: make(chan struct{}, 1), stop: make(chan struct{}),
		cancel: cancel, done: make(chan struct{}),
	}
	s.up.Store(true)
	go s.deliver(ctx)
	return s
}

// Write implements pipeline.Sink: the decisions, encoded and signed, are
// on disk when it returns, not yet at the remote; or, when the disk refuses
// them, in memory until it takes them (see Spilled). A decision that
// cannot be encoded is logged and left out: sending it again would not help.
func (s *Sink) Write(ctx context.Context, ds []pipeline.Decision) error {
	return s.WriteMessages(ctx, s.encode(ds))
}

// WriteMessages queues messages made elsewhere (a firewall's reports on
// the bus), as Write queues decisions once encoded.
func (s *Sink) WriteMessages(ctx context.Context, ms []Message) error {
	s.spillMu.Lock()
	var err error
	if len(s.spill) > 0 {
		s.spill = append(s.spill, ms...)
		s.boundSpill()
		s.flushSpillLocked(ctx)
	} else if err = s.q.Push(ctx, ms); err != nil && spillable(err) {
		s.spill = append(s.spill, ms...)
		s.boundSpill()
		s.logSpill(err)
		err = nil
	}
	s.spillMu.Unlock()
	if err != nil {
		return err
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return nil
}

// encode makes the batch's messages, signing them on every core.
func (s *Sink) encode(ds []pipeline.Decision) []Message {
	ms, errs := make([]Message, len(ds)), make([]error, len(ds))
	sign.Each(len(ds), func(i int) { ms[i], errs[i] = s.pub.Encode(&ds[i]) })
	out := ms[:0]
	for i := range ms {
		if errors.Is(errs[i], ErrSkip) {
			continue
		}
		if errs[i] != nil {
			s.q.dropped.Add(1)
			s.log.Error("decision not queued: it cannot be encoded", "id", ds[i].ID, "err", errs[i])
			continue
		}
		out = append(out, ms[i])
	}
	return out
}

// spillable says whether a failed Push should keep its decisions in
// memory: a failure of the disk, not a closed queue or a full queue that
// the caller gave up waiting on.
func spillable(err error) bool {
	return !errors.Is(err, ErrClosed) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// boundSpill drops the oldest spilled decisions beyond the queue's bound.
func (s *Sink) boundSpill() {
	if over := len(s.spill) - s.q.cfg.Max; over > 0 {
		s.spill = append(s.spill[:0], s.spill[over:]...)
		s.q.dropped.Add(uint64(over))
	}
}

func (s *Sink) logSpill(err error) {
	if now := time.Now(); now.Sub(s.spillLog) > 10*time.Second {
		s.spillLog = now
		s.log.Error("queue write failed: decisions wait in memory until the disk takes them", "err", err, "in_memory", len(s.spill))
	}
}

// flushSpillLocked moves the spilled decisions to the queue if it takes
// them now. It never waits for room (ctx only matters to a full Block
// queue).
func (s *Sink) flushSpillLocked(ctx context.Context) {
	if len(s.spill) == 0 {
		return
	}
	if err := s.q.Push(ctx, s.spill); err != nil {
		s.logSpill(err)
		return
	}
	s.log.Info("the queue takes decisions again", "from_memory", len(s.spill))
	s.spill = nil
}

// tryFlushSpill is flushSpillLocked for the delivery goroutine, which must
// not wait for a Write holding the lock (a Write into a full Block queue
// waits for this goroutine's acks).
func (s *Sink) tryFlushSpill() bool {
	if !s.spillMu.TryLock() {
		return false
	}
	defer s.spillMu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // never wait for room
	s.flushSpillLocked(ctx)
	return len(s.spill) == 0
}

// Spilled is how many decisions wait in memory for the queue's disk.
func (s *Sink) Spilled() int {
	s.spillMu.Lock()
	defer s.spillMu.Unlock()
	return len(s.spill)
}

// deliver runs until Close: peek a batch, publish it, ack what the remote
// confirmed; on failure wait (doubling, with jitter) and try again.
func (s *Sink) deliver(ctx context.Context) {
	defer close(s.done)
	backoff := s.cfg.MinBackoff
	var downSince, last time.Time
	for {
		flushed := s.tryFlushSpill()
		ds, err := s.q.Peek(s.cfg.Batch)
		if err != nil {
			if errors.Is(err, ErrClosed) {
				return
			}
			s.log.Error("queue read failed", "err", err)
		}
		if err == nil && len(ds) == 0 {
			var retry <-chan time.Time
			if !flushed {
				retry = time.After(time.Second) // decisions wait in memory
			}
			select {
			case <-s.kick:
				continue
			case <-retry:
				continue
			case <-s.stop:
				return // drained
			}
		}
		if wait := time.Until(last.Add(s.cfg.MinInterval)); err == nil && s.cfg.MinInterval > 0 && wait > 0 {
			// The remote's pace: what arrives meanwhile joins the batch,
			// peeked again after the wait.
			if !s.sleep(wait) {
				return
			}
			continue
		}
		if err == nil {
			last = time.Now()
			err = s.publish(ctx, ds)
			if err == nil {
				if !downSince.IsZero() {
					s.log.Info("remote back: delivering the backlog", "down_for", time.Since(downSince).Round(time.Millisecond), "waiting", s.q.Depth())
					downSince = time.Time{}
				}
				backoff = s.cfg.MinBackoff
				continue
			}
			s.failures.Add(1)
			if downSince.IsZero() {
				downSince = time.Now()
				s.log.Warn("remote unavailable: decisions wait in the queue", "err", err, "waiting", s.q.Depth())
			} else {
				s.log.Debug("delivery retry failed", "err", err, "waiting", s.q.Depth(), "backoff", backoff)
			}
		}
		select {
		case <-s.stop:
			return // the backlog waits for the next start
		default:
		}
		// ±20% jitter, so that many sensors do not all retry at once.
		wait := time.Duration(float64(backoff) * (0.8 + 0.4*rand.Float64()))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.stop:
			t.Stop()
			return
		}
		backoff = min(2*backoff, s.cfg.MaxBackoff)
	}
}

// sleep waits d, or less when Close begins: it then returns false.
func (s *Sink) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.stop:
		return false
	}
}

// publish sends ds and acks what the remote confirmed.
func (s *Sink) publish(ctx context.Context, ds []Message) error {
	pctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
	err := s.pub.Publish(pctx, ds)
	cancel()
	n, refused := len(ds), 0
	if err != nil {
		n = 0
		var (
			pe *PartialError
			re *RefusedError
		)
		switch {
		case errors.As(err, &re) && re.Delivered >= 0 && re.Delivered < len(ds):
			// Acked with those delivered: dropped.
			n, refused, err = re.Delivered, 1, nil
			s.q.dropped.Add(1)
			s.log.Error("decision dropped: the remote refuses it for good", "id", ds[n].ID, "bytes", len(ds[n].Data), "err", re.Err)
		case errors.As(err, &pe):
			n = min(max(pe.Delivered, 0), len(ds))
		}
	}
	if n+refused > 0 {
		if aerr := s.q.Ack(n + refused); aerr != nil {
			// The remote has them; we will send them again, and the
			// decision ids make the copies harmless.
			s.log.Error("queue ack failed", "err", aerr)
			if err == nil {
				err = aerr
			}
		}
		s.delivered.Add(uint64(n))
	}
	s.up.Store(err == nil)
	return err
}

// Close stops delivery and closes the publisher and the queue. While ctx
// allows and the remote accepts them, it first delivers what waits; what
// is left stays in the queue for the next start.
func (s *Sink) Close(ctx context.Context) error {
	s.stopOnce.Do(func() {
		close(s.stop)
		select {
		case <-s.done:
		case <-ctx.Done():
			s.cancel() // abort the Publish in flight: it will be sent again
			<-s.done
		}
		s.cancel()
		s.spillMu.Lock()
		s.flushSpillLocked(ctx)
		if n := len(s.spill); n > 0 {
			s.log.Error("decisions lost: the queue's disk never took them", "count", n)
		}
		s.spillMu.Unlock()
		if n := s.q.Depth(); n > 0 {
			s.log.Info("decisions wait in the queue for the next start", "waiting", n, "file", s.q.Path())
		}
		s.closeErr = errors.Join(s.pub.Close(), s.q.Close())
	})
	return s.closeErr
}

// Depth is how many decisions wait for the remote.
func (s *Sink) Depth() int { return s.q.Depth() }

// OldestAge is how long the oldest waiting decision has waited.
func (s *Sink) OldestAge(now time.Time) time.Duration { return s.q.OldestAge(now) }

// Delivered counts decisions the remote confirmed since start.
func (s *Sink) Delivered() uint64 { return s.delivered.Load() }

// Failures counts failed Publish attempts since start.
func (s *Sink) Failures() uint64 { return s.failures.Load() }

// Dropped counts decisions the full queue dropped since start, and those
// that could not be encoded.
func (s *Sink) Dropped() uint64 { return s.q.Dropped() }

// Up is false from a failed Publish until the next one succeeds.
func (s *Sink) Up() bool { return s.up.Load() }

// Queue is the sink's queue.
func (s *Sink) Queue() *Queue { return s.q }

// OpenSink puts a publisher behind a queue named name in dir: what every
// remote sink's Open does. The publisher is closed if the queue cannot be
// opened; loggers left nil in the configurations are log's.
func OpenSink(dir, name string, pub Publisher, qcfg Config, dcfg SinkConfig, log *slog.Logger) (*Sink, error) {
	if qcfg.Log == nil {
		qcfg.Log = log
	}
	if qcfg.Upgrade == nil {
		qcfg.Upgrade = pub
	}
	q, err := Open(dir, name, qcfg)
	if err != nil {
		pub.Close()
		return nil, err
	}
	if dcfg.Log == nil {
		dcfg.Log = log.With("sink", name)
	}
	return NewSink(q, pub, dcfg), nil
}
