package daemon

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/stockade-ids/stockade/internal/metrics"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/sources/listen"
)

// Metric names follow a short written spec: stockade_<what>_<unit>. Label
// values are bounded: rule names, formats, bad-line reasons, sink kinds —
// never an address or a file path, which would grow without end. The
// client library escapes them: a rule named with a tab, a quote or a
// newline cannot break the scrape.
var (
	mActiveBans      = metrics.Gauge("stockade_active_bans", "Targets with a ban in force.")
	mWindows         = metrics.Gauge("stockade_windows", "Sliding windows tracked (keys with recent matches).")
	mWindowsEvicted  = metrics.Counter("stockade_windows_evicted_total", "Windows dropped because they went stale.")
	mWindowsOverflow = metrics.Counter("stockade_windows_overflow_total", "Windows dropped to stay within max_windows (the least recent first).")
	mEvents          = metrics.Counter("stockade_events_total", "Events judged.")
	mDuplicates      = metrics.Counter("stockade_duplicate_alerts_total", "Alerts read twice (fast.log and eve.json) and counted once.")
	mDecisions       = metrics.Counter("stockade_decisions_total", "Decisions sent to sinks.")
	mStale           = metrics.Counter("stockade_stale_decisions_total", "Bans decided from old lines that had already run out.")
	mWarmUp          = metrics.Counter("stockade_warmup_decisions_total", "Decisions made while rebuilding a Kafka partition newly assigned, not published: its previous holder did.")
	mSaves           = metrics.Counter("stockade_state_saves_total", "State commits.")
	mSaveErrors      = metrics.Counter("stockade_state_save_errors_total", "State commits that failed (a full disk, say).")
	mFuture          = metrics.Counter("stockade_future_lines_total", "Lines dated more than a minute past the wall clock, judged as of now.")
	mClockSteps      = metrics.Counter("stockade_clock_steps_total", "Wall-clock steps the state was moved by.")
	mReloads         = metrics.Counter("stockade_reloads_total", "Rule reloads.")
	mReloadErrors    = metrics.Counter("stockade_reload_errors_total", "Rule reloads refused.")
	mQueueDepth      = metrics.Gauge("stockade_events_queue_depth", "Events read but not yet judged (a listener's batch counted whole, up to 1024).")
	mLag             = metrics.Gauge("stockade_lag_seconds", "How far behind the newest lines judging runs (0 when caught up).")
	mSinkDecisions   = metrics.Counter("stockade_sink_decisions_total", "Decisions written, per sink.", "sink")
	mSinkErrors      = metrics.Counter("stockade_sink_errors_total", "Failed writes, per sink.", "sink")
	mBadLines        = metrics.Counter("stockade_bad_lines_total", "Lines that could not be parsed, by reason.", "reason")
	mRuleMatches     = metrics.Counter("stockade_rule_matches_total", "Events each rule judged an offense.", "rule")
	mRuleBans        = metrics.Counter("stockade_rule_bans_total", "Ban decisions per rule; mode=\"simulate\": those of a rule in mode: simulate, never enforced.", "rule", "mode")
	mRuleUncounted   = metrics.Counter("stockade_rule_uncounted_lines_total", "Lines a rule matched but could not count, by reason (a host name: no DNS; no date; a regex that gave up).", "rule", "reason")
	mLines           = metrics.Counter("stockade_lines_total", "Lines read, by format.", "format")
	mSyslogDropped   = metrics.Counter("stockade_syslog_dropped_total", "Syslog datagrams the kernel dropped before stockade read them (the receive buffer was full).")
	mEveRefused      = metrics.Counter("stockade_eve_socket_writers_refused_total", "Connections and datagrams to an eve_socket from a user that is not root, stockade's or in writers:.")
	mSyslogClosed    = metrics.Counter("stockade_syslog_connections_closed_total", "TCP syslog connections closed by stockade, by reason (refused: full; evicted: idle longest, to let another peer in; idle: idle_timeout; denied: not in senders).", "reason")
)

// latencyBuckets bound both latency histograms, in seconds: milliseconds
// for a ban written to the kernel, up to minutes for a line read late.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 600}

// lineLatencyMax: a line dated further back than this is a backlog read
// at start (a file read from its beginning, lines written while stockade
// was down), not the latency of a running daemon.
const lineLatencyMax = 10 * time.Minute

// daemonRegistry is the daemon's registry: the collectors every stockade
// has, the counts read at scrape time, and the latency histograms the
// loop observes.
type daemonRegistry struct {
	reg         *prometheus.Registry
	lineLatency prometheus.Histogram
	sinkLatency *prometheus.HistogramVec
}

func newDaemonRegistry(version string, collect metrics.Func) *daemonRegistry {
	r := &daemonRegistry{reg: metrics.NewRegistry(version)}
	r.lineLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "stockade_line_to_decision_seconds",
		Help:    "Seconds from the time written in a line to the ban it completed (lines dated within the last 10 minutes; as fine as the log's timestamps: a second for classic syslog).",
		Buckets: latencyBuckets,
	})
	r.sinkLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "stockade_decision_to_sink_seconds",
		Help:    "Seconds from a decision to its sink taking it, per sink: the kernel for nftables (the netlink batch acknowledged), the queue's disk for NATS and Kafka (stockade_sink_queue_age_seconds tells delivery), the command's exit for exec.",
		Buckets: latencyBuckets,
	}, []string{"sink"})
	r.reg.MustRegister(collect, r.lineLatency, r.sinkLatency)
	return r
}

// serveMetrics serves /metrics on addr. Collecting reads the daemon's
// structures, which the loop owns: gather hops to the loop.
func serveMetrics(addr string, gather prometheus.GathererFunc, log *slog.Logger) (*http.Server, error) {
	return metrics.Serve(addr, gather, log)
}

// gathered is one scrape's families, gathered in the loop.
type gathered struct {
	mfs []*dto.MetricFamily
	err error
}

// gatherInLoop asks the loop to gather (HTTP handlers call it).
func (d *Daemon) gatherInLoop() ([]*dto.MetricFamily, error) {
	reply := make(chan gathered, 1)
	select {
	case d.gathers <- reply:
	case <-time.After(5 * time.Second):
		return nil, errors.New("metrics: the daemon is busy")
	}
	g := <-reply
	return g.mfs, g.err
}

// metricsText is the daemon's metrics in Prometheus's text format (the
// control socket's "metrics"); called in the loop.
func (d *Daemon) metricsText() string {
	mfs, err := d.prom.reg.Gather()
	var b bytes.Buffer
	for _, mf := range mfs {
		if _, werr := expfmt.MetricFamilyToText(&b, mf); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		d.log.Warn("metrics", "err", err)
	}
	return b.String()
}

// observeLine records how long after the time written in ev the bans it
// completed were decided.
func (d *Daemon) observeLine(ev *pipeline.Event, ds []pipeline.Decision, wall time.Time) {
	late := wall.Sub(ev.Time)
	if late < 0 || late > lineLatencyMax {
		return
	}
	for i := range ds {
		if ds[i].Action == pipeline.ActionBan {
			d.prom.lineLatency.Observe(late.Seconds())
		}
	}
}

// collect reads the daemon's counts for one scrape, in the loop.
func (d *Daemon) collect(m *metrics.Emitter) {
	d.engineMetrics(m)
	d.ruleMetrics(m)
	bad := d.lineMetrics(m)
	m.Emit(mQueueDepth, float64(len(d.events)+d.queuedBatches()))
	// Lag is how far behind the logs judging runs: with lines waiting, wall
	// clock minus the event time of the newest line judged; caught up, 0
	// (quiet logs are not lag).
	lag := 0.0
	if last := d.metrics.lastEvent.Load(); last > 0 && len(d.events)+len(d.batches) > 0 {
		lag = max(0, float64(d.now().UnixNano()-last)/1e9)
	}
	m.Emit(mLag, lag)
	for _, s := range d.sinks {
		m.Emit(mSinkDecisions, float64(s.decisions.Load()), s.name)
		m.Emit(mSinkErrors, float64(s.errors.Load()), s.name)
	}
	for _, r := range sortedKeys(bad) {
		m.Emit(mBadLines, float64(bad[r]), r)
	}
	d.sinkMetrics(m)
	if d.follow != nil {
		d.follow.Collect(m)
	}
}

// engineMetrics are the engine's and the daemon's own counts.
func (d *Daemon) engineMetrics(m *metrics.Emitter) {
	m.Emit(mActiveBans, float64(d.eng.Ledger().Len()))
	m.Emit(mWindows, float64(d.eng.Counter().Len()))
	m.Emit(mWindowsEvicted, float64(d.eng.Counter().Evicted))
	m.Emit(mWindowsOverflow, float64(d.eng.Counter().Overflow))
	m.Emit(mEvents, float64(d.eng.Events))
	m.Emit(mDuplicates, float64(d.eng.Duplicates))
	m.Emit(mDecisions, float64(d.metrics.decisions.Load()))
	m.Emit(mStale, float64(d.metrics.stale.Load()))
	m.Emit(mWarmUp, float64(d.metrics.warmUp.Load()))
	m.Emit(mSaves, float64(d.metrics.saves.Load()))
	m.Emit(mSaveErrors, float64(d.metrics.saveErrors.Load()))
	m.Emit(mFuture, float64(d.metrics.future.Load()))
	m.Emit(mClockSteps, float64(d.metrics.clockSteps.Load()))
	m.Emit(mReloads, float64(d.metrics.reloads.Load()))
	m.Emit(mReloadErrors, float64(d.metrics.reloadErrors.Load()))
}

// ruleMetrics are the matches, bans and uncounted lines of each rule.
func (d *Daemon) ruleMetrics(m *metrics.Emitter) {
	for _, s := range d.eng.Stats() {
		m.Emit(mRuleMatches, float64(s.Matches), s.Rule)
		m.Emit(mRuleBans, float64(s.Bans), s.Rule, "enforce")
		if s.Simulated > 0 {
			m.Emit(mRuleBans, float64(s.Simulated), s.Rule, "simulate")
		}
	}
	if set, ok := d.eng.Matcher().(*rules.Set); ok {
		for _, u := range set.Unbanned() {
			m.Emit(mRuleUncounted, float64(u.Lines), u.Rule, u.Reason)
		}
	}
}

// lineMetrics are the lines read per format, and what the syslog
// listeners dropped and closed; it returns the bad lines by reason.
func (d *Daemon) lineMetrics(m *metrics.Emitter) map[string]uint64 {
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
	for _, e := range d.eves {
		// Records of writers not allowed are bad lines; Skipped ones are
		// eve records that are not alerts.
		st := e.Stats()
		lines["eve"] += st.Received
		for r, n := range st.Bad {
			bad[r] += n
		}
	}
	if len(d.eves) > 0 {
		var refused uint64
		for _, e := range d.eves {
			refused += e.Stats().Denied
		}
		m.Emit(mEveRefused, float64(refused))
	}
	if len(d.syslogs) > 0 {
		m.Emit(mSyslogDropped, float64(dropped))
		var closed [4]uint64
		for _, s := range d.syslogs {
			st := s.Stats().TCP
			closed[0] += st.Refused
			closed[1] += st.Evicted
			closed[2] += st.Idle
			closed[3] += st.Denied
		}
		for i, r := range []string{"refused", "evicted", "idle", "denied"} {
			m.Emit(mSyslogClosed, float64(closed[i]), r)
		}
	}
	for _, f := range sortedKeys(lines) {
		m.Emit(mLines, float64(lines[f]), f)
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
func (d *Daemon) queuedBatches() int { return len(d.batches) * listen.BatchEvents }
