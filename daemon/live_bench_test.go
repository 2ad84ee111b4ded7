package daemon

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/stockade-ids/stockade/internal/gen"
)

// BenchmarkDaemonUDP is `stockade run` taking syslog over loopback UDP at
// 200,000 messages a second with the built-in packs: a busy host's
// auth.log without its attacks (no bans), sent 200 datagrams a sendmmsg
// every millisecond by another process (this test binary again, see
// TestUDPSender), so that the sender's CPU, and the kernel's loopback
// delivery its sendmmsg does, are not the daemon's. An op is one message:
// cpu-ns/msg is this process's CPU over the messages judged, allocs/op
// its allocations; lost are the messages sent and never judged. Run it
// with -benchtime 1000000x (five seconds of traffic).
func BenchmarkDaemonUDP(b *testing.B) {
	h := newHarness(b)
	yml := fmt.Sprintf("state_dir: %q\nsocket: %q\norigin: bench\nsources:\n  - syslog:\n      udp: 127.0.0.1:0\nsinks: [{jsonl: %q}]\n",
		filepath.Join(h.dir, "state"), h.socket, h.out)
	cfg, err := parseConfig("stockade.yaml", []byte(yml))
	if err != nil {
		b.Fatal(err)
	}
	l := startLive(b, cfg, nil)
	addr := listenerAddr(b, l)
	judged := func() uint64 { return uint64(l.metric(`stockade_lines_total{format="syslog"}`)) }
	before := judged()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	// The work is the other process's sending and this one's judging:
	// b.N drives it, not a loop here.
	sender := exec.Command(os.Args[0], "-test.run=^TestUDPSender$")
	sender.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d", senderEnv, addr, b.N))
	if out, err := sender.CombinedOutput(); err != nil {
		b.Fatalf("sender: %v\n%s", err, out)
	}
	// Everything sent is judged, or nothing more is for half a second.
	sent := uint64(b.N)
	got, last, still := judged()-before, uint64(0), 0
	for got < sent && still < 50 {
		time.Sleep(10 * time.Millisecond)
		if got = judged() - before; got == last {
			still++
		} else {
			last, still = got, 0
		}
	}
	b.StopTimer()
	if got > 0 {
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(got), "cpu-ns/msg")
	}
	b.ReportMetric(float64(sent-got), "lost")
}

// senderEnv makes TestUDPSender send ("ADDR,COUNT").
const senderEnv = "STOCKADE_TEST_UDP_SENDER"

// TestUDPSender is BenchmarkDaemonUDP's sender, run in a process of its
// own: COUNT messages to ADDR at 200,000 a second, stamped now.
func TestUDPSender(t *testing.T) {
	spec, ok := os.LookupEnv(senderEnv)
	if !ok {
		t.Skip("skipping: BenchmarkDaemonUDP runs it")
	}
	addr, count, _ := strings.Cut(spec, ",")
	n, err := strconv.Atoi(count)
	if err != nil {
		t.Fatal(err)
	}
	const rate, per = 200_000, 200 // per: a millisecond's worth
	msgs := quietAuthLog(t)
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc := ipv4.NewPacketConn(c.(*net.UDPConn))
	batch := make([]ipv4.Message, per)
	bufs := make([][]byte, per)
	for i := range batch {
		bufs[i] = make([]byte, 0, 512)
		batch[i].Buffers = [][]byte{nil}
	}
	start := time.Now()
	var stamp []byte // a fresh line is not a stale one
	for sent := 0; sent < n; {
		k := min(per, n-sent)
		stamp = time.Now().AppendFormat(stamp[:0], time.Stamp)
		for i := range k {
			bufs[i] = append(append(append(bufs[i][:0], "<38>"...), stamp...), msgs[(sent+i)%len(msgs)]...)
			batch[i].Buffers[0] = bufs[i]
		}
		for todo := batch[:k]; len(todo) > 0; {
			w, err := pc.WriteBatch(todo, 0)
			if err != nil {
				t.Fatal(err)
			}
			todo = todo[w:]
		}
		sent += k
		if ahead := time.Duration(sent)*time.Second/rate - time.Since(start); ahead > 0 {
			time.Sleep(ahead)
		}
	}
}

// quietAuthLog is a generated auth.log's lines without their timestamps
// and without its attackers' (documentation addresses).
func quietAuthLog(b testing.TB) [][]byte {
	var buf bytes.Buffer
	if err := gen.AuthLog(&buf, gen.Spec{Lines: 20_000, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	var out [][]byte
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) <= len(time.Stamp) || bytes.Contains(line, []byte("203.")) || bytes.Contains(line, []byte("2001:db8:")) {
			continue
		}
		out = append(out, bytes.Clone(line[len(time.Stamp):]))
	}
	return out
}

// listenerAddr is the daemon's UDP syslog address.
func listenerAddr(b *testing.B, l *liveDaemon) string {
	var addr string
	waitFor(b, 10*time.Second, "the UDP listener", func() bool {
		for _, a := range l.status().Listeners {
			if s, ok := strings.CutPrefix(a, "udp://"); ok {
				addr = s
				return true
			}
		}
		return false
	})
	return addr
}

// cpuTime is the process's CPU time so far, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
