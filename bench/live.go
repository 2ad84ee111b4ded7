package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/stockade-ids/stockade/internal/gen"
)

// measureLive runs the daemon with a syslog listener on loopback UDP and
// sends it c.liveRate messages a second for c.live, stamped now, then
// compares what it sent with what the daemon counted: once an auth.log's
// lines without its attacks (a busy host's noise, no bans), once the whole
// mix (a flood of failures from 20,000 attackers: bans every millisecond).
func measureLive(ctx context.Context, c config, tmp string, r *Results) error {
	for _, attacks := range []bool{false, true} {
		if attacks && !c.liveAttacks {
			continue
		}
		lr, err := measureLiveOnce(ctx, c, filepath.Join(tmp, fmt.Sprintf("live-%v", attacks)), attacks)
		if err != nil {
			return err
		}
		r.Live = append(r.Live, lr)
	}
	return nil
}

func measureLiveOnce(ctx context.Context, c config, dir string, attacks bool) (*LiveResult, error) {
	udpPort, err := freePort("udp")
	if err != nil {
		return nil, err
	}
	metricsPort, err := freePort("tcp")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	buffer := ""
	if c.liveBuffer > 0 {
		buffer = fmt.Sprintf("\n      receive_buffer: %d", c.liveBuffer)
	}
	cfg := fmt.Sprintf(`state_dir: %[1]s/state
socket: %[1]s/stockade.sock
metrics: 127.0.0.1:%[2]d
origin: bench
sources:
  - syslog:
      udp: 127.0.0.1:%[3]d%[4]s
sinks:
  - jsonl: %[1]s/decisions.jsonl
`, dir, metricsPort, udpPort, buffer)
	cfgPath := filepath.Join(dir, "stockade.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	msgs, err := liveMessages(c.seed, attacks)
	if err != nil {
		return nil, err
	}

	cmd := exec.CommandContext(ctx, c.bin, "run", "--config", cfgPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer cmd.Process.Kill()
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	if err := waitMetrics(ctx, metricsURL, cmd); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, lastLines(stderr.String(), 20))
	}
	what := "without attacks"
	if attacks {
		what = "with attacks"
	}
	logf("sending %d syslog messages/s over UDP for %s, %s", c.liveRate, c.live, what)
	sent, elapsed, err := sendLive(ctx, c, udpPort, msgs)
	if err != nil {
		return nil, err
	}
	// Wait until the daemon has counted everything it will.
	var received, decisions uint64
	for last, still := uint64(0), 0; still < 10; {
		time.Sleep(100 * time.Millisecond)
		m, err := scrape(metricsURL)
		if err != nil {
			return nil, err
		}
		received, decisions = m[`stockade_lines_total{format="syslog"}`], m["stockade_decisions_total"]
		if received == last {
			still++
		} else {
			last, still = received, 0
		}
		if received >= sent {
			break
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("stockade run: %w\n%s", err, lastLines(stderr.String(), 20))
	}
	lr := &LiveResult{Attacks: attacks, Rate: c.liveRate, Seconds: elapsed.Seconds(), Sent: sent, Received: received,
		SentPerSec: float64(sent) / elapsed.Seconds(), Decisions: decisions}
	if sent > received {
		lr.Lost = sent - received
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		lr.PeakRSSMB = mb(ru.Maxrss * 1024)
		lr.CPUSeconds = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
		lr.SysSeconds = time.Duration(ru.Stime.Nano()).Seconds()
	}
	return lr, nil
}

// liveMessages are an auth.log's lines without their timestamps, and
// without its attackers' when attacks is false.
func liveMessages(seed uint64, attacks bool) ([][]byte, error) {
	var b bytes.Buffer
	if err := gen.AuthLog(&b, gen.Spec{Lines: 100_000, Seed: seed}); err != nil {
		return nil, err
	}
	var out [][]byte
	sc := bufio.NewScanner(&b)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) <= len(time.Stamp) || !attacks && (bytes.Contains(line, []byte("203.")) || bytes.Contains(line, []byte("2001:db8:"))) {
			continue
		}
		out = append(out, bytes.Clone(line[len(time.Stamp):]))
	}
	return out, sc.Err()
}

func freePort(network string) (int, error) {
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitMetrics(ctx context.Context, url string, cmd *exec.Cmd) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := scrape(url); err == nil {
			return nil
		}
		if cmd.ProcessState != nil {
			return fmt.Errorf("stockade run exited")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("stockade run: no metrics at %s after 20 s", url)
}

var metricLine = regexp.MustCompile(`(?m)^([a-z_]+(?:\{[^}]*\})?) ([0-9.e+]+)$`)

func scrape(url string) (map[string]uint64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for _, m := range metricLine.FindAllSubmatch(b, -1) {
		f, _ := strconv.ParseFloat(string(m[2]), 64)
		out[string(m[1])] = uint64(f)
	}
	return out, nil
}

// sendLive sends msgs over loopback UDP to port, c.liveRate a second for
// c.live, each stamped now: the sent count and how long it took. Over
// loopback the sender does the kernel's delivery of each datagram too,
// about as much CPU as the receiver's whole read: one sending goroutine
// topped out near 185,000 a second on the two-core machine, short of
// issue 19's 200,000, so c.liveSenders goroutines send, each from a
// socket of its own, each its share of the rate and of the messages.
func sendLive(ctx context.Context, c config, udpPort int, msgs [][]byte) (uint64, time.Duration, error) {
	n := max(1, c.liveSenders)
	var (
		wg    sync.WaitGroup
		sent  = make([]uint64, n)
		errs  = make([]error, n)
		start = time.Now()
	)
	for k := range n {
		rate := c.liveRate / n
		if k < c.liveRate%n {
			rate++
		}
		wg.Go(func() { sent[k], errs[k] = sendShare(ctx, c.live, rate, udpPort, msgs, k, n) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	var total uint64
	for k := range n {
		if errs[k] != nil {
			return 0, 0, errs[k]
		}
		total += sent[k]
	}
	return total, elapsed, nil
}

// sendShare is one of sendLive's senders: rate messages a second for d,
// the messages k, k+n, k+2n, ... of msgs in turn.
func sendShare(ctx context.Context, d time.Duration, rate, udpPort int, msgs [][]byte, k, n int) (uint64, error) {
	if rate <= 0 {
		return 0, nil
	}
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", udpPort))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	// A millisecond's worth at a time, in one sendmmsg: sleeping per
	// message is far coarser than 10 µs, and a write per message would
	// take the sender a core of this machine's two.
	pc := ipv4.NewPacketConn(conn.(*net.UDPConn))
	per := max(1, rate/1000)
	batch := make([]ipv4.Message, per)
	bufs := make([][]byte, per)
	for i := range batch {
		bufs[i] = make([]byte, 0, 512)
		batch[i].Buffers = [][]byte{nil}
	}
	start := time.Now()
	var sent uint64
	var stamp []byte
	stampSec := int64(-1)
	for time.Since(start) < d && ctx.Err() == nil {
		now := time.Now()
		if s := now.Unix(); s != stampSec {
			stampSec, stamp = s, []byte(now.Format(time.Stamp))
		}
		for i := range batch {
			m := msgs[(uint64(k)+uint64(n)*(sent+uint64(i)))%uint64(len(msgs))]
			bufs[i] = append(append(append(bufs[i][:0], "<38>"...), stamp...), m...)
			batch[i].Buffers[0] = bufs[i]
		}
		for todo := batch; len(todo) > 0; {
			w, err := pc.WriteBatch(todo, 0)
			if err != nil {
				return 0, err
			}
			todo = todo[w:]
		}
		sent += uint64(per)
		if ahead := time.Duration(sent)*time.Second/time.Duration(rate) - time.Since(start); ahead > 0 {
			time.Sleep(ahead)
		}
	}
	return sent, nil
}
