package listen

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sshdFailure is an sshd failure line for addr, in the RFC 3164 form a
// relay forwards.
func sshdFailure(addr string) string {
	return "<38>Nov  9 12:00:00 bastion sshd[812]: Failed password for root from " + addr + " port 4242 ssh2"
}

// dialFrom connects to addr from the local address from (127.0.0.2 is a
// second host on loopback).
func dialFrom(t testing.TB, network, from string, addr net.Addr) net.Conn {
	t.Helper()
	var local net.Addr
	switch network {
	case "tcp":
		local = &net.TCPAddr{IP: net.ParseIP(from)}
	case "udp":
		local = &net.UDPAddr{IP: net.ParseIP(from)}
	}
	c, err := (&net.Dialer{LocalAddr: local}).Dial(network, addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestTCPIdleFloodDoesNotStarve: an unprivileged user holds 300 idle
// connections to the TCP listener, more than MaxConns. A sender at another
// address still gets its lines through: one peer holds at most
// MaxConnsPerPeer connections.
func TestTCPIdleFloodDoesNotStarve(t *testing.T) {
	s, out := startSyslog(t, Config{TCP: "127.0.0.1:0"})
	_, addr := s.Addrs()
	const flood = 300
	for range flood {
		dial(t, "tcp", addr)
	}
	waitFor(t, "the flood accepted or refused", func() bool {
		st := s.Stats().TCP
		return st.Accepted+st.Refused == flood
	})
	c := dialFrom(t, "tcp", "127.0.0.2", addr)
	write(t, c, sshdFailure("198.51.100.7")+"\n")
	ev := collect(t, out, 1)[0]
	if ev.Program != "sshd" || !strings.Contains(ev.Message, "from 198.51.100.7 ") {
		t.Errorf("event = %q %q", ev.Program, ev.Message)
	}
	// The flooder holds its cap, the sender one more.
	waitFor(t, "the flooder held to its cap", func() bool { return s.Stats().TCP.Conns == DefaultMaxConnsPerPeer+1 })
}

// A peer at its cap, or any peer when the set is full, gets in by closing
// the busiest peer's connection idle longest, once it has been idle a
// while: a sender that shares the flooder's address (127.0.0.1 is every
// local user) is not shut out for good, and a burst of connections does
// not throw out the ones that just came.
func TestTCPEvictsIdleLongest(t *testing.T) {
	const after = time.Second
	s, out := startSyslog(t, Config{TCP: "127.0.0.1:0", MaxConns: 6, MaxConnsPerPeer: 4, evictAfter: after})
	_, addr := s.Addrs()
	var idle []net.Conn
	for range 4 {
		idle = append(idle, dial(t, "tcp", addr))
	}
	waitFor(t, "four connections", func() bool { return s.Stats().TCP.Conns == 4 })
	fresh := dial(t, "tcp", addr)
	fresh.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := fresh.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("a fifth connection while the others are fresh: read %v, want EOF", err)
	}
	if st := s.Stats().TCP; st.Refused != 1 || st.Evicted != 0 {
		t.Errorf("stats = %+v, want 1 refused", st)
	}
	// The oldest of the idle four becomes the one to go.
	time.Sleep(after)
	for _, c := range idle[1:] {
		write(t, c, "<13>Nov  9 12:00:00 h app: keepalive\n")
	}
	collect(t, out, 3)
	same := dial(t, "tcp", addr)
	write(t, same, sshdFailure("198.51.100.8")+"\n")
	if ev := collect(t, out, 1)[0]; !strings.Contains(ev.Message, "198.51.100.8") {
		t.Errorf("event = %q", ev.Message)
	}
	idle[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle[0].Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("the connection idle longest: read %v, want EOF", err)
	}
	// Full (6 with two from 127.0.0.2): a third peer's connection closes
	// the busiest peer's idle longest.
	dialFrom(t, "tcp", "127.0.0.2", addr)
	dialFrom(t, "tcp", "127.0.0.2", addr)
	waitFor(t, "six connections", func() bool { return s.Stats().TCP.Conns == 6 })
	time.Sleep(after)
	third := dialFrom(t, "tcp", "127.0.0.3", addr)
	write(t, third, sshdFailure("198.51.100.9")+"\n")
	if ev := collect(t, out, 1)[0]; !strings.Contains(ev.Message, "198.51.100.9") {
		t.Errorf("event = %q", ev.Message)
	}
	if st := s.Stats().TCP; st.Evicted != 2 || st.Refused != 1 {
		t.Errorf("stats = %+v, want 2 evicted", st)
	}
}

// A connection on which no frame comes for IdleTimeout is closed and
// counted; one that sends keeps its connection, however long it lives; a
// frame trickled a byte at a time does not hold a connection past it.
func TestTCPIdleTimeout(t *testing.T) {
	const idle = time.Second
	s, out := startSyslog(t, Config{TCP: "127.0.0.1:0", IdleTimeout: idle})
	_, addr := s.Addrs()
	quiet := []net.Conn{dial(t, "tcp", addr), dial(t, "tcp", addr), dial(t, "tcp", addr)}
	trickle := dial(t, "tcp", addr)
	busy := dial(t, "tcp", addr)
	waitFor(t, "five connections", func() bool { return s.Stats().TCP.Conns == 5 })
	start := time.Now()
	for i := 0; time.Since(start) < 3*idle; i++ {
		write(t, busy, fmt.Sprintf("<13>Nov  9 12:00:00 h app: busy %d\n", i))
		trickle.Write([]byte("<")) // fails once closed, as it should be
		time.Sleep(idle / 8)
	}
	for i, c := range append(quiet, trickle) {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		// The trickling one has written after the close, so it may have
		// been reset.
		if _, err := c.Read(make([]byte, 1)); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("idle connection %d: read %v, want EOF", i, err)
		}
	}
	waitFor(t, "the idle connections counted", func() bool { return s.Stats().TCP.Idle == 4 })
	write(t, busy, sshdFailure("198.51.100.10")+"\n")
	waitFor(t, "the busy connection's lines", func() bool {
		for {
			select {
			case ev := <-out:
				if strings.Contains(ev.Message, "198.51.100.10") {
					return true
				}
			default:
				return false
			}
		}
	})
	if st := s.Stats().TCP; st.Conns != 1 {
		t.Errorf("stats = %+v, want the busy connection open", st)
	}
}

// With senders set, datagrams and connections from elsewhere are dropped
// and counted; senders inside are heard.
func TestSenders(t *testing.T) {
	s, out := startSyslog(t, Config{UDP: "127.0.0.1:0", TCP: "127.0.0.1:0",
		Senders: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32"), netip.MustParsePrefix("10.0.0.0/8")}})
	udp, tcp := s.Addrs()
	for range 5 {
		write(t, dial(t, "udp", udp), sshdFailure("198.51.100.11"))
	}
	c := dial(t, "tcp", tcp)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("a connection from outside senders: read %v, want EOF", err)
	}
	waitFor(t, "the outsiders counted", func() bool {
		st := s.Stats()
		return st.UDP.Bad["sender not allowed"] == 5 && st.TCP.Denied == 1
	})
	noMore(t, out)
	write(t, dialFrom(t, "udp", "127.0.0.2", udp), sshdFailure("198.51.100.12"))
	write(t, dialFrom(t, "tcp", "127.0.0.2", tcp), sshdFailure("198.51.100.13")+"\n")
	got := map[string]bool{}
	for _, ev := range collect(t, out, 2) {
		got[ev.Message[strings.Index(ev.Message, "from ")+5:][:13]] = true
	}
	if !got["198.51.100.12"] || !got["198.51.100.13"] {
		t.Errorf("events from the senders = %v", got)
	}
	if st := s.Stats(); st.UDP.Events != 1 || st.TCP.Events != 1 || st.TCP.Accepted != 1 {
		t.Errorf("stats = %+v", st)
	}
}
