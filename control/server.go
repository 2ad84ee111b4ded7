package control

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"
)

// Server is a listening control socket.
type Server struct {
	ln   net.Listener
	path string
}

// Close stops listening and removes the socket.
func (c *Server) Close() error {
	err := c.ln.Close()
	os.Remove(c.path)
	return err
}

// Listen binds the socket and sends each admitted request to calls. A
// stale socket left by a crash is removed; a live one (another daemon) is
// an error.
func Listen(path string, calls chan<- Call, log *slog.Logger) (*Server, error) {
	if conn, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		conn.Close()
		return nil, fmt.Errorf("control socket %s: another stockade is listening", path)
	}
	os.Remove(path)
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(conn.(*net.UnixConn), calls, log)
		}
	}()
	return &Server{ln: ln, path: path}, nil
}

func serve(conn *net.UnixConn, calls chan<- Call, log *slog.Logger) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	enc := json.NewEncoder(conn)
	if err := checkPeer(conn); err != nil {
		log.Warn("control connection refused", "err", err)
		enc.Encode(Reply{Error: err.Error()})
		return
	}
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return
	}
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		enc.Encode(Reply{Error: "bad request: " + err.Error()})
		return
	}
	c := NewCall(req)
	select {
	case calls <- c:
	case <-time.After(10 * time.Second):
		enc.Encode(Reply{Error: "daemon busy"})
		return
	}
	enc.Encode(<-c.Reply)
}

// checkPeer admits root and the daemon's own user only: the socket's mode
// already says so, this also holds if someone loosens the mode by hand.
func checkPeer(conn *net.UnixConn) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var cred *syscall.Ucred
	var cerr error
	raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	if cerr != nil {
		return cerr
	}
	if cred.Uid != 0 && int(cred.Uid) != os.Getuid() {
		return fmt.Errorf("uid %d may not control stockade", cred.Uid)
	}
	return nil
}
