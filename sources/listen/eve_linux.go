package listen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources"
)

// createSocket creates the socket at path with its mode and group set
// before anyone can reach it: it is bound in a private directory (0700)
// beside path, given its mode and group there, then renamed into place.
// A socket already at path is reused only if it is ours and nothing
// answers on it; one owned by another user (who could be listening there
// to take Suricata's alerts, or have left it for us to trust) is refused,
// and so is a directory anyone may write to without the sticky bit.
func createSocket(path string, dgram bool, mode fs.FileMode, gid int) (net.Listener, *net.UnixConn, error) {
	if err := checkSocketPath(path, dgram); err != nil {
		return nil, nil, err
	}
	tmpDir, err := os.MkdirTemp(filepath.Dir(path), ".stockade-eve-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(tmpDir)
	tmp := filepath.Join(tmpDir, "s")
	var (
		ln   *net.UnixListener
		conn *net.UnixConn
	)
	closeAll := func() {
		if ln != nil {
			ln.Close()
		}
		if conn != nil {
			conn.Close()
		}
	}
	if dgram {
		conn, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: tmp, Net: "unixgram"})
		if err == nil {
			err = passCred(conn)
		}
	} else {
		ln, err = net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
		if err == nil {
			ln.SetUnlinkOnClose(false) // it is renamed: Run removes path itself
		}
	}
	if err == nil {
		err = os.Chmod(tmp, mode)
	}
	if err == nil && gid >= 0 {
		err = os.Lchown(tmp, -1, gid)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	if ln != nil {
		return ln, nil, nil
	}
	return nil, conn, nil
}

// checkSocketPath refuses what createSocket must not take over, and
// removes a stale socket of ours.
func checkSocketPath(path string, dgram bool) error {
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if di.Mode()&0o002 != 0 && di.Mode()&fs.ModeSticky == 0 {
		return fmt.Errorf("%s is writable by every user: anyone could replace the socket", dir)
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s is a socket of uid %d, not ours: refusing to take it over (remove it if it is stale)", path, st.Uid)
	}
	network := "unix"
	if dgram {
		network = "unixgram"
	}
	if c, err := net.DialTimeout(network, path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("%s is in use by another process", path)
	}
	return os.Remove(path)
}

func passCred(c *net.UnixConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1)
	}); err != nil {
		return err
	}
	return serr
}

// peerUID is the uid of the process at the other end of c.
func peerUID(c *net.UnixConn) (uint32, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var (
		cred *syscall.Ucred
		cerr error
	)
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, cerr
	}
	return cred.Uid, nil
}

func (s *EveSocket) runStream(ctx context.Context, out chan<- pipeline.Event) error {
	ln, _, err := createSocket(s.cfg.Path, false, s.mode, s.gid)
	s.markReady()
	if err != nil {
		return fmt.Errorf("listen: eve_socket: %w", err)
	}
	defer os.Remove(s.cfg.Path)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	defer wg.Wait()
	failures := 0
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if failures++; failures > 100 {
				return fmt.Errorf("listen: eve_socket: %w", err)
			}
			s.cfg.Log.Warn("eve_socket: accept", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		failures = 0
		if !s.admit(c.(*net.UnixConn)) {
			c.Close()
			continue
		}
		mu.Lock()
		if len(conns) >= s.cfg.MaxConns || ctx.Err() != nil {
			mu.Unlock()
			s.c.refused.Add(1)
			c.Close()
			continue
		}
		conns[c] = struct{}{}
		s.c.conns.Add(1)
		mu.Unlock()
		s.c.accepted.Add(1)
		wg.Go(func() {
			s.readStream(ctx, c, out)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
			s.c.conns.Add(-1)
			c.Close()
		})
	}
}

// admit reports whether the process that connected may write alerts.
func (s *EveSocket) admit(c *net.UnixConn) bool {
	uid, err := peerUID(c)
	if err == nil && s.writers[uid] {
		return true
	}
	s.c.denied.Add(1)
	s.cfg.Log.Warn("eve_socket: refused a writer that is not root, stockade's user or one of writers:", "uid", uid, "err", err)
	return false
}

// readStream reads newline-ended records from one connection until it
// closes, ctx is done, or out is not drained.
func (s *EveSocket) readStream(ctx context.Context, c net.Conn, out chan<- pipeline.Event) {
	d := s.newDecoder()
	a := arena{size: 256 << 10}
	r := bufio.NewReaderSize(c, 64<<10)
	var long []byte // a record longer than the reader's buffer, gathered
	tooLong := false
	for {
		chunk, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if !tooLong && len(long)+len(chunk) <= s.cfg.MaxRecord {
				long = append(long, chunk...)
			} else {
				tooLong, long = true, long[:0]
			}
			continue
		}
		rec := chunk
		if len(long) > 0 {
			rec = append(long, chunk...)
		}
		rec = bytes.TrimRight(rec, "\r\n")
		switch {
		case tooLong || len(rec) > s.cfg.MaxRecord:
			s.c.msgs.Bad(sources.ReasonTooLong)
		case len(rec) > 0:
			if !d.deliver(ctx, a.clone(rec), out) {
				return
			}
		}
		long, tooLong = long[:0], false
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				s.cfg.Log.Warn("eve_socket: read", "err", err)
			}
			return
		}
	}
}

func (s *EveSocket) runDgram(ctx context.Context, out chan<- pipeline.Event) error {
	_, conn, err := createSocket(s.cfg.Path, true, s.mode, s.gid)
	s.markReady()
	if err != nil {
		return fmt.Errorf("listen: eve_socket: %w", err)
	}
	defer os.Remove(s.cfg.Path)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	d := s.newDecoder()
	a := arena{size: 256 << 10}
	buf := make([]byte, s.cfg.MaxRecord+1)
	oob := make([]byte, unixOOB+64)
	failures := 0
	for {
		n, oobn, flags, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			if failures++; failures > 100 {
				return fmt.Errorf("listen: eve_socket: %w", err)
			}
			s.cfg.Log.Warn("eve_socket: read", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		failures = 0
		if !s.judgeDatagram(oob[:oobn], n, flags) {
			continue
		}
		// One record per datagram, as Suricata writes them; a writer that
		// packs several, one per line, is read the same.
		for rec := range bytes.SplitSeq(buf[:n], []byte("\n")) {
			rec = bytes.TrimRight(rec, "\r")
			if len(rec) > 0 && !d.deliver(ctx, a.clone(rec), out) {
				return nil
			}
		}
	}
}

// judgeDatagram counts a datagram refused for its length or its sender;
// true: read it.
func (s *EveSocket) judgeDatagram(oob []byte, n, flags int) bool {
	if n > s.cfg.MaxRecord || flags&syscall.MSG_TRUNC != 0 {
		s.c.msgs.Bad(sources.ReasonTooLong)
		return false
	}
	cred, ok := credentials(oob)
	switch {
	case !ok:
		s.c.msgs.Bad(errNoCred.Reason)
	case !s.writers[cred.Uid]:
		s.c.denied.Add(1)
		s.c.msgs.Bad(errNotWriter.Reason)
	default:
		return true
	}
	return false
}
