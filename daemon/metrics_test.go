package daemon

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stockade-ids/stockade/sinks/jsonl"
	"github.com/stockade-ids/stockade/sources/tail"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/stockade-ids/stockade/control"
)

// hostilePack names its rules with what the text format must escape.
const hostilePack = `pack: hostile
rules:
  - name: "tab\there"
    formats: [syslog]
    programs: [sshd]
    failregex: ['^Failed password for \S+ from <HOST> port \d+ ssh2$']
    threshold: 2
    window: 10m
    ban: 10m
  - name: "quote\"here"
    formats: [syslog]
    programs: [sshd]
    failregex: ['^Failed password for \S+ from <HOST> port \d+ ssh2$']
    threshold: 3
    window: 10m
    ban: 10m
  - name: "new\nline"
    formats: [syslog]
    programs: [sshd]
    failregex: ['^Failed password for \S+ from <HOST> port \d+ ssh2$']
    threshold: 4
    window: 10m
    ban: 10m
  - name: 'back\slash'
    formats: [syslog]
    programs: [sshd]
    failregex: ['^Failed password for \S+ from <HOST> port \d+ ssh2$']
    threshold: 5
    window: 10m
    ban: 10m
`

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestMetricsHostileRuleNames: a daemon whose rule names hold a tab, a
// quote, a newline and a backslash serves a scrape Prometheus accepts
// (before client_golang, a tab alone made it reject the whole scrape),
// with every rule's count under its own name, the Go and process
// collectors, stockade_build_info and both latency histograms.
func TestMetricsHostileRuleNames(t *testing.T) {
	h := newHarness(t)
	if err := os.WriteFile(filepath.Join(h.rules, "hostile.yaml"), []byte(hostilePack), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	h.startWith(func(c *Config, _ *Deps) { c.Metrics = addr })
	defer h.stop()
	h.fail("203.0.113.61", 5)
	h.waitFor("a ban", func() bool { return h.bans("203.0.113.61") >= 1 })

	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %v %s", err, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the scrape does not parse: %v\n%s", err, body)
	}
	matches := map[string]float64{}
	for _, m := range fams["stockade_rule_matches_total"].GetMetric() {
		matches[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
	}
	for _, name := range []string{"tab\there", `quote"here`, "new\nline", `back\slash`, "sshd"} {
		if matches[name] != 5 {
			t.Errorf("rule %q: %v matches, want 5 (all: %v)", name, matches[name], matches)
		}
	}
	for _, name := range []string{"stockade_build_info", "go_goroutines", "process_resident_memory_bytes",
		"stockade_line_to_decision_seconds", "stockade_decision_to_sink_seconds", "stockade_lines_total"} {
		if fams[name] == nil {
			t.Errorf("no %s in the scrape", name)
		}
	}
	if h := fams["stockade_line_to_decision_seconds"]; h != nil {
		if n := h.GetMetric()[0].GetHistogram().GetSampleCount(); n < 1 {
			t.Errorf("line-to-decision histogram: %d samples, want the ban's", n)
		}
	}
	if h := fams["stockade_decision_to_sink_seconds"]; h != nil {
		m := h.GetMetric()[0]
		if m.GetLabel()[0].GetValue() != "jsonl" || m.GetHistogram().GetSampleCount() < 1 {
			t.Errorf("decision-to-sink histogram: %v", m)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("skipping promtool check metrics: needs promtool (Debian package prometheus; CI installs it)")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	// The control socket's metrics are the same text.
	txt := h.metricsText()
	for _, want := range []string{"stockade_rule_matches_total{rule=\"tab\there\"} 5", `stockade_rule_matches_total{rule="new\nline"} 5`,
		`stockade_rule_matches_total{rule="quote\"here"} 5`, `stockade_rule_matches_total{rule="back\\slash"} 5`} {
		if !strings.Contains(txt, want) {
			t.Errorf("control socket metrics lack %q:\n%s", want, txt)
		}
	}
}

// startWith starts the harness's daemon with its configuration changed
// by tune first.
func (h *daemonHarness) startWith(tune func(*Config, *Deps)) {
	cfg := &Config{StateDir: filepath.Join(h.dir, "state"), Socket: h.socket, Origin: "test", Rules: []string{h.rules},
		Sources: []SourceConfig{{Files: &tail.FilesConfig{Files: []string{h.log}, Start: "beginning"}}},
		Sinks:   []SinkConfig{{JSONL: &jsonl.Config{Path: h.out}}}}
	deps := &Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	tune(cfg, deps)
	d, err := New(*cfg, *deps)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- runDaemon(ctx, d) }()
	h.waitFor("the control socket", func() bool { _, err := control.NewClient(h.socket).Do(control.Request{Op: "ping"}); return err == nil })
}

func (h *daemonHarness) metricsText() string {
	rep, err := control.NewClient(h.socket).Do(control.Request{Op: "metrics"})
	if err != nil {
		h.t.Fatal(err)
	}
	return rep.Metrics
}
