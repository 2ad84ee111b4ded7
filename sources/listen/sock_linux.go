package listen

import (
	"net"
	"syscall"
	"unsafe"
)

// oobSize holds the one control message asked for (SO_RXQ_OVFL), with room
// to spare.
const oobSize = 64

// setReadBuffer sets the socket's receive buffer to want bytes and returns
// what the kernel granted. SO_RCVBUFFORCE lets a privileged daemon go past
// net.core.rmem_max; without CAP_NET_ADMIN it fails and the capped
// SO_RCVBUF is what we get.
func setReadBuffer(c *net.UDPConn, want int) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var got int
	var serr error
	err = rc.Control(func(fd uintptr) {
		if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, want) != nil {
			if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, want); serr != nil {
				return
			}
		}
		// The kernel doubles the value for its bookkeeping and reports
		// the doubled size.
		got, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
		got /= 2
	})
	if err != nil {
		return 0, err
	}
	return got, serr
}

// reportDrops asks the kernel to attach to each datagram the number of
// datagrams it has dropped on this socket so far.
func reportDrops(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RXQ_OVFL, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// dropCount finds the SO_RXQ_OVFL count in a datagram's control messages.
// It is parsed by hand because syscall.ParseSocketControlMessage allocates,
// and once the kernel has dropped anything every datagram carries the count.
func dropCount(oob []byte) (uint32, bool) {
	hdr := syscall.CmsgLen(0)
	for len(oob) >= hdr {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hdr || l > len(oob) {
			return 0, false
		}
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SO_RXQ_OVFL && l >= hdr+4 {
			return *(*uint32)(unsafe.Pointer(&oob[hdr])), true
		}
		next := syscall.CmsgSpace(l - hdr)
		if next > len(oob) {
			return 0, false
		}
		oob = oob[next:]
	}
	return 0, false
}
