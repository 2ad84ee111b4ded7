package listen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// serveTCP accepts connections until the listener is closed, and serves
// each on a goroutine of its own, counted in wg.
func (s *Syslog) serveTCP(ctx context.Context, ln net.Listener, conns *connSet, wg *sync.WaitGroup, out chan<- pipeline.Event) error {
	src := "tcp://" + ln.Addr().String()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			if !temporary(err) {
				return fmt.Errorf("listen: syslog tcp: %w", err)
			}
			// Out of file descriptors or memory: wait for connections to
			// close rather than spin, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.cfg.Log.Warn("syslog tcp: accept", "err", err, "retry in", delay)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(delay):
			}
			continue
		}
		delay = 0
		if !conns.add(c) {
			c.Close()
			// Logged at the 1st, 2nd, 4th, 8th... refusal: a flood of
			// connections must not become a flood of log lines.
			if n := s.tcp.refused.Add(1); n&(n-1) == 0 && ctx.Err() == nil {
				s.cfg.Log.Warn("syslog tcp: connection refused: MaxConns open", "max", s.cfg.MaxConns, "refused", n)
			}
			continue
		}
		s.tcp.accepted.Add(1)
		s.tcp.conns.Add(1)
		wg.Go(func() {
			defer func() {
				conns.remove(c)
				c.Close()
				s.tcp.conns.Add(-1)
			}()
			s.serveConn(ctx, c, src, out)
		})
	}
}

func temporary(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

// serveConn reads frames from one connection until the peer hangs up or
// the connection is closed. Idle connections are left alone: relays keep
// one open for days.
func (s *Syslog) serveConn(ctx context.Context, c net.Conn, src string, out chan<- pipeline.Event) {
	d := s.newDeliverer(src, &s.tcp)
	f := newFramer(c, s.cfg.MaxMessage)
	for {
		msg, bad, err := f.next()
		switch {
		case bad != nil:
			d.bad(bad)
		case msg != nil:
			if !d.deliver(ctx, msg, out) {
				return
			}
		}
		if err != nil {
			if err != io.EOF && ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				s.cfg.Log.Debug("syslog tcp: connection", "peer", c.RemoteAddr(), "err", err)
			}
			return
		}
	}
}

// connSet holds the open connections so that cancel can close them, and
// enforces MaxConns.
type connSet struct {
	mu     sync.Mutex
	max    int
	m      map[net.Conn]struct{}
	closed bool
}

// add registers c, or reports false when the set is full or closed.
func (s *connSet) add(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.m) >= s.max {
		return false
	}
	if s.m == nil {
		s.m = map[net.Conn]struct{}{}
	}
	s.m[c] = struct{}{}
	return true
}

func (s *connSet) remove(c net.Conn) {
	s.mu.Lock()
	delete(s.m, c)
	s.mu.Unlock()
}

// closeAll closes every connection and refuses new ones.
func (s *connSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for c := range s.m {
		c.Close()
	}
}
