package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// StateResult is the daemon's state under a flood of distinct addresses:
// how soon it is saved, how much room it takes, and a restart on it.
type StateResult struct {
	Addresses   int     `json:"addresses"`
	MaxWindows  int     `json:"max_windows"`
	ReadSeconds float64 `json:"read_s"`  // start to the flood's last line counted
	Windows     uint64  `json:"windows"` // held at the flood's end + SaveAfter
	SaveAfter   float64 `json:"save_after_s"`
	Saved       uint64  `json:"saved"` // windows restored after a kill -9 at that moment
	FileBytes   int64   `json:"file_bytes"`
	BytesPerWin float64 `json:"bytes_per_window"`
	RSSMB       float64 `json:"rss_mb"`         // at the kill
	PeakRSSMB   float64 `json:"peak_rss_mb"`    // the flood's peak (VmHWM) at the kill
	FloodCPU    float64 `json:"flood_cpu_s"`    // user+system CPU from start to the kill
	StartListen float64 `json:"start_listen_s"` // restart: exec to the syslog port taking datagrams
	StartReady  float64 `json:"start_ready_s"`  // restart: exec to the metrics answering
	Sent        uint64  `json:"sent"`           // datagrams sent from the listening on, during the restart
	Received    uint64  `json:"received"`
	Lost        uint64  `json:"lost"`
	RestartRSS  float64 `json:"restart_rss_mb"` // 3 s after ready
}

// measureState floods a daemon with one failure from each of n distinct
// addresses (a file read from its start, stamped now, under max_windows
// n), kills it with SIGKILL 2 s after the last line was counted, and
// starts it again on the state it left with the file gone (so what it
// holds is what was saved, not what it read again), while a sender
// sends syslog datagrams from the moment its port takes them.
func measureState(ctx context.Context, c config, tmp string, r *Results) error {
	n := c.stateAddr
	dir := filepath.Join(tmp, "state")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	flood := filepath.Join(dir, "flood.log")
	if err := writeStateFlood(flood, n); err != nil {
		return err
	}
	udpPort, err := freePort("udp")
	if err != nil {
		return err
	}
	metricsPort, err := freePort("tcp")
	if err != nil {
		return err
	}
	cfg := fmt.Sprintf(`state_dir: %[1]s/state
socket: %[1]s/stockade.sock
metrics: 127.0.0.1:%[2]d
origin: bench
max_windows: %[4]d
sources:
  - files: [%[1]s/flood.log]
    start: beginning
  - syslog:
      udp: 127.0.0.1:%[3]d
sinks:
  - jsonl: %[1]s/decisions.jsonl
`, dir, metricsPort, udpPort, n)
	cfgPath := filepath.Join(dir, "stockade.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	sr := &StateResult{Addresses: n, MaxWindows: n, SaveAfter: c.stateSave.Seconds()}
	logf("state: a flood of %d distinct addresses read by the daemon, kill -9 %s after its end", n, c.stateSave)
	if err := stateFlood(ctx, c, cfgPath, url, dir, sr); err != nil {
		return err
	}
	if err := os.Remove(flood); err != nil {
		return err
	}
	logf("state: restarting on %s of state", mbString(sr.FileBytes))
	if err := stateRestart(ctx, c, cfgPath, url, udpPort, sr); err != nil {
		return err
	}
	r.State = sr
	return nil
}

func mbString(b int64) string { return fmt.Sprintf("%.1f MB", mb(b)) }

// writeStateFlood writes one sshd failure from each of n distinct IPv4
// addresses, stamped now (the windows stay live for the whole test).
func writeStateFlood(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	stamp := time.Now().Format(time.Stamp)
	for i := range n {
		fmt.Fprintf(w, "%s web1 sshd[%d]: Failed password for root from 203.%d.%d.%d port %d ssh2\n",
			stamp, 1000+i%60000, (i>>16)&0xff, (i>>8)&0xff, i&0xff, 1024+i%60000)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func stateFlood(ctx context.Context, c config, cfgPath, url, dir string, sr *StateResult) error {
	cmd := exec.CommandContext(ctx, c.bin, "run", "--config", cfgPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Process.Kill()
	if err := waitMetrics(ctx, url, cmd); err != nil {
		return fmt.Errorf("%w\n%s", err, lastLines(stderr.String(), 20))
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		m, err := scrape(url)
		if err != nil {
			return err
		}
		if m[`stockade_lines_total{format="syslog"}`] >= uint64(sr.Addresses) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("state: the flood was not read in 10 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	sr.ReadSeconds = time.Since(start).Seconds()
	time.Sleep(c.stateSave)
	sr.RSSMB = rssMB(cmd.Process.Pid)
	sr.PeakRSSMB = statusMB(cmd.Process.Pid, "VmHWM:")
	sr.FloodCPU = cpuSeconds(cmd.Process.Pid)
	if m, err := scrape(url); err == nil {
		sr.Windows = m["stockade_windows"]
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	ents, err := os.ReadDir(filepath.Join(dir, "state"))
	if err != nil {
		return err
	}
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && !strings.HasSuffix(e.Name(), ".lock") && !strings.HasSuffix(e.Name(), ".old") {
			sr.FileBytes += fi.Size()
		}
	}
	if sr.Windows > 0 {
		sr.BytesPerWin = float64(sr.FileBytes) / float64(sr.Windows)
	}
	return nil
}

var restoredRe = regexp.MustCompile(`state restored.* windows=(\d+)`)

func stateRestart(ctx context.Context, c config, cfgPath, url string, udpPort int, sr *StateResult) error {
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", udpPort))
	if err != nil {
		return err
	}
	defer conn.Close()
	cmd := exec.CommandContext(ctx, c.bin, "run", "--config", cfgPath)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Process.Kill()
	sent, listening, stop := sendThroughRestart(conn, start)
	err = waitMetrics(ctx, url, cmd)
	sr.StartReady = time.Since(start).Seconds()
	time.Sleep(time.Second)
	stop()
	if err != nil {
		return fmt.Errorf("%w\n%s", err, lastLines(stderr.String(), 20))
	}
	sr.StartListen = time.Duration(listening.Load()).Seconds()
	sr.Sent = sent.Load()
	for last, still := uint64(0), 0; still < 10 && sr.Received < sr.Sent; {
		time.Sleep(100 * time.Millisecond)
		m, err := scrape(url)
		if err != nil {
			return err
		}
		sr.Received = m[`stockade_lines_total{format="syslog"}`]
		if sr.Received == last {
			still++
		} else {
			last, still = sr.Received, 0
		}
	}
	if sr.Sent > sr.Received {
		sr.Lost = sr.Sent - sr.Received
	}
	time.Sleep(2 * time.Second)
	sr.RestartRSS = rssMB(cmd.Process.Pid)
	if m := restoredRe.FindStringSubmatch(stderr.String()); m != nil {
		sr.Saved, _ = strconv.ParseUint(m[1], 10, 64)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return err
		}
	}
	return nil
}

// syncBuffer is a bytes.Buffer a child process writes to while it is
// read.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// rssMB is a process's resident memory now (VmRSS), in MB.
func rssMB(pid int) float64 { return statusMB(pid, "VmRSS:") }

// cpuSeconds is the user and system CPU a live process used so far
// (/proc/PID/stat's utime and stime, in clock ticks of 1/100 s on Linux).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}

// statusMB is one kB field of a process's /proc/PID/status, in MB.
func statusMB(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == field {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func (s *StateResult) markdown(b *strings.Builder) {
	fmt.Fprintf(b, "\n| `stockade run`, state: %s distinct addresses, `max_windows: %s` | |\n| --- | ---: |\n",
		thousands(float64(s.Addresses)), thousands(float64(s.MaxWindows)))
	fmt.Fprintf(b, "| flood read (start to last line counted) | %.1f s |\n", s.ReadSeconds)
	fmt.Fprintf(b, "| windows held %.0f s after | %s |\n", s.SaveAfter, thousands(float64(s.Windows)))
	fmt.Fprintf(b, "| windows restored after a kill -9 at that moment | **%s** |\n", thousands(float64(s.Saved)))
	fmt.Fprintf(b, "| state files | %s, **%.0f B a window** |\n", mbString(s.FileBytes), s.BytesPerWin)
	fmt.Fprintf(b, "| RSS at the kill / the flood's peak | **%.0f MB** / %.0f MB |\n", s.RSSMB, s.PeakRSSMB)
	fmt.Fprintf(b, "| CPU from start to the kill (user+system) | %.1f s |\n", s.FloodCPU)
	fmt.Fprintf(b, "| restart: start to the syslog port taking datagrams | **%.2f s** |\n", s.StartListen)
	fmt.Fprintf(b, "| restart: start to ready (metrics answering) | %.2f s |\n", s.StartReady)
	fmt.Fprintf(b, "| datagrams sent from then to 1 s after ready / received / lost | %s / %s / **%s** |\n",
		thousands(float64(s.Sent)), thousands(float64(s.Received)), thousands(float64(s.Lost)))
	fmt.Fprintf(b, "| RSS 2 s after the restart | **%.0f MB** |\n", s.RestartRSS)
}

// sendThroughRestart sends 20,000 datagrams a second on conn until stop is
// called; a send refused (the port is not bound yet: the kernel answered
// the one before with an ICMP error) starts the count again, so what is
// counted was sent to a bound port, from listening (since start) on.
func sendThroughRestart(conn net.Conn, start time.Time) (sent *atomic.Uint64, listening *atomic.Int64, stop func()) {
	sent, listening = new(atomic.Uint64), new(atomic.Int64)
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		msg := []byte("<38>" + time.Now().Format(time.Stamp) + " web1 CRON[1]: pam_unix(cron:session): session closed for user root")
		t0 := time.Now()
		for i := 0; ; i++ {
			select {
			case <-quit:
				return
			default:
			}
			if _, err := conn.Write(msg); err != nil {
				sent.Store(0)
				listening.Store(0)
			} else if listening.Load() == 0 {
				listening.Store(int64(time.Since(start)))
				sent.Store(1)
			} else {
				sent.Add(1)
			}
			if ahead := time.Duration(i+1)*time.Second/20_000 - time.Since(t0); ahead > 0 {
				time.Sleep(ahead)
			}
		}
	}()
	return sent, listening, func() { close(quit); <-done }
}
