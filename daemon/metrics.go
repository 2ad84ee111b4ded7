package daemon

import (
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/rules"
)

// Metric names follow a short written spec: stockade_<what>_<unit>. Label
// values are bounded: rule names, formats, bad-line reasons, sink kinds —
// never an address or a file path, which would grow without end.

func serveMetrics(addr string, ctl chan<- control.Call) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		req := control.NewCall(control.Request{Op: "metrics"})
		select {
		case ctl <- req:
		case <-time.After(5 * time.Second):
			http.Error(w, "daemon busy", http.StatusServiceUnavailable)
			return
		}
		rep := <-req.Reply
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, rep.Metrics)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return srv, nil
}

// metricsText is the daemon's metrics in Prometheus's text format.
func (d *Daemon) metricsText() string {
	var b strings.Builder
	d.engineMetrics(&b)
	d.ruleMetrics(&b)
	bad := d.lineMetrics(&b)
	promGauge(&b, "stockade_events_queue_depth", "Events read but not yet judged (a listener's batch counted whole, up to 256).", len(d.events)+d.queuedBatches())
	// Lag is how far behind the logs judging runs: with lines waiting, wall
	// clock minus the event time of the newest line judged; caught up, 0
	// (quiet logs are not lag).
	lag := 0.0
	if last := d.metrics.lastEvent.Load(); last > 0 && len(d.events)+len(d.batches) > 0 {
		lag = max(0, float64(d.now().UnixNano()-last)/1e9)
	}
	promGauge(&b, "stockade_lag_seconds", "How far behind the newest lines judging runs (0 when caught up).", lag)
	fmt.Fprintf(&b, "# HELP stockade_sink_decisions_total Decisions written, per sink kind.\n# TYPE stockade_sink_decisions_total counter\n")
	for _, s := range d.sinks {
		fmt.Fprintf(&b, "stockade_sink_decisions_total{sink=%q} %d\n", s.name, s.decisions.Load())
	}
	fmt.Fprintf(&b, "# HELP stockade_sink_errors_total Failed writes, per sink kind.\n# TYPE stockade_sink_errors_total counter\n")
	for _, s := range d.sinks {
		fmt.Fprintf(&b, "stockade_sink_errors_total{sink=%q} %d\n", s.name, s.errors.Load())
	}
	fmt.Fprintf(&b, "# HELP stockade_bad_lines_total Lines that could not be parsed, by reason.\n# TYPE stockade_bad_lines_total counter\n")
	for _, r := range sortedKeys(bad) {
		fmt.Fprintf(&b, "stockade_bad_lines_total{reason=%q} %d\n", r, bad[r])
	}
	d.sinkMetrics(&b)
	return b.String()
}

func promGauge(b *strings.Builder, name, help string, v any) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %v\n", name, help, name, name, v)
}

func promCounter(b *strings.Builder, name, help string, v any) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s counter\n%s %v\n", name, help, name, name, v)
}

// engineMetrics are the engine's and the daemon's own counts.
func (d *Daemon) engineMetrics(b *strings.Builder) {
	gauge := func(name, help string, v any) { promGauge(b, name, help, v) }
	counter := func(name, help string, v any) { promCounter(b, name, help, v) }
	gauge("stockade_active_bans", "Targets with a ban in force.", d.eng.Ledger().Len())
	gauge("stockade_windows", "Sliding windows tracked (keys with recent matches).", d.eng.Counter().Len())
	counter("stockade_windows_evicted_total", "Windows dropped because they went stale.", d.eng.Counter().Evicted)
	counter("stockade_windows_overflow_total", "Windows dropped to stay within max_windows (the least recent first).", d.eng.Counter().Overflow)
	counter("stockade_events_total", "Events judged.", d.eng.Events)
	counter("stockade_duplicate_alerts_total", "Alerts read twice (fast.log and eve.json) and counted once.", d.eng.Duplicates)
	counter("stockade_decisions_total", "Decisions sent to sinks.", d.metrics.decisions.Load())
	counter("stockade_stale_decisions_total", "Bans decided from old lines that had already run out.", d.metrics.stale.Load())
	counter("stockade_state_saves_total", "State commits.", d.metrics.saves.Load())
	counter("stockade_state_save_errors_total", "State commits that failed (a full disk, say).", d.metrics.saveErrors.Load())
	counter("stockade_future_lines_total", "Lines dated more than a minute past the wall clock, judged as of now.", d.metrics.future.Load())
	counter("stockade_clock_steps_total", "Wall-clock steps the state was moved by.", d.metrics.clockSteps.Load())
	counter("stockade_reloads_total", "Rule reloads.", d.metrics.reloads.Load())
	counter("stockade_reload_errors_total", "Rule reloads refused.", d.metrics.reloadErrors.Load())
}

// ruleMetrics are the matches, bans and uncounted lines of each rule.
func (d *Daemon) ruleMetrics(b *strings.Builder) {
	fmt.Fprintf(b, "# HELP stockade_rule_matches_total Events each rule judged an offense.\n# TYPE stockade_rule_matches_total counter\n")
	for _, s := range d.eng.Stats() {
		fmt.Fprintf(b, "stockade_rule_matches_total{rule=%q} %d\n", s.Rule, s.Matches)
	}
	fmt.Fprintf(b, "# HELP stockade_rule_bans_total Ban decisions per rule; mode=\"simulate\": those of a rule in mode: simulate, never enforced.\n# TYPE stockade_rule_bans_total counter\n")
	for _, s := range d.eng.Stats() {
		fmt.Fprintf(b, "stockade_rule_bans_total{rule=%q,mode=\"enforce\"} %d\n", s.Rule, s.Bans)
		if s.Simulated > 0 {
			fmt.Fprintf(b, "stockade_rule_bans_total{rule=%q,mode=\"simulate\"} %d\n", s.Rule, s.Simulated)
		}
	}
	if set, ok := d.eng.Matcher().(*rules.Set); ok {
		fmt.Fprintf(b, "# HELP stockade_rule_uncounted_lines_total Lines a rule matched but could not count, by reason (a host name: no DNS; no date; a regex that gave up).\n# TYPE stockade_rule_uncounted_lines_total counter\n")
		for _, u := range set.Unbanned() {
			fmt.Fprintf(b, "stockade_rule_uncounted_lines_total{rule=%q,reason=%q} %d\n", u.Rule, u.Reason, u.Lines)
		}
	}
}

// lineMetrics are the lines read per format, and what the syslog
// listeners dropped and closed; it returns the bad lines by reason.
func (d *Daemon) lineMetrics(b *strings.Builder) map[string]uint64 {
	bad := map[string]uint64{}
	lines := map[string]uint64{}
	for _, t := range d.tailers {
		for _, fs := range t.Stats() {
			// Not fs.Format, the current file's: unknown for a moment after
			// each rotation, it would move the count to another label and
			// back (a counter reset to Prometheus).
			lines[fs.LinesFormat.String()] += fs.Lines
			for r, n := range fs.Bad {
				bad[r] += n
			}
		}
	}
	var dropped uint64
	for _, s := range d.syslogs {
		st := s.Stats().Total()
		lines["syslog"] += st.Received
		dropped += st.Dropped
		for r, n := range st.Bad {
			bad[r] += n
		}
	}
	for _, j := range d.journals {
		// Journal records refused for who wrote them (identity mismatch)
		// are bad lines like any other.
		st := j.Stats()
		lines["journald"] += st.Received
		for r, n := range st.Bad {
			bad[r] += n
		}
	}
	if len(d.syslogs) > 0 {
		promCounter(b, "stockade_syslog_dropped_total", "Syslog datagrams the kernel dropped before stockade read them (the receive buffer was full).", dropped)
		var closed [4]uint64
		for _, s := range d.syslogs {
			st := s.Stats().TCP
			closed[0] += st.Refused
			closed[1] += st.Evicted
			closed[2] += st.Idle
			closed[3] += st.Denied
		}
		fmt.Fprintf(b, "# HELP stockade_syslog_connections_closed_total TCP syslog connections closed by stockade, by reason (refused: full; evicted: idle longest, to let another peer in; idle: idle_timeout; denied: not in senders).\n# TYPE stockade_syslog_connections_closed_total counter\n")
		for i, r := range []string{"refused", "evicted", "idle", "denied"} {
			fmt.Fprintf(b, "stockade_syslog_connections_closed_total{reason=%q} %d\n", r, closed[i])
		}
	}
	fmt.Fprintf(b, "# HELP stockade_lines_total Lines read, by format.\n# TYPE stockade_lines_total counter\n")
	for _, f := range sortedKeys(lines) {
		fmt.Fprintf(b, "stockade_lines_total{format=%q} %d\n", f, lines[f])
	}
	return bad
}

func sortedKeys(m map[string]uint64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// queuedBatches is the events in the listeners' batches waiting, at most:
// a batch is counted as full.
func (d *Daemon) queuedBatches() int { return len(d.batches) * 256 }
