package listen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// maxDatagram is the largest UDP payload there is.
const maxDatagram = 65535

// udpSlab is the size of the arena slabs datagrams are copied into.
const udpSlab = 1 << 20

// udpBatch is how many datagrams one read takes from the kernel
// (recvmmsg on Linux): at 100,000 messages a second, a system call per
// datagram was a third of the daemon's CPU.
const udpBatch = 256

// udpLinger is how long a reader that found less than a batch waits
// before reading again, in batch mode.
const udpLinger = 5 * time.Millisecond

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// serveUDP reads datagrams until the socket is closed. One goroutine reads,
// parses and sends, with no per-message goroutine or buffer hand-off: at
// 100,000 messages a second the kernel's receive buffer is the queue.
// Datagrams are read in batches into fixed buffers, and each is copied
// into the arena, which the event then owns.
func (s *Syslog) serveUDP(ctx context.Context, conn *net.UDPConn, out output) error {
	d := s.newDeliverer("udp://"+conn.LocalAddr().String(), &s.udp, out)
	// One byte more than the longest message allowed tells a message that
	// is too long from one that just fits.
	room := min(s.cfg.MaxMessage+1, maxDatagram)
	a := arena{size: udpSlab}
	r, err := newBatchReader(conn, udpBatch, room)
	if err != nil {
		return fmt.Errorf("listen: syslog udp: %w", err)
	}
	failures := 0
	for {
		n, err := r.read()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Not seen on an unconnected socket in practice, but a loop
			// that spins on a broken socket must end.
			if failures++; failures > 100 {
				return fmt.Errorf("listen: syslog udp: %w", err)
			}
			s.cfg.Log.Warn("syslog udp: read", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		failures = 0
		for i := range n {
			if dropped, ok := dropCount(r.oob(i)); ok {
				s.udp.dropped.Store(uint64(dropped))
			}
			if !s.allowed(r.from(i)) {
				d.bad(errSender)
				continue
			}
			m := r.data(i)
			if len(m) > s.cfg.MaxMessage {
				d.bad(errTooLong)
				continue
			}
			if !d.deliver(ctx, trimTrailer(a.clone(m))) {
				return nil
			}
		}
		if !d.flush(ctx) {
			return nil
		}
		if n < udpBatch && out.pool != nil {
			// The kernel had less than a batch: let a little more arrive
			// rather than wake for every few datagrams (at 100,000 a
			// second, waking and parking per read was most of the
			// daemon's CPU). A batch full again ends the pause at once;
			// a message waits at most udpLinger more.
			if !sleepCtx(ctx, udpLinger) {
				return nil
			}
		}
	}
}

// batchReader reads datagrams in batches: read fills the first n, which
// data, oob (the control messages) and from (the sender) then return,
// valid until the next read.
type batchReader interface {
	read() (n int, err error)
	data(i int) []byte
	oob(i int) []byte
	from(i int) netip.Addr
}
