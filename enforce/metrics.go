package enforce

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockade-ids/stockade/internal/metrics"
	"github.com/stockade-ids/stockade/pipeline"
)

// The firewall's metric families. Origins are the policy's (bounded);
// outcomes and fates are fixed lists.
var (
	mDecisions     = metrics.Counter("stockade_enforce_decisions_total", "Decisions received, by outcome (accepted, or why refused).", "outcome")
	mActive        = metrics.Gauge("stockade_active_bans", "Targets with a ban in force.")
	mOriginActive  = metrics.Gauge("stockade_enforce_origin_active_bans", "Bans in force per trusted origin.", "origin")
	mDeferred      = metrics.Gauge("stockade_enforce_deferred_bans", "Bans over their origin's rate, waiting for its tokens.", "origin")
	mDeferredTotal = metrics.Counter("stockade_enforce_deferred_total", "What became of deferred bans.", "fate")
	mRemembered    = metrics.Gauge("stockade_enforce_remembered", "Origin and target pairs whose newest decision is remembered (replays of it refused).")
	mForgotten     = metrics.Counter("stockade_enforce_forgotten_early_total", "Pairs forgotten before their time for policy.remember_max.")
	mBusMessages   = metrics.Counter("stockade_bus_messages_total", "Messages received from the bus.")
	mBusRetries    = metrics.Counter("stockade_bus_retries_total", "Messages to be delivered again (the firewall could not be updated).")
	mDropped       = metrics.Counter("stockade_nftables_dropped_packets_total", "Packets dropped by the ban sets.", "family")
	mDrift         = metrics.Counter("stockade_enforce_drift_repaired_total", "Kernel set elements found missing, extra or changed, and drop rules found missing, repaired.")
	mAcksWaiting   = metrics.Gauge("stockade_enforce_acks_waiting", "Acks not yet on the bus.")
	mLineToKernel  = prometheus.NewDesc("stockade_line_to_kernel_seconds", "Time from the log line a ban was decided on (its at) to this firewall's kernel taking it.", nil, nil)
	mRestores      = metrics.Counter("stockade_nftables_restores_total", "Times another program removed the table, its sets, rules or elements and stockade put them back.")
)

// LatencyBuckets are the decision-to-kernel histogram's bounds, in
// seconds: a few milliseconds on one host, up to minutes for a ban
// deferred by its origin's rate.
var LatencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}

// registry is the firewall's: the collectors every stockade has, its
// counts read at each scrape, and the decision-to-kernel histogram.
func (e *Firewall) registry() *prometheus.Registry {
	reg := metrics.NewRegistry(e.deps.Version)
	reg.MustRegister(metrics.Func(e.collect))
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:        "stockade_enforce_decision_to_kernel_seconds",
		Help:        "Seconds from a decision on its sensor to this firewall's kernel holding it, by origin (clocks of both hosts; a deferred ban waited for its origin's rate).",
		Buckets:     LatencyBuckets,
		ConstLabels: prometheus.Labels{"firewall": e.cfg.Name},
	}, []string{"origin"})
	reg.MustRegister(lat)
	e.enf.OnWrite(func(ds []pipeline.Decision) {
		now := time.Now()
		for i := range ds {
			// A sensor's clock ahead of ours is not negative latency.
			lat.WithLabelValues(ds[i].Origin).Observe(max(0, now.Sub(ds[i].At).Seconds()))
		}
	})
	return reg
}

// serveMetrics serves /metrics on addr until the server is closed.
func (e *Firewall) serveMetrics(addr string) (*http.Server, error) {
	return metrics.Serve(addr, e.registry(), e.log)
}

// collect reads the firewall's counts for one scrape.
func (e *Firewall) collect(m *metrics.Emitter) {
	counts := e.enf.Counts()
	for _, r := range Reasons {
		m.Emit(mDecisions, float64(counts[r]), string(r))
	}
	total, per := e.enf.Active()
	m.Emit(mActive, float64(total))
	for _, o := range e.cfg.Policy.Origins {
		m.Emit(mOriginActive, float64(per[o.Name]), o.Name)
	}
	waiting, fates := e.enf.Deferred()
	for _, o := range e.cfg.Policy.Origins {
		m.Emit(mDeferred, float64(waiting[o.Name]), o.Name)
	}
	for _, f := range Fates {
		m.Emit(mDeferredTotal, float64(fates[f]), string(f))
	}
	remembered, forgotten := e.enf.Remembered()
	m.Emit(mRemembered, float64(remembered))
	m.Emit(mForgotten, float64(forgotten))
	m.Emit(mDrift, float64(e.drift.Load()))
	m.Send(e.latency.metric(mLineToKernel))
	if e.report != nil {
		m.Emit(mAcksWaiting, float64(e.report.sink.Depth()))
	}
	st := e.consumer.Stats()
	m.Emit(mBusMessages, float64(st.Delivered))
	m.Emit(mBusRetries, float64(st.Retried))
	m.Emit(mRestores, float64(e.nft.Stats().Restores))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if c, err := e.nft.Counters(ctx); err == nil {
		m.Emit(mDropped, float64(c.IPv4.Packets), "ipv4")
		m.Emit(mDropped, float64(c.IPv6.Packets), "ipv6")
	}
}
