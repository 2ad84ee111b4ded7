package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/sinks/jsonl"
	"github.com/stockade-ids/stockade/sources/tail"

	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/pipeline"
)

type daemonHarness struct {
	t      testing.TB
	dir    string
	log    string
	out    string
	socket string
	rules  string
	packs  []string // the rules: list, when not the sshd pack in rules
	files  []string // the files followed, when not log alone
	cancel context.CancelFunc
	done   chan error
}

func newHarness(t testing.TB) *daemonHarness {
	dir := t.TempDir()
	h := &daemonHarness{t: t, dir: dir, log: filepath.Join(dir, "auth.log"), out: filepath.Join(dir, "decisions.jsonl"),
		socket: filepath.Join(dir, "ctl.sock"), rules: filepath.Join(dir, "packs")}
	os.MkdirAll(h.rules, 0o755)
	src, err := os.ReadFile(filepath.Join("..", "rules", "packs", "sshd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(h.rules, "sshd.yaml"), src, 0o644)
	os.WriteFile(h.log, nil, 0o644)
	return h
}

// fail appends n sshd failures for addr, stamped now (ISO syslog).
func (h *daemonHarness) fail(addr string, n int) {
	f, err := os.OpenFile(h.log, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	for i := 0; i < n; i++ {
		fmt.Fprintf(f, "%s web1 sshd[%d]: Failed password for root from %s port %d ssh2\n",
			time.Now().UTC().Format("2006-01-02T15:04:05.000000-07:00"), 100+i, addr, 40000+i)
	}
}

func (h *daemonHarness) start() {
	cfg := &Config{StateDir: filepath.Join(h.dir, "state"), Socket: h.socket, Origin: "test", Rules: []string{h.rules},
		Sources: []SourceConfig{{Files: &tail.FilesConfig{Files: []string{h.log}, Start: "beginning"}}},
		Sinks:   []SinkConfig{{JSONL: &jsonl.Config{Path: h.out}}}}
	if h.packs != nil {
		cfg.Rules = h.packs
	}
	if h.files != nil {
		cfg.Sources[0].Files.Files = h.files
	}
	d, err := New(*cfg, Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- runDaemon(ctx, d) }()
	h.waitFor("the control socket", func() bool { _, err := control.NewClient(h.socket).Do(control.Request{Op: "ping"}); return err == nil })
}

func (h *daemonHarness) stop() {
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Fatalf("daemon: %v", err)
		}
	case <-time.After(10 * time.Second):
		h.t.Fatal("daemon did not stop")
	}
}

func (h *daemonHarness) waitFor(what string, ok func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *daemonHarness) decisions() []pipeline.Decision {
	f, err := os.Open(h.out)
	if err != nil {
		return nil
	}
	defer f.Close()
	var ds []pipeline.Decision
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var d pipeline.Decision
		if json.Unmarshal(sc.Bytes(), &d) == nil {
			ds = append(ds, d)
		}
	}
	return ds
}

func (h *daemonHarness) bans(target string) int {
	n := 0
	for _, d := range h.decisions() {
		if d.Target.String() == target && d.Action == pipeline.ActionBan {
			n++
		}
	}
	return n
}

func TestDaemonLiveRestartAndControl(t *testing.T) {
	h := newHarness(t)
	h.fail("203.0.113.50", 3) // written before the first start: read from the beginning
	h.fail("203.0.113.51", 4)
	h.start()
	fi, err := os.Stat(h.socket)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v %v", fi.Mode(), err)
	}

	h.fail("203.0.113.50", 2)
	h.waitFor("the ban of 203.0.113.50", func() bool { return h.bans("203.0.113.50") == 1 })

	rep, err := control.NewClient(h.socket).Do(control.Request{Op: "status", Rule: "sshd"})
	if err != nil {
		t.Fatal(err)
	}
	rs := rep.Status.Rules[0]
	if rs.CurrentlyBanned != 1 || rs.BannedList[0] != "203.0.113.50" || rs.TotalFailed != 9 || rs.CurrentlyFailing != 1 || len(rs.FilesWatched) != 1 {
		t.Fatalf("status %+v", rs)
	}
	h.stop()

	// While stockade is down, 203.0.113.51 fails a fifth time: after the
	// restart its window (4 of 5) and this line must meet.
	h.fail("203.0.113.51", 1)
	h.start()
	h.waitFor("the ban of 203.0.113.51", func() bool { return h.bans("203.0.113.51") == 1 })
	rep, _ = control.NewClient(h.socket).Do(control.Request{Op: "status", Rule: "sshd"})
	if got := rep.Status.Rules[0].BannedList; len(got) != 2 {
		t.Fatalf("banned after restart: %v (the restored ban must stay)", got)
	}
	// The restored ban was re-applied, not broadcast again; no line twice.
	time.Sleep(300 * time.Millisecond)
	if n := h.bans("203.0.113.50"); n != 1 {
		t.Fatalf("203.0.113.50 decided %d times", n)
	}

	// Manual ban and unban; allowlisted and own addresses refused.
	if _, err := control.NewClient(h.socket).Do(control.Request{Op: "ban", Target: "198.51.100.0/24", For: "2h"}); err != nil {
		t.Fatal(err)
	}
	for _, own := range []string{"127.0.0.1", "0.0.0.0/0", "::/0", "127.0.0.0/4"} {
		if _, err := control.NewClient(h.socket).Do(control.Request{Op: "ban", Target: own}); err == nil || !strings.Contains(err.Error(), "allowlisted") {
			t.Fatalf("banning %s: %v", own, err)
		}
	}
	if _, err := control.NewClient(h.socket).Do(control.Request{Op: "unban", Target: "198.51.100.0/24"}); err != nil {
		t.Fatal(err)
	}
	if _, err := control.NewClient(h.socket).Do(control.Request{Op: "unban", Target: "198.51.100.0/24"}); err == nil {
		t.Fatal("unbanning twice succeeded")
	}
	h.waitFor("the unban decision", func() bool {
		for _, d := range h.decisions() {
			if d.Action == pipeline.ActionUnban && d.Target.String() == "198.51.100.0/24" {
				return true
			}
		}
		return false
	})

	// A reload with a broken pack is refused with its errors; the old packs
	// stay in force.
	os.WriteFile(filepath.Join(h.rules, "broken.yaml"), []byte("pack: broken\nrules:\n  - name: x\n    formats: [nginx]\n    when: nope ==\n    ban: 1h\n"), 0o644)
	_, err = control.NewClient(h.socket).Do(control.Request{Op: "reload"})
	if err == nil || !strings.Contains(err.Error(), "broken.yaml:5:") {
		t.Fatalf("bad reload: %v", err)
	}
	h.fail("203.0.113.52", 5)
	h.waitFor("a ban under the old packs", func() bool { return h.bans("203.0.113.52") == 1 })
	os.Remove(filepath.Join(h.rules, "broken.yaml"))
	if _, err := control.NewClient(h.socket).Do(control.Request{Op: "reload"}); err != nil {
		t.Fatal(err)
	}
	h.stop()
	if _, err := os.Stat(h.socket); err == nil {
		t.Error("socket left behind")
	}
}

func TestDaemonMetrics(t *testing.T) {
	h := newHarness(t)
	h.start()
	defer h.stop()
	h.fail("203.0.113.60", 5)
	h.waitFor("the ban", func() bool { return h.bans("203.0.113.60") == 1 })
	rep, err := control.NewClient(h.socket).Do(control.Request{Op: "metrics"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`stockade_rule_bans_total{mode="enforce",rule="sshd"} 1`, `stockade_lines_total{format="syslog"} 5`,
		`stockade_sink_decisions_total{sink="jsonl"} 1`, "stockade_active_bans 1", "stockade_lag_seconds ", "stockade_events_queue_depth 0",
	} {
		if !strings.Contains(rep.Metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// No unbounded label values: no addresses, no paths.
	if strings.Contains(rep.Metrics, "203.0.113.60") || strings.Contains(rep.Metrics, h.dir) {
		t.Errorf("metrics carry an address or a path:\n%s", rep.Metrics)
	}
}
