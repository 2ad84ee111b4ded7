package listen

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// runBatches runs a listener in batch mode until the test ends; bind
// first binds it before Run starts (a daemon's start).
func runBatches(t testing.TB, cfg Config, bind bool) (*Syslog, chan *pipeline.Batch, func()) {
	t.Helper()
	cfg.Loc, cfg.Now = time.UTC, func() time.Time { return refTime }
	s, err := NewSyslog(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if bind {
		if err := s.Bind(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	out := make(chan *pipeline.Batch, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	run := func() { go func() { done <- s.RunBatches(ctx, out) }() }
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("RunBatches: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("RunBatches did not return within 5 s of cancel")
		}
	})
	return s, out, run
}

// takeBatches reads batches until n events came, or 5 s passed.
func takeBatches(t testing.TB, out <-chan *pipeline.Batch, n int) (evs []string, batches int) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for len(evs) < n {
		select {
		case b := <-out:
			batches++
			for _, ev := range b.Events {
				evs = append(evs, strings.Clone(ev.Message))
			}
			b.Release()
		case <-deadline:
			t.Fatalf("%d of %d events in 5 s", len(evs), n)
		}
	}
	return evs, batches
}

// TestRunBatches: over UDP and TCP every message arrives once, in order
// per stream, in fewer batches than messages.
func TestRunBatches(t *testing.T) {
	const n = 500
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			cfg := Config{UDP: "127.0.0.1:0"}
			if network == "tcp" {
				cfg = Config{TCP: "127.0.0.1:0"}
			}
			s, out, run := runBatches(t, cfg, false)
			run()
			<-s.Ready()
			udp, tcp := s.Addrs()
			addr := udp
			if network == "tcp" {
				addr = tcp
			}
			c := dial(t, network, addr)
			var all strings.Builder
			for i := range n {
				m := fmt.Sprintf("<38>Nov  8 22:00:01 bastion sshd[1]: message %d", i)
				if network == "udp" {
					write(t, c, m)
				} else {
					all.WriteString(m + "\n")
				}
			}
			if network == "tcp" {
				write(t, c, all.String())
			}
			evs, batches := takeBatches(t, out, n)
			for i, m := range evs {
				if want := fmt.Sprintf("message %d", i); m != want {
					t.Fatalf("event %d: %q, want %q", i, m, want)
				}
			}
			if batches >= n {
				t.Errorf("%d events in %d batches", n, batches)
			}
			t.Logf("%d events in %d batches", n, batches)
		})
	}
}

// TestBindHoldsUntilRun: what a sender sends after Bind and before Run
// (a daemon loading its state) is all delivered once Run starts.
func TestBindHoldsUntilRun(t *testing.T) {
	s, out, run := runBatches(t, Config{UDP: "127.0.0.1:0"}, true)
	udp, _ := s.Addrs()
	if udp == nil {
		t.Fatal("no address after Bind")
	}
	c := dial(t, "udp", udp)
	for i := range 100 {
		write(t, c, fmt.Sprintf("<38>Nov  8 22:00:01 bastion sshd[1]: held %d", i))
	}
	run()
	evs, _ := takeBatches(t, out, 100)
	if evs[0] != "held 0" || evs[99] != "held 99" {
		t.Fatalf("held messages: %q … %q", evs[0], evs[99])
	}
}

// TestUDPLongDatagrams: datagrams shorter than, as long as and longer
// than the part of each that a read packs with the others (headRoom), up
// to the largest UDP payload, taken in one read, each arrive whole and
// apart; one byte over MaxMessage is refused, one under is not.
func TestUDPLongDatagrams(t *testing.T) {
	const longest = 60000
	s, out, run := runBatches(t, Config{UDP: "127.0.0.1:0", MaxMessage: longest, ReceiveBuffer: 8 << 20}, true)
	udp, _ := s.Addrs()
	c := dial(t, "udp", udp)
	head := "<38>Nov  8 22:00:01 bastion sshd[1]: "
	var want []string
	for i, size := range []int{1, headRoom - 1, headRoom, headRoom + 1, 2*headRoom + 7, 5000, longest, longest + 1, 300, longest - 1, headRoom + 1} {
		// Each body is its index repeated: a datagram joined with another's
		// part, or cut, would not be one of them.
		body := strings.Repeat(string(rune('a'+i)), max(size-len(head), 1))
		msg := head + body
		write(t, c, msg)
		if len(msg) <= longest {
			want = append(want, body)
		}
	}
	run()
	evs, _ := takeBatches(t, out, len(want))
	for i := range want {
		if evs[i] != want[i] {
			t.Errorf("event %d: %d bytes %.20q…, want %d bytes %.20q…", i, len(evs[i]), evs[i], len(want[i]), want[i])
		}
	}
	waitFor(t, "the datagram one over MaxMessage counted", func() bool { return s.Stats().UDP.Bad["message too long"] == 1 })
}

// TestCloseUnbinds: a listener bound and never run is closed by Close:
// its port can be bound again.
func TestCloseUnbinds(t *testing.T) {
	s, err := NewSyslog(Config{UDP: "127.0.0.1:0", Loc: time.UTC, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Bind(t.Context()); err != nil {
		t.Fatal(err)
	}
	udp, _ := s.Addrs()
	s.Close()
	c, err := net.ListenPacket("udp", udp.String())
	if err != nil {
		t.Fatalf("the port is still bound after Close: %v", err)
	}
	c.Close()
}

// BenchmarkUDPBatches is BenchmarkUDP in batch mode, the daemon's: the
// consumer takes a batch a read. allocs/op is per message.
func BenchmarkUDPBatches(b *testing.B) {
	s, out, run := runBatches(b, Config{UDP: "127.0.0.1:0"}, true)
	run()
	var got atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case bt := <-out:
				got.Add(int64(len(bt.Events)))
				bt.Release()
			case <-stop:
				return
			}
		}
	}()
	b.Cleanup(func() { close(stop); <-done })
	addr, _ := s.Addrs()
	c := dial(b, "udp", addr)
	msg := []byte(msg3164)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	start := time.Now()
	var sent uint64
	for b.Loop() {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		sent++
	}
	settle(func() uint64 { return s.Stats().UDP.Received }, sent)
	elapsed := time.Since(start)
	st := s.Stats().UDP
	b.ReportMetric(float64(st.Received)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(sent-st.Received), "drops")
}
