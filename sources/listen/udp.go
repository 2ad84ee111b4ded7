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
// Datagrams are read in batches into fixed buffers; each one let in is
// copied into the batch being filled (or, one event at a time, into the
// arena), which the event then points into. A read that filled every
// buffer is followed by another before the batch is handed over: the
// kernel holds more, and one hand-over (one wake-up of the engine) for a
// drained socket costs less than one per read.
func (s *Syslog) serveUDP(ctx context.Context, conn *net.UDPConn, out output) error {
	d := s.newDeliverer("udp://"+conn.LocalAddr().String(), &s.udp, out)
	// One byte more than the longest message allowed tells a message that
	// is too long from one that just fits.
	room := min(s.cfg.MaxMessage+1, maxDatagram)
	a := arena{size: udpSlab}
	// A sender's address is read only to be judged against senders:.
	judged := len(s.cfg.Senders) > 0
	r, err := newBatchReader(conn, udpBatch, room, judged)
	if err != nil {
		return fmt.Errorf("listen: syslog udp: %w", err)
	}
	defer r.close()
	woken := context.AfterFunc(ctx, r.wake)
	defer woken()
	linger := time.NewTimer(time.Hour)
	defer linger.Stop()
	var failures int
	var polled time.Time
	for {
		n, err := r.read()
		if err != nil {
			if !s.udpReadFailed(ctx, err, &failures) {
				return udpStopped(ctx, err)
			}
			continue
		}
		failures = 0
		if ctx.Err() != nil {
			return nil // what a woken read returned is no datagram
		}
		if now := time.Now(); now.Sub(polled) >= dropsPoll {
			polled = now
			if dropped, ok := r.drops(); ok {
				s.udp.dropped.Store(uint64(dropped))
			}
		}
		for i := range n {
			if judged && !s.allowed(r.from(i)) {
				d.bad(errSender)
				continue
			}
			m := r.data(i)
			if len(m) > s.cfg.MaxMessage {
				d.bad(errTooLong)
				continue
			}
			if !d.deliverCopy(ctx, &a, trimTrailer(m), nil) {
				return nil
			}
		}
		if n == udpBatch {
			continue
		}
		if !d.flush(ctx) {
			return nil
		}
		if out.pool != nil && !lingerFor(ctx, linger) {
			// The kernel had less than a batch: let a little more arrive
			// rather than wake for every few datagrams (at 100,000 a
			// second, waking and parking per read was most of the
			// daemon's CPU). A message waits at most udpLinger more.
			return nil
		}
	}
}

// dropsPoll is how often the listener asks the kernel how many datagrams
// it dropped, while datagrams come.
const dropsPoll = 100 * time.Millisecond

// lingerFor waits udpLinger on t; false: ctx was done first.
func lingerFor(ctx context.Context, t *time.Timer) bool {
	t.Reset(udpLinger)
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// udpReadFailed handles a failed read: false when the listener should
// stop (see udpStopped for what it returns), true after a pause.
func (s *Syslog) udpReadFailed(ctx context.Context, err error, failures *int) bool {
	if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
		return false
	}
	// Not seen on an unconnected socket in practice, but a loop that
	// spins on a broken socket must end.
	if *failures++; *failures > 100 {
		return false
	}
	s.cfg.Log.Warn("syslog udp: read", "err", err)
	return sleepCtx(ctx, 10*time.Millisecond)
}

// udpStopped is what serveUDP returns after a read error ended it: nil on
// cancel or close, else the error.
func udpStopped(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return fmt.Errorf("listen: syslog udp: %w", err)
}

// batchReader reads datagrams in batches: read fills the first n, which
// data and from (the sender) then return,
// valid until the next read.
type batchReader interface {
	// read may return 0 datagrams without an error: a wait that timed
	// out or was woken.
	read() (n int, err error)
	data(i int) []byte
	// from is datagram i's sender, when the reader was made to read
	// senders.
	from(i int) netip.Addr
	// drops is the kernel's count of datagrams it discarded on the
	// socket so far; false: unknown.
	drops() (uint32, bool)
	// wake ends a read that waits (from any goroutine); close releases
	// the socket, once reading is over.
	wake()
	close()
}
