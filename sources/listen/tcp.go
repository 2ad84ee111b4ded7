package listen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// serveTCP accepts connections until the listener is closed, and serves
// each on a goroutine of its own, counted in wg.
func (s *Syslog) serveTCP(ctx context.Context, ln net.Listener, conns *connSet, wg *sync.WaitGroup, out output) error {
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
		peer := remoteAddr(c)
		if !s.allowed(peer) {
			// Each connection closed is counted before it is closed
			// (here and below): whoever sees it closed (the client, a
			// test) then sees it counted.
			n := s.tcp.denied.Add(1)
			c.Close()
			// Logged at the 1st, 2nd, 4th, 8th... time: a flood of
			// connections must not become a flood of log lines.
			if n&(n-1) == 0 && ctx.Err() == nil {
				s.cfg.Log.Warn("syslog tcp: connection from outside senders closed", "peer", peer, "denied", n)
			}
			continue
		}
		st, evicted, ok := conns.add(c, peer, time.Now())
		if evicted != nil {
			n := s.tcp.evicted.Add(1)
			evicted.Close()
			if n&(n-1) == 0 && ctx.Err() == nil {
				s.cfg.Log.Warn("syslog tcp: closed the connection idle longest to let another in",
					"closed", evicted.RemoteAddr(), "for", c.RemoteAddr(), "evicted", n)
			}
		}
		if !ok {
			n := s.tcp.refused.Add(1)
			c.Close()
			if n&(n-1) == 0 && ctx.Err() == nil {
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
			s.serveConn(ctx, c, st, src, out)
		})
	}
}

// remoteAddr is the address of c's peer, without a v4-in-v6 mapping.
func remoteAddr(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

func temporary(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

// serveConn reads frames from one connection until the peer hangs up, the
// connection is closed, or no whole frame comes for IdleTimeout (a frame
// sent a byte at a time holds the connection no longer than one idle).
func (s *Syslog) serveConn(ctx context.Context, c net.Conn, st *connState, src string, out output) {
	d := s.newDeliverer(src, &s.tcp, out)
	f := newFramer(c, s.cfg.MaxMessage)
	// The deadline moves after a whole frame only, and only when it has
	// aged by an eighth of the timeout: setting it on every frame cost the
	// TCP path half its throughput (a timer update per message). A
	// connection is still closed between 7/8 and all of IdleTimeout after
	// its last frame, and a frame trickled a byte at a time never moves it.
	var renewed time.Time
	now := time.Now()
	for {
		if s.cfg.IdleTimeout > 0 && now.Sub(renewed) >= s.cfg.IdleTimeout/8 {
			c.SetReadDeadline(now.Add(s.cfg.IdleTimeout))
			renewed = now
		}
		msg, bad, err := f.next()
		if bad != nil || msg != nil {
			now = time.Now()
			st.touch(now)
		}
		switch {
		case bad != nil:
			d.bad(bad)
		case msg != nil:
			if !d.deliver(ctx, msg) {
				return
			}
		}
		// What the connection had buffered is in the batch: send it
		// before a read that may wait.
		if (err != nil || f.r.Buffered() == 0) && !d.flush(ctx) {
			return
		}
		if err != nil {
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				s.tcp.idle.Add(1)
				s.cfg.Log.Debug("syslog tcp: idle connection closed", "peer", c.RemoteAddr(), "after", s.cfg.IdleTimeout)
			case err != io.EOF && ctx.Err() == nil && !errors.Is(err, net.ErrClosed):
				s.cfg.Log.Debug("syslog tcp: connection", "peer", c.RemoteAddr(), "err", err)
			}
			return
		}
	}
}

// connSet holds the open connections so that cancel can close them, and
// shares them out: MaxConns in all, MaxConnsPerPeer from one peer.
type connSet struct {
	mu         sync.Mutex
	max        int
	perPeer    int
	evictAfter time.Duration
	m          map[net.Conn]*connState
	peers      map[netip.Addr]int
	closed     bool
}

// connState is what the set knows of one connection.
type connState struct {
	peer netip.Addr   // the address, or its /64 for IPv6
	last atomic.Int64 // when its last frame came, in Unix nanoseconds
}

func (st *connState) touch(now time.Time) { st.last.Store(now.UnixNano()) }

// peerKey is the unit the per-peer cap counts: an address, or for IPv6 the
// /64 that a single host is usually given whole.
func peerKey(a netip.Addr) netip.Addr {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// add registers c from addr. When its peer is at its cap, or the set is
// full, it first forgets and returns (for the caller to count and close)
// the connection idle longest of the peer that then holds the most (the
// same peer, if at its cap), if that one has been idle for evictAfter at
// least: a burst of new connections does not throw out the ones that
// just came. It reports false when it could make no room, or the set is
// closed.
func (s *connSet) add(c net.Conn, addr netip.Addr, now time.Time) (st *connState, evicted net.Conn, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.max == 0 {
		return nil, nil, false
	}
	if s.m == nil {
		s.m = map[net.Conn]*connState{}
		s.peers = map[netip.Addr]int{}
	}
	key := peerKey(addr)
	switch {
	case s.peers[key] >= s.perPeer:
		evicted = s.evict(key, now)
	case len(s.m) >= s.max:
		evicted = s.evict(s.busiest(), now)
	}
	if len(s.m) >= s.max || s.peers[key] >= s.perPeer {
		return nil, evicted, false
	}
	st = &connState{peer: key}
	st.touch(now)
	s.m[c] = st
	s.peers[key]++
	return st, evicted, true
}

// busiest is the peer holding the most connections.
func (s *connSet) busiest() netip.Addr {
	var best netip.Addr
	n := 0
	for p, k := range s.peers {
		if k > n || k == n && p.Less(best) {
			best, n = p, k
		}
	}
	return best
}

// evict forgets peer's connection idle longest, if it has been idle for
// evictAfter, and returns it for the caller to close.
func (s *connSet) evict(peer netip.Addr, now time.Time) net.Conn {
	var victim net.Conn
	var oldest int64
	for c, st := range s.m {
		if st.peer != peer {
			continue
		}
		if t := st.last.Load(); victim == nil || t < oldest {
			victim, oldest = c, t
		}
	}
	if victim == nil || now.UnixNano()-oldest < int64(s.evictAfter) {
		return nil
	}
	s.forget(victim)
	return victim
}

func (s *connSet) forget(c net.Conn) {
	st, ok := s.m[c]
	if !ok {
		return
	}
	delete(s.m, c)
	if s.peers[st.peer]--; s.peers[st.peer] <= 0 {
		delete(s.peers, st.peer)
	}
}

func (s *connSet) remove(c net.Conn) {
	s.mu.Lock()
	s.forget(c)
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
