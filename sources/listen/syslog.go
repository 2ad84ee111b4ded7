package listen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources/syslog"
)

// Run binds the configured addresses and serves until ctx is done. It
// returns nil on cancel, or the error that stopped it: a failed bind, or a
// listener that broke. It never closes out. Run may be called once.
func (s *Syslog) Run(ctx context.Context, out chan<- pipeline.Event) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("listen: syslog: Run called twice")
	}
	udp, tcp, err := s.bind(ctx)
	close(s.ready)
	if err != nil {
		return err
	}

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
	conns := &connSet{max: s.cfg.MaxConns}
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

	<-ctx.Done()
	// Closing is what wakes the goroutines blocked in reads and accepts.
	if udp != nil {
		udp.Close()
	}
	if tcp != nil {
		tcp.Close()
	}
	conns.closeAll()
	wg.Wait()
	return runErr
}

// bind opens the listeners and publishes their addresses.
func (s *Syslog) bind(ctx context.Context) (*net.UDPConn, net.Listener, error) {
	var lc net.ListenConfig
	var udp *net.UDPConn
	if s.cfg.UDP != "" {
		pc, err := lc.ListenPacket(ctx, "udp", s.cfg.UDP)
		if err != nil {
			return nil, nil, fmt.Errorf("listen: syslog udp: %w", err)
		}
		udp = pc.(*net.UDPConn)
		if got, err := setReadBuffer(udp, udpReadBuffer); err != nil {
			s.cfg.Log.Warn("syslog udp: cannot set the receive buffer", "err", err)
		} else if got < udpReadBuffer {
			s.cfg.Log.Warn("syslog udp: receive buffer capped by the kernel; bursts may be dropped (raise net.core.rmem_max)",
				"want", udpReadBuffer, "got", got)
		}
		if err := reportDrops(udp); err != nil {
			s.cfg.Log.Debug("syslog udp: kernel drop counts unavailable", "err", err)
		}
		s.udpAddr = udp.LocalAddr()
	}
	var tcp net.Listener
	if s.cfg.TCP != "" {
		ln, err := lc.Listen(ctx, "tcp", s.cfg.TCP)
		if err != nil {
			if udp != nil {
				udp.Close()
				s.udpAddr = nil
			}
			return nil, nil, fmt.Errorf("listen: syslog tcp: %w", err)
		}
		tcp = ln
		s.tcpAddr = ln.Addr()
	}
	return udp, tcp, nil
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

// Stats returns the counts so far. It is safe to call at any time.
func (s *Syslog) Stats() Stats {
	return Stats{UDP: s.udp.snapshot(), TCP: s.tcp.snapshot()}
}

// deliverer parses the messages of one stream and sends the events.
type deliverer struct {
	parser *syslog.Parser
	src    string
	c      *counters
	now    func() time.Time
	ref    time.Time
}

func (s *Syslog) newDeliverer(src string, c *counters) *deliverer {
	now := s.cfg.Now()
	return &deliverer{
		parser: syslog.New(now, s.cfg.Loc),
		src:    src,
		c:      c,
		now:    s.cfg.Now,
		ref:    now,
	}
}

// deliver parses msg, which the event will own, and sends the event. It
// returns false when ctx is done.
func (d *deliverer) deliver(ctx context.Context, msg []byte, out chan<- pipeline.Event) bool {
	d.c.received.Add(1)
	// RFC 3164 has no year: keep the inference reference near the wall
	// clock so a listener running over New Year dates January right.
	if now := d.now(); now.Sub(d.ref) >= time.Second || now.Before(d.ref) {
		d.parser.SetRef(now)
		d.ref = now
	}
	var ev pipeline.Event
	if !d.c.parsed(d.parser.Parse(msg, &ev)) {
		return true
	}
	ev.Source = d.src
	select {
	case out <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// bad counts a message refused before parsing.
func (d *deliverer) bad(b *pipeline.BadLine) {
	d.c.received.Add(1)
	d.c.addBad(b.Reason)
}
