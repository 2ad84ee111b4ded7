package listen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// maxDatagram is the largest UDP payload there is.
const maxDatagram = 65535

// udpSlab is the arena slab for datagrams, which are read straight into it:
// every read needs room for the largest message allowed, so the slab is
// many times that to waste little of it.
const udpSlab = 1 << 20

// serveUDP reads datagrams until the socket is closed. One goroutine reads,
// parses and sends, with no per-message goroutine or buffer hand-off: at
// 100,000 messages a second the kernel's receive buffer is the queue.
func (s *Syslog) serveUDP(ctx context.Context, conn *net.UDPConn, out chan<- pipeline.Event) error {
	d := s.newDeliverer("udp://"+conn.LocalAddr().String(), &s.udp)
	// One byte more than the longest message allowed tells a message that
	// is too long from one that just fits.
	room := min(s.cfg.MaxMessage+1, maxDatagram)
	a := arena{size: max(udpSlab, 16*room)}
	oob := make([]byte, oobSize)
	failures := 0
	for {
		buf := a.room(room)[:room]
		n, oobn, _, _, err := conn.ReadMsgUDPAddrPort(buf, oob)
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
		if dropped, ok := dropCount(oob[:oobn]); ok {
			s.udp.dropped.Store(uint64(dropped))
		}
		if n > s.cfg.MaxMessage {
			d.bad(errTooLong)
			continue
		}
		if !d.deliver(ctx, trimTrailer(a.take(n)), out) {
			return nil
		}
	}
}
