package daemon

import (
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/sinks/jsonl"
)

// TestDaemonSyslogFlood sends a million sshd failures, each from a
// different address, to the daemon's UDP syslog listener with max_windows
// at 10,000. The windows never exceed the bound (the least recent go and
// are counted as overflow), the heap stays small, bans decided before the
// flood stay, and an attacker active during the flood is still banned.
func TestDaemonSyslogFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("a million datagrams: not in -short")
	}
	const (
		flood      = 1_000_000
		maxWindows = 10_000
		batch      = 4_000
	)
	h := newHarness(t)
	cfg := &Config{StateDir: filepath.Join(h.dir, "state"), Socket: h.socket, Origin: "test", Rules: []string{h.rules},
		MaxWindows: maxWindows,
		Sources:    []SourceConfig{{Syslog: &SyslogConfig{UDP: "127.0.0.1:0"}}},
		Sinks:      []SinkConfig{{JSONL: &jsonl.Config{Path: h.out}}}}
	l := startLive(t, cfg, nil)
	var addr string
	waitFor(t, 10*time.Second, "the listener", func() bool {
		for _, a := range l.status().Listeners {
			addr, _ = strings.CutPrefix(a, "udp://")
		}
		return addr != ""
	})
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sent := 0
	send := func(ip string) {
		if _, err := conn.Write([]byte("<38>" + strings.TrimSuffix(sshdLine(time.Now(), ip, sent), "\n"))); err != nil {
			t.Fatal(err)
		}
		sent++
	}
	// settle waits until the daemon has read, or the kernel dropped, every
	// datagram sent: the sender never outruns the receiver by more than a
	// batch, so nothing is lost to a full socket buffer.
	settle := func() {
		deadline := time.Now().Add(60 * time.Second)
		for {
			m := l.metrics()
			if int(metricValue(m, `stockade_lines_total{format="syslog"}`)+metricValue(m, "stockade_syslog_dropped_total")) >= sent {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d datagrams sent, not read within 60s", sent)
			}
			time.Sleep(time.Millisecond)
		}
	}

	early := []string{"198.18.0.1", "198.18.0.2", "198.18.0.3"}
	for _, a := range early {
		for range 5 {
			send(a)
		}
	}
	settle()
	waitFor(t, 10*time.Second, "the early bans", func() bool { return len(l.banned("sshd")) == 3 })

	const during = "198.18.0.9" // five failures in the middle of the flood, 2,000 lines apart
	start := time.Now()
	maxSeen := 0.0
	for i := range flood {
		send(fmt.Sprintf("100.%d.%d.%d", 64+i>>16, i>>8&0xff, i&0xff))
		if i >= flood/2 && i < flood/2+5*2000 && i%2000 == 0 {
			send(during)
		}
		if sent%batch == 0 {
			settle()
			if i%(50*batch) == 0 {
				maxSeen = max(maxSeen, l.metric("stockade_windows"))
			}
		}
	}
	settle()
	waitFor(t, 60*time.Second, "every event judged", func() bool { return int(l.metric("stockade_events_total")) >= sent })
	took := time.Since(start)
	m := l.metrics()
	windows, overflow := metricValue(m, "stockade_windows"), metricValue(m, "stockade_windows_overflow_total")
	evicted := metricValue(m, "stockade_windows_evicted_total")
	dropped := metricValue(m, "stockade_syslog_dropped_total")
	maxSeen = max(maxSeen, windows)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("%d datagrams in %v (%.0f/s), %v dropped by the kernel; windows %v (max seen %v), overflow %v, evicted %v; heap %d MB",
		sent, took.Round(time.Millisecond), float64(sent)/took.Seconds(), dropped, windows, maxSeen, overflow, evicted, ms.HeapAlloc>>20)
	if dropped > flood/100 {
		t.Errorf("%v datagrams dropped by the kernel: the test did not flood the engine", dropped)
	}
	if maxSeen > maxWindows {
		t.Errorf("%v windows held, over max_windows %d", maxSeen, maxWindows)
	}
	// Every address of the flood is held, or was pushed out and counted.
	if windows+overflow+evicted < flood-dropped || overflow < flood-2*maxWindows {
		t.Errorf("windows %v + overflow %v + evicted %v: %d addresses unaccounted for", windows, overflow, evicted, flood-int(windows+overflow+evicted))
	}
	if ms.HeapAlloc > 128<<20 {
		t.Errorf("heap %d MB after the flood", ms.HeapAlloc>>20)
	}
	got := l.banned("sshd")
	for _, a := range append(early, during) {
		if !slices.Contains(got, a) {
			t.Errorf("%s not banned after the flood (banned: %d)", a, len(got))
		}
	}
	if len(got) != 4 {
		t.Errorf("%d banned, want 4", len(got))
	}
}
