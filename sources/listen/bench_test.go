package listen

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// drain consumes events until the benchmark ends and counts them.
func drain(b *testing.B, out <-chan pipeline.Event) *atomic.Int64 {
	n := new(atomic.Int64)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-out:
				n.Add(1)
			case <-stop:
				return
			}
		}
	}()
	b.Cleanup(func() { close(stop); <-done })
	return n
}

// settle waits until received reaches want or stops moving.
func settle(received func() uint64, want uint64) {
	last, still := received(), 0
	for last < want && still < 20 {
		time.Sleep(10 * time.Millisecond)
		if n := received(); n == last {
			still++
		} else {
			last, still = n, 0
		}
	}
}

// BenchmarkUDP measures syslog over loopback UDP end to end: one sender as
// fast as it can go, the listener reading, parsing and handing events to a
// consumer. msgs/s is what the listener received; drops are the datagrams
// sent that it never saw. Run with -benchtime=200000x for a fixed count.
func BenchmarkUDP(b *testing.B) {
	for _, form := range []struct{ name, msg string }{{"rfc3164", msg3164}, {"rfc5424", msg5424}} {
		b.Run(form.name, func(b *testing.B) {
			s, out := startSyslog(b, Config{UDP: "127.0.0.1:0"})
			drain(b, out)
			addr, _ := s.Addrs()
			c := dial(b, "udp", addr)
			msg := []byte(form.msg)
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
			if st.Events != st.Received {
				b.Fatalf("%d of %d messages parsed", st.Events, st.Received)
			}
			b.ReportMetric(float64(st.Received)/elapsed.Seconds(), "msgs/s")
			b.ReportMetric(float64(sent-st.Received), "drops")
			b.ReportMetric(float64(st.Dropped), "kernel-drops")
		})
	}
}

// BenchmarkUDPPaced sends at 100,000 messages a second, the rate the
// listener must take without loss, and reports the drops.
func BenchmarkUDPPaced(b *testing.B) {
	const rate = 100_000
	s, out := startSyslog(b, Config{UDP: "127.0.0.1:0"})
	drain(b, out)
	addr, _ := s.Addrs()
	c := dial(b, "udp", addr)
	msg := []byte(msg3164)
	b.ReportAllocs()
	start := time.Now()
	var sent uint64
	for b.Loop() {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		sent++
		// Pace in bursts of 100 (a millisecond's worth): sleeping per
		// message is far coarser than 10 µs.
		if sent%100 == 0 {
			if ahead := time.Duration(sent)*time.Second/rate - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
	}
	settle(func() uint64 { return s.Stats().UDP.Received }, sent)
	st := s.Stats().UDP
	b.ReportMetric(float64(st.Received)/time.Since(start).Seconds(), "msgs/s")
	b.ReportMetric(float64(sent-st.Received), "drops")
}

// BenchmarkTCP measures one loopback TCP connection carrying octet-counted
// frames, written in batches as relays do.
func BenchmarkTCP(b *testing.B) {
	s, out := startSyslog(b, Config{TCP: "127.0.0.1:0"})
	drain(b, out)
	_, addr := s.Addrs()
	c := dial(b, "tcp", addr)
	w := bufio.NewWriterSize(c, 64<<10)
	frame := []byte(octet(msg5424))
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	start := time.Now()
	var sent uint64
	for b.Loop() {
		if _, err := w.Write(frame); err != nil {
			b.Fatal(err)
		}
		sent++
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	settle(func() uint64 { return s.Stats().TCP.Received }, sent)
	st := s.Stats().TCP
	if st.Received != sent {
		b.Fatalf("received %d of %d", st.Received, sent)
	}
	b.ReportMetric(float64(st.Received)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkFramer is the framing alone, without sockets or parsing.
func BenchmarkFramer(b *testing.B) {
	var in bytes.Buffer
	for i := range 1000 {
		if i%2 == 0 {
			in.WriteString(octet(msg5424))
		} else {
			in.WriteString(msg3164 + "\n")
		}
	}
	data := in.Bytes()
	b.SetBytes(int64(len(data) / 1000))
	b.ReportAllocs()
	var f *framer
	r := bytes.NewReader(nil)
	n := 0
	for b.Loop() {
		if n == 0 {
			r.Reset(data)
			f = newFramer(r, DefaultMaxMessage)
			n = 1000
		}
		if msg, bad, err := f.next(); msg == nil || bad != nil || err != nil {
			b.Fatal(msg, bad, err)
		}
		n--
	}
}

func BenchmarkParseRecord(b *testing.B) {
	for _, rec := range []struct{ name, line string }{
		{"string", `{"__CURSOR":"c1","__REALTIME_TIMESTAMP":"1762639201123456","_HOSTNAME":"bastion","SYSLOG_IDENTIFIER":"sshd","_PID":"2738","_COMM":"sshd-session","MESSAGE":"Failed password for root from 203.0.113.45 port 22 ssh2"}`},
		{"bytes", fmt.Sprintf(`{"__REALTIME_TIMESTAMP":"1762639201123456","_HOSTNAME":"h","_COMM":"sshd","_PID":"1","MESSAGE":[%s]}`,
			strings.Trim(strings.Join(strings.Fields(fmt.Sprint([]byte(want3164.message))), ","), "[]"))},
	} {
		b.Run(rec.name, func(b *testing.B) {
			line := []byte(rec.line)
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				var ev pipeline.Event
				if _, err := parseRecord(line, time.UTC, &ev, new(Identity)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUnixBatches is the daemon's path on the unix socket: RunBatches,
// this process writing datagrams as fast as the socket takes them (a unix
// datagram sender waits when the receiver's queue is full: nothing is
// lost), a consumer releasing each batch. Each message is judged by its
// sender's credentials (a program with no entry: accepted without reading
// /proc). An op is one message; cpu-ns/msg is the whole process's CPU,
// the sender's included.
func BenchmarkUnixBatches(b *testing.B) {
	sock := filepath.Join(b.TempDir(), "log.sock")
	s, out, run := runBatches(b, Config{Unix: sock}, false)
	run()
	<-s.Ready()
	var got atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case bt := <-out:
				got.Add(uint64(len(bt.Events)))
				bt.Release()
			case <-stop:
				return
			}
		}
	}()
	b.Cleanup(func() { close(stop); <-done })
	c, err := net.Dial("unixgram", sock)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg := []byte("<14>Nov  8 22:00:01 web1 myapp[812]: job 42 finished in 0.25 s")
	b.ReportAllocs()
	cpu0 := processCPU()
	start := time.Now()
	var sent uint64
	for b.Loop() {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		sent++
	}
	settle(got.Load, sent)
	if n := got.Load(); n != sent {
		b.Fatalf("%d of %d messages", n, sent)
	}
	b.ReportMetric(float64(sent)/time.Since(start).Seconds(), "msgs/s")
	b.ReportMetric(float64(processCPU()-cpu0)/float64(sent), "cpu-ns/msg")
}

// processCPU is the process's CPU time so far, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
