package listen

import (
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsgReader reads datagrams in batches with recvmmsg(2), each sender's
// address read from its sockaddr in place: x/net's ReadBatch allocates a
// net.UDPAddr per datagram, the one allocation per message left on the
// UDP path.
//
// It reads a blocking duplicate of the socket, taken out of the Go
// runtime's poller. The poller's epoll is edge-triggered: every datagram
// that arrives wakes the thread waiting in epoll_wait, even while the
// listener is busy or lingering and nobody waits on the socket. At 200,000
// messages a second that was about 40,000 wake-ups a second (a thread
// taking a processor, finding nothing to run, giving it back) and most of
// the daemon's CPU; a blocking recvmmsg wakes once per read.
type mmsgReader struct {
	fd    int
	hdrs  []mmsghdr
	names []syscall.RawSockaddrInet6
	// iovs are two a datagram: its first headRoom bytes go to heads,
	// packed together, the rest (if any) to its own slot of bufs.
	iovs  []syscall.Iovec
	heads []byte
	bufs  [][]byte
	// oobs hold each datagram's control messages (the unix socket's
	// sender credentials); empty when none are asked for.
	oobs    [][]byte
	oobRoom int

	mu     sync.Mutex // orders wake and close: fd is not used once closed
	closed bool
}

// mmsghdr is struct mmsghdr: a msghdr and the length received.
type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
	_   [4]byte
}

// readTimeout bounds a blocking read, so that a reader whose wake-up was
// lost still sees its end.
const readTimeout = time.Second

// newBatchReader takes conn's socket over: it duplicates it, makes the
// duplicate blocking, and closes conn (which takes the socket out of the
// poller; the duplicate keeps it open, with what the kernel holds). It
// reads the senders' addresses only when asked (names): the kernel's
// writing them was a twelfth of its cost of a short datagram.
func newBatchReader(conn *net.UDPConn, batch, room int, names bool) (batchReader, error) {
	return newMmsgReader(conn, batch, room, names, 0)
}

// socketConn is a socket the runtime polls: a UDP or unix connection.
type socketConn interface {
	syscall.Conn
	Close() error
}

// newMmsgReader takes conn's socket over, as newBatchReader says, reading
// batch datagrams of up to room bytes at a time, each with its sender's
// address (names) and oobRoom bytes of control messages.
func newMmsgReader(conn socketConn, batch, room int, names bool, oobRoom int) (*mmsgReader, error) {
	fd, err := blockingDup(conn)
	if err != nil {
		return nil, err
	}
	conn.Close()
	r := &mmsgReader{fd: fd, hdrs: make([]mmsghdr, batch), names: make([]syscall.RawSockaddrInet6, batch),
		iovs: make([]syscall.Iovec, 2*batch), bufs: make([][]byte, batch), oobs: make([][]byte, batch), oobRoom: oobRoom}
	head := min(room, headRoom)
	r.heads = make([]byte, batch*head)
	// The tails' memory is touched only by datagrams longer than a head:
	// the kernel hands it over untouched, and it stays out of the
	// process's resident memory until a long datagram comes.
	buf := make([]byte, batch*room)
	oob := make([]byte, batch*oobRoom)
	for i := range batch {
		r.bufs[i] = buf[i*room : (i+1)*room]
		r.oobs[i] = oob[i*oobRoom : (i+1)*oobRoom]
		iov := r.iovs[2*i : 2*i+2]
		iov[0].Base = &r.heads[i*head]
		iov[0].SetLen(head)
		h := &r.hdrs[i].hdr
		h.Iov = &iov[0]
		h.Iovlen = 1
		if room > head {
			iov[1].Base = &r.bufs[i][head]
			iov[1].SetLen(room - head)
			h.Iovlen = 2
		}
		if names {
			h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		}
		if oobRoom > 0 {
			h.Control = &r.oobs[i][0]
		}
	}
	return r, nil
}

// headRoom is how much of each datagram a read packs with the others':
// a syslog message of RFC 3164's 1024 bytes. One buffer of the largest
// datagram each (64 KiB) put every datagram of a read on a page of its
// own, all on the same few cache sets: the kernel's copy into them was
// an eighth of the daemon's CPU, and reading them again missed as much.
const headRoom = 1024

// blockingDup is a blocking, close-on-exec duplicate of conn's socket,
// with readTimeout as its receive timeout.
func blockingDup(conn syscall.Conn) (int, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(f uintptr) { fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	tv := syscall.NsecToTimeval(int64(readTimeout))
	// O_NONBLOCK belongs to the open file, which conn shares until it is
	// closed, right after.
	if err := syscall.SetNonblock(fd, false); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

// read waits for a datagram, then takes what else the kernel holds, up to
// the batch. n is 0 when the wait timed out or was woken (see wake).
func (r *mmsgReader) read() (int, error) {
	for i := range r.hdrs {
		h := &r.hdrs[i].hdr
		if h.Name != nil {
			h.Namelen = syscall.SizeofSockaddrInet6
		}
		h.SetControllen(r.oobRoom)
		h.Flags = 0
		r.hdrs[i].n = 0
	}
	// What the kernel holds already is taken without telling the
	// scheduler: a read of a full batch is some 250 µs in the kernel, and
	// a goroutine that long in a system call, while the engine keeps the
	// other processor, has its processor handed off by the runtime's
	// monitor, which then checks every 20 µs (a tenth of the daemon's CPU
	// at 100,000 messages a second went to that monitor waking). Such a
	// read never blocks; a stop of the world waits for it (some 250 µs
	// for a batch of syslog lines, a few milliseconds for one of
	// datagrams of the largest size). Only when the kernel holds nothing
	// does the read wait, as a system call the scheduler knows of.
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVMMSG, uintptr(r.fd), uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(len(r.hdrs)),
		syscall.MSG_DONTWAIT, 0, 0)
	if e == syscall.EAGAIN {
		n, _, e = syscall.Syscall6(syscall.SYS_RECVMMSG, uintptr(r.fd), uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(len(r.hdrs)),
			unix.MSG_WAITFORONE, 0, 0)
	}
	switch e {
	case 0:
		return int(n), nil
	case syscall.EAGAIN, syscall.EINTR:
		return 0, nil
	default:
		return 0, e
	}
}

// wake ends a read that waits: shutting the socket for reading wakes it
// (with an empty datagram, which the caller, whose context is done,
// ignores).
func (r *mmsgReader) wake() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		syscall.Shutdown(r.fd, syscall.SHUT_RD)
	}
}

func (r *mmsgReader) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		syscall.Close(r.fd)
	}
}

// data is datagram i: in place when it fit its head, else joined in its
// slot of bufs (whose head part the kernel left free).
func (r *mmsgReader) data(i int) []byte {
	n := int(r.hdrs[i].n)
	head := int(r.iovs[2*i].Len)
	if n <= head {
		return r.heads[i*head : i*head+n : i*head+n]
	}
	copy(r.bufs[i], r.heads[i*head:(i+1)*head])
	return r.bufs[i][:n]
}

// oob is datagram i's control messages.
func (r *mmsgReader) oob(i int) []byte { return r.oobs[i][:r.hdrs[i].hdr.Controllen] }

// truncated reports whether datagram i was longer than its buffer.
func (r *mmsgReader) truncated(i int) bool { return r.hdrs[i].hdr.Flags&syscall.MSG_TRUNC != 0 }

func (r *mmsgReader) drops() (uint32, bool) { return socketDrops(r.fd) }

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
