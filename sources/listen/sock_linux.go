package listen

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// setReadBuffer sets the socket's receive buffer to want bytes and returns
// what the kernel granted. SO_RCVBUFFORCE lets a privileged daemon go past
// net.core.rmem_max; without CAP_NET_ADMIN it fails and the capped
// SO_RCVBUF is what we get.
func setReadBuffer(c syscall.Conn, want int) (int, error) {
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

// socketDrops is how many datagrams the kernel has discarded on the
// socket fd since it was opened because its receive buffer was full
// (SO_MEMINFO's drop count, Linux 4.6 and later). The listener asks now
// and then, not for every datagram: SO_RXQ_OVFL attached the count to each
// datagram as a control message, which cost the kernel a twentieth of the
// daemon's CPU at 200,000 messages a second.
func socketDrops(fd int) (uint32, bool) {
	var info [unix.SK_MEMINFO_VARS]uint32
	size := uint32(unsafe.Sizeof(info))
	_, _, e := syscall.Syscall6(syscall.SYS_GETSOCKOPT, uintptr(fd), syscall.SOL_SOCKET, unix.SO_MEMINFO,
		uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&size)), 0)
	if e != 0 {
		return 0, false
	}
	return info[unix.SK_MEMINFO_DROPS], true
}
