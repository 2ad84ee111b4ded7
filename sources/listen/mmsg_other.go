//go:build !linux

package listen

import (
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// xnetReader reads datagrams in batches with x/net (recvmmsg where the
// system has it). The kernel's drop count is not known.
type xnetReader struct {
	readBatch func([]ipv4.Message, int) (int, error)
	msgs      []ipv4.Message
}

func newBatchReader(conn *net.UDPConn, batch, room int, _ bool) (batchReader, error) {
	r := &xnetReader{readBatch: ipv4.NewPacketConn(conn).ReadBatch, msgs: make([]ipv4.Message, batch)}
	if ap, ok := netip.AddrFromSlice(conn.LocalAddr().(*net.UDPAddr).IP); ok && !ap.Unmap().Is4() {
		r.readBatch = ipv6.NewPacketConn(conn).ReadBatch
	}
	bufs := make([]byte, batch*room)
	for i := range r.msgs {
		r.msgs[i].Buffers = [][]byte{bufs[i*room : (i+1)*room]}
	}
	return r, nil
}

func (r *xnetReader) read() (int, error)    { return r.readBatch(r.msgs, 0) }
func (r *xnetReader) data(i int) []byte     { return r.msgs[i].Buffers[0][:r.msgs[i].N] }
func (r *xnetReader) drops() (uint32, bool) { return 0, false }

// wake and close are closing the connection, which the listener does.
func (r *xnetReader) wake()  {}
func (r *xnetReader) close() {}
func (r *xnetReader) from(i int) netip.Addr {
	if a, ok := r.msgs[i].Addr.(*net.UDPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}
