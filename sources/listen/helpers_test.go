package listen

import (
	"context"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// TestMain fails the run if a goroutine of this package outlives the tests:
// every Run must have ended its readers, acceptors and connections.
func TestMain(m *testing.M) {
	if path := os.Getenv("STOCKADE_LISTEN_SEND"); path != "" {
		// A copy of this binary, run by a test as another process (another
		// name, path or user), writes one datagram to a unix listener.
		os.Exit(sendDatagram(path, os.Getenv("STOCKADE_LISTEN_MSG")))
	}
	if path := os.Getenv("STOCKADE_EVE_SEND"); path != "" {
		// A copy of this binary, run as another user, writes eve records
		// to an eve socket as Suricata does.
		os.Exit(sendEve(path, os.Getenv("STOCKADE_EVE_NET"), os.Getenv("STOCKADE_EVE_MSG")))
	}
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(2 * time.Second); leaked != "" {
			os.Stderr.WriteString("leaked goroutines:\n" + leaked)
			code = 1
		}
	}
	os.Exit(code)
}

func leakedGoroutines(wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "sources/listen.") && !strings.Contains(g, "leakedGoroutines") &&
				!strings.Contains(g, "TestMain") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// refTime is the wall clock the tests' listeners see.
var refTime = time.Date(2025, 11, 9, 12, 0, 0, 0, time.UTC)

// startSyslog runs a listener until the test ends and returns it once bound,
// with the channel its events arrive on.
func startSyslog(t testing.TB, cfg Config) (*Syslog, chan pipeline.Event) {
	t.Helper()
	if cfg.Loc == nil {
		cfg.Loc = time.UTC
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return refTime }
	}
	s, err := NewSyslog(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan pipeline.Event, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("listener not ready")
	}
	udp, tcp := s.Addrs()
	if cfg.UDP != "" && udp == nil || cfg.TCP != "" && tcp == nil {
		t.Fatalf("not bound: udp %v, tcp %v", udp, tcp)
	}
	return s, out
}

// collect receives n events, failing the test if they do not all come.
func collect(t testing.TB, out <-chan pipeline.Event, n int) []pipeline.Event {
	t.Helper()
	evs := make([]pipeline.Event, 0, n)
	timeout := time.After(10 * time.Second)
	for len(evs) < n {
		select {
		case ev := <-out:
			evs = append(evs, ev)
		case <-timeout:
			t.Fatalf("got %d events, want %d", len(evs), n)
		}
	}
	return evs
}

// noMore checks that no further event arrives for a short while.
func noMore(t testing.TB, out <-chan pipeline.Event) {
	t.Helper()
	select {
	case ev := <-out:
		t.Fatalf("unexpected event: %q", ev.Line)
	case <-time.After(50 * time.Millisecond):
	}
}

// waitFor polls cond until it holds, for up to 10 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func dial(t testing.TB, network string, addr net.Addr) net.Conn {
	t.Helper()
	c, err := net.Dial(network, addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func write(t testing.TB, c net.Conn, s string) {
	t.Helper()
	if _, err := c.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

func sendDatagram(path, msg string) int {
	c, err := net.Dial("unixgram", path)
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 1
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg)); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 1
	}
	// Stay alive until told: a sender is judged by its /proc entry.
	io.Copy(io.Discard, os.Stdin)
	return 0
}
