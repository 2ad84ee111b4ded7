package daemon

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/sinks/jsonl"
	"github.com/stockade-ids/stockade/sources/tail"

	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/enforce"
)

// liveDaemon is `stockade run` in process, for the hardening tests: it
// keeps the daemon's log, and reads its metrics and status through the
// control socket as an operator would.
type liveDaemon struct {
	t      testing.TB
	d      *Daemon
	socket string
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// syncBuffer is a log destination safe for concurrent writes.
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

// startLive starts a daemon on cfg (Socket must be set); tweak, when given,
// adjusts it before it runs (a fake wall clock, say). It is stopped by
// t.Cleanup if the test does not stop it.
func startLive(t testing.TB, cfg *Config, tweak func(*Daemon)) *liveDaemon {
	t.Helper()
	logs := &syncBuffer{}
	d, err := New(*cfg, Deps{Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &liveDaemon{t: t, d: d, socket: cfg.Socket, logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { l.done <- runDaemon(ctx, d) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := control.NewClient(l.socket).Do(control.Request{Op: "ping"}); err == nil {
			break
		}
		select {
		case err := <-l.done:
			t.Fatalf("daemon stopped at start: %v\n%s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not answering after 15s:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(l.stop)
	return l
}

// stop cancels the daemon and waits for it (bounded).
func (l *liveDaemon) stop() {
	l.once.Do(func() {
		l.cancel()
		select {
		case err := <-l.done:
			if err != nil {
				l.t.Errorf("daemon: %v", err)
			}
		case <-time.After(30 * time.Second):
			l.t.Errorf("daemon did not stop within 30s")
		}
	})
}

// metrics is the daemon's Prometheus text.
func (l *liveDaemon) metrics() string {
	l.t.Helper()
	rep, err := control.NewClient(l.socket).Do(control.Request{Op: "metrics"})
	if err != nil {
		l.t.Fatalf("metrics: %v", err)
	}
	return rep.Metrics
}

// metric reads one sample ("name" or `name{labels}`), 0 when absent.
func (l *liveDaemon) metric(series string) float64 {
	l.t.Helper()
	return metricValue(l.metrics(), series)
}

func metricValue(text, series string) float64 {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return 0
}

func (l *liveDaemon) status() *control.Status {
	l.t.Helper()
	rep, err := control.NewClient(l.socket).Do(control.Request{Op: "status"})
	if err != nil {
		l.t.Fatalf("status: %v", err)
	}
	return rep.Status
}

// banned lists the targets a rule holds banned now.
func (l *liveDaemon) banned(rule string) []string {
	l.t.Helper()
	rep, err := control.NewClient(l.socket).Do(control.Request{Op: "status", Rule: rule})
	if err != nil {
		l.t.Fatalf("status %s: %v", rule, err)
	}
	return rep.Status.Rules[0].BannedList
}

// waitFor polls cond every 20 ms for up to limit. On a timeout it logs
// every goroutine's stack: an in-process daemon's loop and commits show
// where they stood (a wedged loop, a commit that never returned).
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			var dump bytes.Buffer
			pprof.Lookup("goroutine").WriteTo(&dump, 2)
			t.Logf("goroutines at the timeout:\n%s", dump.String())
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sshdLine is one sshd failure for addr at t, in the ISO syslog format.
func sshdLine(t time.Time, addr string, n int) string {
	return fmt.Sprintf("%s web1 sshd[%d]: Failed password for root from %s port %d ssh2\n",
		t.UTC().Format("2006-01-02T15:04:05.000000-07:00"), 1000+n%9000, addr, 40000+n%20000)
}

// appendFile appends data to path.
func appendFile(t testing.TB, path string, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}

// fileConfig is a daemon following h's log from its beginning with the
// sshd pack, deciding into h's jsonl file.
func fileConfig(h *daemonHarness) *Config {
	return &Config{StateDir: filepath.Join(h.dir, "state"), Socket: h.socket, Origin: "test", Rules: []string{h.rules},
		Sources: []SourceConfig{{Files: &tail.FilesConfig{Files: []string{h.log}, Start: "beginning"}}},
		Sinks:   []SinkConfig{{JSONL: &jsonl.Config{Path: h.out}}}}
}

// runDaemon is Start, Run and Stop, as `stockade run` does them.
func runDaemon(ctx context.Context, d *Daemon) error {
	if err := d.Start(ctx); err != nil {
		return err
	}
	defer d.Stop()
	return d.Run(ctx)
}

// runEnforcer runs the firewall of cfg until ctx is done, as `stockade
// enforce` does; ready, when set, receives it once it consumes.
func runEnforcer(ctx context.Context, cfg *EnforceConfig, log *slog.Logger, ready chan<- *enforce.Firewall) error {
	ec, deps, err := Enforcer(cfg, log, ready)
	if err != nil {
		return err
	}
	return enforce.Run(ctx, ec, deps)
}
