package listen

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stockade-ids/stockade/pipeline"
)

// unixOOB holds one SCM_CREDENTIALS message.
var unixOOB = syscall.CmsgSpace(syscall.SizeofUcred)

// bindUnix opens the local datagram socket at path. A socket left there by
// a process that is gone is removed; one that something still reads, or a
// file that is not a socket, is an error rather than something to delete.
// The socket is writable by every local user, as /dev/log is: the kernel
// stamps each datagram with its sender's credentials (SO_PASSCRED), which
// is what a message is judged by.
func bindUnix(path string) (*net.UnixConn, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := net.Dial("unixgram", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s is in use by another process", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing the stale socket: %w", err)
		}
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*net.UnixConn, error) {
		conn.Close()
		os.Remove(path)
		return nil, err
	}
	if err := os.Chmod(path, 0o666); err != nil {
		return fail(err)
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		return fail(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1)
	}); err != nil {
		return fail(err)
	}
	if serr != nil {
		return fail(fmt.Errorf("SO_PASSCRED: %w", serr))
	}
	return conn, nil
}

// unixBatch is how many datagrams one read takes from the unix socket.
const unixBatch = 64

// serveUnix reads datagrams until the socket is closed, and judges each
// message's program by the process that sent it. As for UDP, the socket
// is read in batches by a blocking recvmmsg outside the runtime's poller,
// and a drained socket's messages are handed over together; each
// datagram brings its sender's credentials.
func (s *Syslog) serveUnix(ctx context.Context, conn *net.UnixConn, out output) error {
	d := s.newDeliverer("unix://"+s.cfg.Unix, &s.unix, out)
	a := arena{size: udpSlab}
	r, err := newMmsgReader(conn, unixBatch, s.cfg.MaxMessage+1, false, unixOOB+64)
	if err != nil {
		return fmt.Errorf("listen: syslog unix: %w", err)
	}
	defer r.close()
	woken := context.AfterFunc(ctx, r.wake)
	defer woken()
	failures := 0
	for {
		n, err := r.read()
		if err != nil {
			if !s.unixReadFailed(ctx, err, &failures) {
				return unixStopped(ctx, err)
			}
			continue
		}
		failures = 0
		if ctx.Err() != nil {
			return nil // what a woken read returned is no datagram
		}
		for i := range n {
			m := r.data(i)
			if len(m) > s.cfg.MaxMessage || r.truncated(i) {
				d.bad(errTooLong)
				continue
			}
			cred, ok := credentials(r.oob(i))
			check := func(ev *pipeline.Event) error { return s.judge(ev, &cred, ok) }
			if !d.deliverCopy(ctx, &a, trimTrailer(m), check) {
				return nil
			}
		}
		// No lingering here, unlike UDP: a unix datagram socket queues
		// net.unix.max_dgram_qlen datagrams (10 here) and then makes its
		// senders wait (5 ms cost a sender as fast as it could write
		// 98 % of its throughput).
		if n < unixBatch && !d.flush(ctx) {
			return nil
		}
	}
}

// judge checks a message whose datagram came with the credentials cred
// (ok: it did): the program it claims must be one its sender may write
// as.
func (s *Syslog) judge(ev *pipeline.Event, cred *syscall.Ucred, ok bool) error {
	return s.cfg.Identities.Judge(ev.Program, func() (Identity, error) {
		if !ok {
			return Identity{}, errNoCreds
		}
		return procIdentity(cred)
	})
}

// unixReadFailed handles a failed read: false when the listener should
// stop, true after a pause.
func (s *Syslog) unixReadFailed(ctx context.Context, err error, failures *int) bool {
	if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
		return false
	}
	if *failures++; *failures > 100 {
		return false
	}
	s.cfg.Log.Warn("syslog unix: read", "err", err)
	return sleepCtx(ctx, 10*time.Millisecond)
}

// unixStopped is what serveUnix returns after a read error ended it.
func unixStopped(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return fmt.Errorf("listen: syslog unix: %w", err)
}

// credentials finds the sender's SCM_CREDENTIALS among a datagram's
// control messages. It reads them in place: the syscall package's parsers
// allocated twice a datagram.
func credentials(oob []byte) (syscall.Ucred, bool) {
	for len(oob) > 0 {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			break
		}
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SCM_CREDENTIALS && len(data) >= syscall.SizeofUcred {
			return syscall.Ucred{
				Pid: int32(binary.NativeEndian.Uint32(data[0:])),
				Uid: binary.NativeEndian.Uint32(data[4:]),
				Gid: binary.NativeEndian.Uint32(data[8:]),
			}, true
		}
		oob = rest
	}
	return syscall.Ucred{}, false
}

// procIdentity completes the kernel's credentials with what /proc says of
// the process: its name, its executable and its systemd unit. The uid is
// the kernel's, from the time of sending; the rest is read now, so a
// process that has exited since is refused ("sender gone"), and a field
// that cannot be read (another user's executable, for a daemon without
// CAP_SYS_PTRACE) is left unknown, which matches nothing.
func procIdentity(c *syscall.Ucred) (Identity, error) {
	dir := "/proc/" + strconv.Itoa(int(c.Pid))
	who := Identity{UID: c.Uid, HasUID: true}
	comm, err := os.ReadFile(dir + "/comm")
	if err != nil {
		return Identity{}, errGone
	}
	who.Comm = strings.TrimSuffix(string(comm), "\n")
	if exe, err := os.Readlink(dir + "/exe"); err == nil {
		who.Exe = exe
	}
	if cg, err := os.ReadFile(dir + "/cgroup"); err == nil {
		who.Unit = cgroupUnit(cg)
	}
	// The pid may have been reused by now; a process that is not the
	// sender's uid is not the sender.
	if st, err := os.ReadFile(dir + "/status"); err != nil {
		return Identity{}, errGone
	} else if uid, ok := statusUID(st); !ok || uid != c.Uid {
		return Identity{}, errGone
	}
	return who, nil
}

// cgroupUnit is the systemd unit of a process as journald names it: the
// first component below the slices of its cgroup v2 path
// ("0::/system.slice/ssh.service" is ssh.service,
// "0::/user.slice/user-1000.slice/user@1000.service/app.slice/x.service"
// is user@1000.service).
func cgroupUnit(cg []byte) string {
	for line := range bytes.SplitSeq(cg, []byte("\n")) {
		// cgroup v2, or the systemd hierarchy of v1.
		p, ok := bytes.CutPrefix(line, []byte("0::/"))
		if _, v1, found := bytes.Cut(line, []byte(":name=systemd:/")); found {
			p, ok = v1, true
		}
		if !ok {
			continue
		}
		for part := range bytes.SplitSeq(p, []byte("/")) {
			if len(part) > 0 && !bytes.HasSuffix(part, []byte(".slice")) {
				return string(part)
			}
		}
	}
	return ""
}

// statusUID is the real uid in /proc/PID/status.
func statusUID(st []byte) (uint32, bool) {
	for line := range bytes.SplitSeq(st, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("Uid:")); ok {
			f := strings.Fields(string(rest))
			if len(f) == 0 {
				return 0, false
			}
			n, err := strconv.ParseUint(f[0], 10, 32)
			return uint32(n), err == nil
		}
	}
	return 0, false
}
