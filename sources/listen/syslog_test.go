package listen

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

const (
	msg3164 = "<38>Nov  8 22:00:01 bastion sshd[2738]: Failed password for invalid user admin from 203.0.113.45 port 51022 ssh2"
	msg5424 = `<38>1 2025-11-08T22:00:01.123456+01:00 gw.example.com sshd 4242 - [timeQuality tzKnown="1"] Failed password for root from 198.51.100.7 port 22 ssh2`
)

// want is what the tests check of an event.
type want struct {
	time    time.Time
	host    string
	program string
	pid     int
	message string
}

func check(t *testing.T, ev pipeline.Event, source string, w want) {
	t.Helper()
	if ev.Format != pipeline.FormatSyslog {
		t.Errorf("Format = %v, want syslog", ev.Format)
	}
	if ev.Source != source {
		t.Errorf("Source = %q, want %q", ev.Source, source)
	}
	if !ev.Time.Equal(w.time) {
		t.Errorf("Time = %v, want %v", ev.Time, w.time)
	}
	if ev.Host != w.host || ev.Program != w.program || ev.PID != w.pid {
		t.Errorf("header = %q %q %d, want %q %q %d", ev.Host, ev.Program, ev.PID, w.host, w.program, w.pid)
	}
	if ev.Message != w.message {
		t.Errorf("Message = %q, want %q", ev.Message, w.message)
	}
	// The peer is a relay, never the offender.
	if ev.Addr.IsValid() {
		t.Errorf("Addr = %v, want unset", ev.Addr)
	}
}

var (
	want3164 = want{
		time:    time.Date(2025, 11, 8, 22, 0, 1, 0, time.UTC),
		host:    "bastion",
		program: "sshd",
		pid:     2738,
		message: "Failed password for invalid user admin from 203.0.113.45 port 51022 ssh2",
	}
	want5424 = want{
		time:    time.Date(2025, 11, 8, 21, 0, 1, 123456000, time.UTC),
		host:    "gw.example.com",
		program: "sshd",
		pid:     4242,
		message: "Failed password for root from 198.51.100.7 port 22 ssh2",
	}
)

func TestUDP(t *testing.T) {
	s, out := startSyslog(t, Config{UDP: "127.0.0.1:0", MaxMessage: 1024})
	addr, _ := s.Addrs()
	src := "udp://" + addr.String()
	c := dial(t, "udp", addr)
	for _, m := range []string{msg3164, msg5424 + "\n", msg3164 + "\r\n", "not syslog at all", "<38>" + strings.Repeat("x", 1025), ""} {
		write(t, c, m)
	}
	evs := collect(t, out, 3)
	check(t, evs[0], src, want3164)
	check(t, evs[1], src, want5424)
	check(t, evs[2], src, want3164)
	if evs[0].Line != msg3164 || evs[2].Line != msg3164 {
		t.Errorf("Line = %q, %q: want the message without its trailer", evs[0].Line, evs[2].Line)
	}
	waitFor(t, "6 datagrams", func() bool { return s.Stats().UDP.Received == 6 })
	noMore(t, out)
	st := s.Stats().UDP
	if st.Events != 3 || st.Bad["message too long"] != 1 || st.Bad["empty"] != 1 || len(st.Bad) != 3 {
		t.Errorf("stats = %+v", st)
	}
	if tcp := s.Stats().TCP; tcp.Received != 0 || tcp.Accepted != 0 {
		t.Errorf("tcp stats = %+v, want none", tcp)
	}
}

func TestUDPIPv6(t *testing.T) {
	ln, err := net.ListenPacket("udp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	ln.Close()
	s, out := startSyslog(t, Config{UDP: "[::1]:0", TCP: "[::1]:0"})
	udp, tcp := s.Addrs()
	write(t, dial(t, "udp", udp), msg5424)
	check(t, collect(t, out, 1)[0], "udp://"+udp.String(), want5424)
	write(t, dial(t, "tcp", tcp), msg3164+"\n")
	check(t, collect(t, out, 1)[0], "tcp://"+tcp.String(), want3164)
}

// Each event must own its memory: the listener reads ahead of a slow
// consumer, and a reused buffer would rewrite events already sent.
func TestUDPEventsOwnMemory(t *testing.T) {
	s, out := startSyslog(t, Config{UDP: "127.0.0.1:0"})
	addr, _ := s.Addrs()
	c := dial(t, "udp", addr)
	const n = 500
	for i := range n {
		write(t, c, fmt.Sprintf("<13>Nov  8 22:00:01 host%d app[%d]: message %d", i, i, i))
	}
	evs := collect(t, out, n) // all sent before any is looked at
	for i, ev := range evs {
		if ev.Host != fmt.Sprintf("host%d", i) || ev.PID != i || ev.Message != fmt.Sprintf("message %d", i) {
			t.Fatalf("event %d = %q %d %q", i, ev.Host, ev.PID, ev.Message)
		}
	}
}

// The year of an RFC 3164 line follows the wall clock the listener is given.
func TestYearFollowsClock(t *testing.T) {
	var now atomic.Pointer[time.Time]
	set := func(tm time.Time) { now.Store(&tm) }
	set(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	s, out := startSyslog(t, Config{UDP: "127.0.0.1:0", Now: func() time.Time { return *now.Load() }})
	addr, _ := s.Addrs()
	c := dial(t, "udp", addr)
	const line = "<13>Jan  1 12:00:00 host app: x"
	write(t, c, line)
	if got := collect(t, out, 1)[0].Time.Year(); got != 2025 {
		t.Errorf("in June 2025: year %d, want 2025", got)
	}
	set(time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC))
	write(t, c, line)
	if got := collect(t, out, 1)[0].Time.Year(); got != 2026 {
		t.Errorf("in January 2026: year %d, want 2026", got)
	}
}

func TestTCPFraming(t *testing.T) {
	s, out := startSyslog(t, Config{TCP: "127.0.0.1:0"})
	_, addr := s.Addrs()
	src := "tcp://" + addr.String()
	c := dial(t, "tcp", addr)

	// Octet-counted and newline-framed on one connection, frames split
	// across writes, a 200 KB frame of each framing, and garbage.
	write(t, c, octet(msg3164))
	write(t, c, msg5424[:10])
	time.Sleep(5 * time.Millisecond) // let the first part arrive alone
	write(t, c, msg5424[10:]+"\n")
	write(t, c, octet(msg5424)[:3])
	time.Sleep(5 * time.Millisecond)
	write(t, c, octet(msg5424)[3:])
	write(t, c, "<13>"+strings.Repeat("x", 200_000)+"\n")
	write(t, c, octet("<13>"+strings.Repeat("y", 200_000)))
	write(t, c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	write(t, c, msg3164+"\n")

	evs := collect(t, out, 4)
	check(t, evs[0], src, want3164)
	check(t, evs[1], src, want5424)
	check(t, evs[2], src, want5424)
	check(t, evs[3], src, want3164)
	waitFor(t, "8 frames", func() bool { return s.Stats().TCP.Received == 8 })
	st := s.Stats().TCP
	if st.Events != 4 || st.Bad["message too long"] != 2 || st.Bad["bad framing"] != 2 {
		t.Errorf("stats = %+v", st)
	}
	if st.Conns != 1 || st.Accepted != 1 {
		t.Errorf("conns = %d open, %d accepted; want the connection alive", st.Conns, st.Accepted)
	}

	// Hanging up mid-frame counts a truncated frame.
	write(t, c, "500 <13>cut short")
	c.Close()
	waitFor(t, "the connection to close", func() bool { return s.Stats().TCP.Conns == 0 })
	if n := s.Stats().TCP.Bad["truncated frame"]; n != 1 {
		t.Errorf("truncated frames = %d, want 1", n)
	}
	noMore(t, out)
}

func TestTCPManyClients(t *testing.T) {
	const clients, each = 20, 500
	s, out := startSyslog(t, Config{TCP: "127.0.0.1:0"})
	_, addr := s.Addrs()

	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr.String())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			var b strings.Builder
			for j := range each {
				m := fmt.Sprintf("<13>Nov  8 22:00:01 client%d app[%d]: message", i, j)
				if j%2 == 0 {
					b.WriteString(octet(m))
				} else {
					b.WriteString(m + "\n")
				}
			}
			if _, err := io.WriteString(c, b.String()); err != nil {
				errs <- err
			}
		})
	}
	evs := collect(t, out, clients*each)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Each client's messages arrive complete and in its order.
	next := map[string]int{}
	for _, ev := range evs {
		if ev.PID != next[ev.Host] {
			t.Fatalf("%s: message %d after %d", ev.Host, ev.PID, next[ev.Host]-1)
		}
		next[ev.Host]++
	}
	if len(next) != clients {
		t.Errorf("events from %d clients, want %d", len(next), clients)
	}
	waitFor(t, "all connections to close", func() bool { return s.Stats().TCP.Conns == 0 })
	if st := s.Stats().TCP; st.Accepted != clients || st.Events != clients*each || len(st.Bad) != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestTCPMaxConns(t *testing.T) {
	s, out := startSyslog(t, Config{TCP: "127.0.0.1:0", MaxConns: 2})
	_, addr := s.Addrs()
	c1, c2 := dial(t, "tcp", addr), dial(t, "tcp", addr)
	waitFor(t, "two connections", func() bool { return s.Stats().TCP.Conns == 2 })
	c3 := dial(t, "tcp", addr)
	c3.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c3.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("third connection: read %v, want EOF", err)
	}
	if st := s.Stats().TCP; st.Refused != 1 || st.Accepted != 2 {
		t.Errorf("stats = %+v", st)
	}
	// The first two still work, and a slot freed is a slot for the next.
	write(t, c1, msg3164+"\n")
	write(t, c2, msg3164+"\n")
	collect(t, out, 2)
	c1.Close()
	waitFor(t, "a free slot", func() bool { return s.Stats().TCP.Conns == 1 })
	write(t, dial(t, "tcp", addr), msg5424+"\n")
	collect(t, out, 1)
}

// Cancel ends Run promptly even with idle connections and a consumer that
// has stopped reading, and leaves nothing bound.
func TestCancel(t *testing.T) {
	s, err := NewSyslog(Config{UDP: "127.0.0.1:0", TCP: "127.0.0.1:0", Loc: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan pipeline.Event) // never read
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, out) }()
	<-s.Ready()
	udp, tcp := s.Addrs()
	idle := dial(t, "tcp", tcp)
	busy := dial(t, "tcp", tcp)
	write(t, busy, msg3164+"\n") // blocks its reader on out
	write(t, dial(t, "udp", udp), msg3164)
	waitFor(t, "both messages", func() bool { return s.Stats().Total().Received == 2 })

	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil on cancel", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("Run took %v to return", d)
	}
	if s.Stats().TCP.Conns != 0 {
		t.Errorf("conns open after Run: %d", s.Stats().TCP.Conns)
	}
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("idle connection: read %v, want EOF", err)
	}
	if c, err := net.Dial("tcp", tcp.String()); err == nil {
		c.Close()
		t.Error("TCP listener still accepting after Run returned")
	}
	pc, err := net.ListenPacket("udp", udp.String())
	if err != nil {
		t.Errorf("UDP address still bound after Run returned: %v", err)
	} else {
		pc.Close()
	}
	if err := s.Run(t.Context(), out); err == nil {
		t.Error("second Run succeeded")
	}
}

func TestBindError(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	s, err := NewSyslog(Config{UDP: "127.0.0.1:0", TCP: taken.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run(t.Context(), make(chan pipeline.Event))
	if err == nil || !strings.Contains(err.Error(), "tcp") {
		t.Fatalf("Run = %v, want a TCP bind error", err)
	}
	<-s.Ready()
	if udp, tcp := s.Addrs(); udp != nil || tcp != nil {
		t.Errorf("Addrs = %v, %v after a failed bind", udp, tcp)
	}
}

func TestNewSyslog(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		err  string
	}{
		{"nothing", Config{}, "neither"},
		{"bad udp", Config{UDP: "localhost"}, "udp address"},
		{"bad tcp", Config{TCP: "1.2.3.4"}, "tcp address"},
		{"negative max message", Config{UDP: ":0", MaxMessage: -1}, "MaxMessage"},
		{"negative max conns", Config{TCP: ":0", MaxConns: -1}, "MaxConns"},
		{"udp only", Config{UDP: ":0"}, ""},
		{"tcp only", Config{TCP: "[::1]:5514"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSyslog(tt.cfg)
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.cfg.MaxMessage != DefaultMaxMessage || s.cfg.MaxConns != DefaultMaxConns || s.cfg.Loc == nil || s.cfg.Log == nil || s.cfg.Now == nil {
					t.Errorf("defaults not filled: %+v", s.cfg)
				}
				if udp, tcp := s.Addrs(); udp != nil || tcp != nil {
					t.Error("addresses before Run")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("err = %v, want it to mention %q", err, tt.err)
			}
		})
	}
}

func TestStatsTotal(t *testing.T) {
	st := Stats{
		UDP: Counts{Received: 3, Events: 1, Bad: map[string]uint64{"empty": 2}, Dropped: 7},
		TCP: Counts{Received: 4, Events: 3, Bad: map[string]uint64{"empty": 1}, Conns: 2, Accepted: 5, Refused: 1},
	}
	tot := st.Total()
	if tot.Received != 7 || tot.Events != 4 || tot.Bad["empty"] != 3 || tot.Dropped != 7 || tot.Conns != 2 || tot.Accepted != 5 || tot.Refused != 1 {
		t.Errorf("Total = %+v", tot)
	}
	if st.UDP.Bad["empty"] != 2 {
		t.Error("Total changed its input")
	}
}
