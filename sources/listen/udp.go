package listen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/stockade-ids/stockade/pipeline"
)

// maxDatagram is the largest UDP payload there is.
const maxDatagram = 65535

// udpSlab is the size of the arena slabs datagrams are copied into.
const udpSlab = 1 << 20

// udpBatch is how many datagrams one read takes from the kernel
// (recvmmsg on Linux): at 100,000 messages a second, a system call per
// datagram was a third of the daemon's CPU.
const udpBatch = 64

// serveUDP reads datagrams until the socket is closed. One goroutine reads,
// parses and sends, with no per-message goroutine or buffer hand-off: at
// 100,000 messages a second the kernel's receive buffer is the queue.
// Datagrams are read in batches into fixed buffers, and each is copied
// into the arena, which the event then owns.
func (s *Syslog) serveUDP(ctx context.Context, conn *net.UDPConn, out chan<- pipeline.Event) error {
	d := s.newDeliverer("udp://"+conn.LocalAddr().String(), &s.udp)
	// One byte more than the longest message allowed tells a message that
	// is too long from one that just fits.
	room := min(s.cfg.MaxMessage+1, maxDatagram)
	a := arena{size: udpSlab}
	read := ipv4.NewPacketConn(conn).ReadBatch
	if ap, ok := netip.AddrFromSlice(conn.LocalAddr().(*net.UDPAddr).IP); ok && !ap.Unmap().Is4() {
		read = ipv6.NewPacketConn(conn).ReadBatch
	}
	msgs := make([]ipv4.Message, udpBatch)
	bufs := make([]byte, udpBatch*room)
	oobs := make([]byte, udpBatch*oobSize)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{bufs[i*room : (i+1)*room]}
		msgs[i].OOB = oobs[i*oobSize : (i+1)*oobSize]
	}
	failures := 0
	for {
		n, err := read(msgs, 0)
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
		for i := range msgs[:n] {
			m := &msgs[i]
			if dropped, ok := dropCount(m.OOB[:m.NN]); ok {
				s.udp.dropped.Store(uint64(dropped))
			}
			if a, ok := m.Addr.(*net.UDPAddr); ok && !s.allowed(a.AddrPort().Addr()) {
				d.bad(errSender)
				continue
			}
			if m.N > s.cfg.MaxMessage {
				d.bad(errTooLong)
				continue
			}
			if !d.deliver(ctx, trimTrailer(a.clone(m.Buffers[0][:m.N])), out) {
				return nil
			}
		}
	}
}
