package listen

import (
	"net"
	"net/netip"
	"syscall"
	"unsafe"
)

// mmsgReader reads datagrams in batches with recvmmsg(2), each sender's
// address read from its sockaddr in place: x/net's ReadBatch allocates a
// net.UDPAddr per datagram, the one allocation per message left on the
// UDP path.
type mmsgReader struct {
	rc    syscall.RawConn
	hdrs  []mmsghdr
	names []syscall.RawSockaddrInet6
	iovs  []syscall.Iovec
	bufs  [][]byte
	oobs  [][]byte
	n     int
	err   error
}

// mmsghdr is struct mmsghdr: a msghdr and the length received.
type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
	_   [4]byte
}

func newBatchReader(conn *net.UDPConn, batch, room int) (batchReader, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	r := &mmsgReader{rc: rc, hdrs: make([]mmsghdr, batch), names: make([]syscall.RawSockaddrInet6, batch),
		iovs: make([]syscall.Iovec, batch), bufs: make([][]byte, batch), oobs: make([][]byte, batch)}
	buf := make([]byte, batch*room)
	oob := make([]byte, batch*oobSize)
	for i := range batch {
		r.bufs[i] = buf[i*room : (i+1)*room]
		r.oobs[i] = oob[i*oobSize : (i+1)*oobSize]
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(room)
		h := &r.hdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		h.Iov = &r.iovs[i]
		h.Iovlen = 1
		h.Control = &r.oobs[i][0]
	}
	return r, nil
}

func (r *mmsgReader) read() (int, error) {
	for i := range r.hdrs {
		h := &r.hdrs[i].hdr
		h.Namelen = syscall.SizeofSockaddrInet6
		h.SetControllen(oobSize)
		h.Flags = 0
		r.hdrs[i].n = 0
	}
	r.n, r.err = 0, nil
	err := r.rc.Read(r.recv)
	if err == nil {
		err = r.err
	}
	return r.n, err
}

// recv is one recvmmsg on the non-blocking socket; false: nothing yet,
// wait until it is readable.
func (r *mmsgReader) recv(fd uintptr) bool {
	n, _, e := syscall.Syscall6(syscall.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(len(r.hdrs)), 0, 0, 0)
	switch e {
	case 0:
		r.n = int(n)
	case syscall.EAGAIN, syscall.EINTR:
		return false
	default:
		r.err = e
	}
	return true
}

func (r *mmsgReader) data(i int) []byte { return r.bufs[i][:r.hdrs[i].n] }

func (r *mmsgReader) oob(i int) []byte { return r.oobs[i][:r.hdrs[i].hdr.Controllen] }

func (r *mmsgReader) from(i int) netip.Addr {
	sa := &r.names[i]
	switch sa.Family {
	case syscall.AF_INET:
		sa4 := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrFrom4(sa4.Addr)
	case syscall.AF_INET6:
		return netip.AddrFrom16(sa.Addr).Unmap()
	}
	return netip.Addr{}
}
