package listen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources"
)

// Run binds the configured addresses (unless Bind did) and serves until
// ctx is done, sending each event on out. It returns nil on cancel, or
// the error that stopped it: a failed bind, or a listener that broke. It
// never closes out. Run (or RunBatches) may be called once.
func (s *Syslog) Run(ctx context.Context, out chan<- pipeline.Event) error {
	return s.run(ctx, output{events: out})
}

// RunBatches is Run handing events over in batches (see pipeline.Batch):
// what the UDP socket held, what a TCP connection had buffered. A batch
// holds the messages' bytes too, and is filled again once released.
func (s *Syslog) RunBatches(ctx context.Context, out chan<- *pipeline.Batch) error {
	return s.run(ctx, output{batches: out, pool: pipeline.NewBatches(BatchEvents, batchesKept)})
}

const (
	// BatchEvents is how many events a batch of RunBatches holds at most:
	// what 200,000 messages a second bring in a UDP listener's linger
	// (udpLinger), handed over at once.
	BatchEvents = 1024
	// batchData is the memory a batch's messages are copied into (about
	// 250 bytes each when it is full). A message larger than an eighth of
	// it gets a buffer of its own.
	batchData = 256 << 10
	// batchesKept is how many released batches a listener keeps for
	// reuse: one being filled, one being judged, a few waiting.
	batchesKept = 8
)

// Bind opens the configured addresses now, ahead of Run: a daemon binds
// before it loads its state, so that a sender is not refused meanwhile
// (the kernel holds what arrives until Run reads it). It may be called
// more than once; the first call binds.
func (s *Syslog) Bind(ctx context.Context) error {
	s.bindOnce.Do(func() {
		s.bound.udp, s.bound.tcp, s.bound.unix, s.bindErr = s.bind(ctx)
		close(s.ready)
	})
	return s.bindErr
}

// Close closes what Bind opened, for a daemon whose start failed before
// Run; Run closes them itself when ctx is done.
func (s *Syslog) Close() {
	// Never bound: nothing will be (a Run after Close fails).
	s.bindOnce.Do(func() {
		s.bindErr = errors.New("listen: syslog: closed")
		close(s.ready)
	})
	s.bound.close(s.cfg.Unix)
}

func (b *sockets) close(unixPath string) {
	if b.udp != nil {
		b.udp.Close()
	}
	if b.tcp != nil {
		b.tcp.Close()
	}
	if b.unix != nil {
		b.unix.Close()
		os.Remove(unixPath)
	}
}

func (s *Syslog) run(ctx context.Context, out output) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("listen: syslog: Run called twice")
	}
	if err := s.Bind(ctx); err != nil {
		return err
	}
	udp, tcp, unix := s.bound.udp, s.bound.tcp, s.bound.unix

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		runErr  error
	)
	fail := func(err error) {
		errOnce.Do(func() { runErr = err })
		cancel()
	}
	conns := &connSet{max: s.cfg.MaxConns, perPeer: s.cfg.MaxConnsPerPeer, evictAfter: s.cfg.evictAfter}
	if udp != nil {
		wg.Go(func() {
			if err := s.serveUDP(ctx, udp, out); err != nil {
				fail(err)
			}
		})
	}
	if tcp != nil {
		wg.Go(func() {
			if err := s.serveTCP(ctx, tcp, conns, &wg, out); err != nil {
				fail(err)
			}
		})
	}
	if unix != nil {
		wg.Go(func() {
			if err := s.serveUnix(ctx, unix, out); err != nil {
				fail(err)
			}
		})
	}

	<-ctx.Done()
	// Closing is what wakes the goroutines blocked in reads and accepts.
	s.bound.close(s.cfg.Unix)
	conns.closeAll()
	wg.Wait()
	return runErr
}

// bind opens the listeners and publishes their addresses. It closes what
// it opened when one fails.
func (s *Syslog) bind(ctx context.Context) (udp *net.UDPConn, tcp net.Listener, unix *net.UnixConn, err error) {
	defer func() {
		if err == nil {
			return
		}
		if udp != nil {
			udp.Close()
		}
		if tcp != nil {
			tcp.Close()
		}
		s.udpAddr, s.tcpAddr = nil, nil
	}()
	var lc net.ListenConfig
	if s.cfg.UDP != "" {
		pc, err := lc.ListenPacket(ctx, "udp", s.cfg.UDP)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("listen: syslog udp: %w", err)
		}
		udp = pc.(*net.UDPConn)
		s.sizeBuffer("udp", udp)
		s.udpAddr = udp.LocalAddr()
		s.warnOpen("udp", s.udpAddr)
	}
	if s.cfg.TCP != "" {
		ln, err := lc.Listen(ctx, "tcp", s.cfg.TCP)
		if err != nil {
			return udp, nil, nil, fmt.Errorf("listen: syslog tcp: %w", err)
		}
		tcp = ln
		s.tcpAddr = ln.Addr()
		s.warnOpen("tcp", s.tcpAddr)
	}
	if s.cfg.Unix != "" {
		unix, err = bindUnix(s.cfg.Unix)
		if err != nil {
			return udp, tcp, nil, fmt.Errorf("listen: syslog unix: %w", err)
		}
		s.sizeBuffer("unix", unix)
		s.unixAddr = unix.LocalAddr()
	}
	return udp, tcp, unix, nil
}

// sizeBuffer asks for the configured receive buffer on c, warning when
// the kernel gives less.
func (s *Syslog) sizeBuffer(transport string, c syscall.Conn) {
	want := s.cfg.ReceiveBuffer
	got, err := setReadBuffer(c, want)
	switch {
	case err != nil:
		s.cfg.Log.Warn("syslog "+transport+": cannot set the receive buffer", "err", err)
	case got < want:
		s.cfg.Log.Warn("syslog "+transport+": receive buffer capped by the kernel; bursts may be dropped "+
			"(raise net.core.rmem_max, or run with CAP_NET_ADMIN)", "want", want, "got", got)
	}
}

// warnOpen warns of a network listener that believes anyone.
func (s *Syslog) warnOpen(transport string, addr net.Addr) {
	if len(s.cfg.Senders) > 0 {
		return
	}
	s.cfg.Log.Warn("syslog "+transport+": no senders configured: anyone who can send to this address chooses whom stockade bans "+
		"(every local user, on loopback); list the senders, and read local logs from journald or a unix socket",
		"addr", addr)
}

// Ready is closed once Run has bound its addresses, or failed to.
func (s *Syslog) Ready() <-chan struct{} { return s.ready }

// Addrs returns the bound addresses, nil for a transport that is off. They
// are known once Ready is closed (nil before, and after a failed bind);
// with port 0 in the config this is how to learn the port.
func (s *Syslog) Addrs() (udp, tcp net.Addr) {
	select {
	case <-s.ready:
		return s.udpAddr, s.tcpAddr
	default:
		return nil, nil
	}
}

// UnixAddr is the bound unix socket, nil when off or before Ready.
func (s *Syslog) UnixAddr() net.Addr {
	select {
	case <-s.ready:
		return s.unixAddr
	default:
		return nil
	}
}

// Stats returns the counts so far. It is safe to call at any time.
func (s *Syslog) Stats() Stats {
	return Stats{UDP: s.udp.snapshot(), TCP: s.tcp.snapshot(), Unix: s.unix.snapshot()}
}

// output is where a listener's events go: one at a time (Run), or in
// batches (RunBatches).
type output struct {
	events  chan<- pipeline.Event
	batches chan<- *pipeline.Batch
	pool    *pipeline.Batches
}

// deliverer decodes the messages of one stream and sends the events.
type deliverer struct {
	dec *sources.Decoder
	src string
	now func() time.Time
	out output
	// ev is decoded into, then sent by value: a local would escape
	// through the Parser interface and the check (a function value), an
	// allocation per message on the UDP and TCP paths.
	ev pipeline.Event
	// batch is being filled, in batch mode.
	batch *pipeline.Batch
}

func (s *Syslog) newDeliverer(src string, c *counters, out output) *deliverer {
	dec := sources.NewDecoder(pipeline.FormatSyslog, s.cfg.Now(), s.cfg.Loc, &c.msgs)
	dec.SetMaxLine(0) // the framing bounds messages by MaxMessage
	dec.SetWeb(s.cfg.Web)
	return &deliverer{dec: dec, src: src, now: s.cfg.Now, out: out}
}

// deliver parses msg, which the event will own, and sends the event. It
// returns false when ctx is done.
func (d *deliverer) deliver(ctx context.Context, msg []byte) bool {
	return d.deliverChecked(ctx, msg, nil)
}

// deliverChecked is deliver with a check of the parsed event (nil: none)
// whose error refuses it. In batch mode the event is added to the batch,
// sent when full or at flush.
func (d *deliverer) deliverChecked(ctx context.Context, msg []byte, check func(*pipeline.Event) error) bool {
	if d.out.pool != nil {
		return d.add(ctx, msg, check)
	}
	// RFC 3164 has no year: keep the inference reference near the wall
	// clock so a listener running over New Year dates January right.
	d.dec.Follow(d.now)
	ev := &d.ev
	*ev = pipeline.Event{}
	if o, _ := d.dec.DecodeChecked(msg, ev, check); o != sources.Event {
		return true
	}
	ev.Source = d.src
	select {
	case d.out.events <- *ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// deliverCopy delivers a copy of msg, which stays the caller's: in batch
// mode into the batch's own memory, reused once the batch is released;
// one event at a time, into the arena a.
func (d *deliverer) deliverCopy(ctx context.Context, a *arena, msg []byte, check func(*pipeline.Event) error) bool {
	if d.out.pool == nil {
		return d.deliverChecked(ctx, a.clone(msg), check)
	}
	if len(msg) > batchData/bigShare {
		return d.add(ctx, bytes.Clone(msg), check)
	}
	if b := d.batch; b != nil && len(b.Data)+len(msg) > batchData && !d.flush(ctx) {
		return false // the batch's memory is full: it goes as it is
	}
	if d.batch == nil {
		d.batch = d.out.pool.Get()
	}
	b := d.batch
	// Data grows as the batch fills (a quiet source's batches stay
	// small); a grown one is kept. The events before a growth still point
	// into the old memory, which lives as long as they do.
	l := len(b.Data)
	b.Data = append(b.Data, msg...)
	return d.add(ctx, b.Data[l:len(b.Data):len(b.Data)], check)
}

// add decodes msg into the next event of the batch.
func (d *deliverer) add(ctx context.Context, msg []byte, check func(*pipeline.Event) error) bool {
	if d.batch == nil {
		d.batch = d.out.pool.Get()
	}
	b := d.batch
	if len(b.Events) == 0 {
		d.dec.Follow(d.now) // once a batch: a read's worth of messages
	}
	b.Events = append(b.Events, pipeline.Event{})
	ev := &b.Events[len(b.Events)-1]
	if o, _ := d.dec.DecodeChecked(msg, ev, check); o != sources.Event {
		b.Events = b.Events[:len(b.Events)-1]
		return true
	}
	ev.Source = d.src
	if len(b.Events) >= BatchEvents {
		return d.flush(ctx)
	}
	return true
}

// flush sends the batch being filled, if any. It returns false when ctx
// is done.
func (d *deliverer) flush(ctx context.Context) bool {
	b := d.batch
	if b == nil {
		return true
	}
	if len(b.Events) == 0 {
		b.Data = b.Data[:0] // only refused messages: nothing points there
		return true
	}
	d.batch = nil
	select {
	case d.out.batches <- b:
		return true
	case <-ctx.Done():
		return false
	}
}

// bad counts a message refused before parsing.
func (d *deliverer) bad(b *pipeline.BadLine) {
	d.dec.Counter().Bad(b.Reason)
}
