package enforce

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// serveMetrics serves /metrics on addr until the server is closed.
func (e *Firewall) serveMetrics(addr string) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, e.metricsText())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return srv, nil
}

// metricsText is the firewall's metrics in Prometheus's text format.
func (e *Firewall) metricsText() string {
	var b strings.Builder
	counts := e.enf.Counts()
	fmt.Fprintf(&b, "# HELP stockade_enforce_decisions_total Decisions received, by outcome (accepted, or why refused).\n# TYPE stockade_enforce_decisions_total counter\n")
	for _, r := range Reasons {
		fmt.Fprintf(&b, "stockade_enforce_decisions_total{outcome=%q} %d\n", string(r), counts[r])
	}
	total, per := e.enf.Active()
	fmt.Fprintf(&b, "# HELP stockade_active_bans Targets with a ban in force.\n# TYPE stockade_active_bans gauge\nstockade_active_bans %d\n", total)
	fmt.Fprintf(&b, "# HELP stockade_enforce_origin_active_bans Bans in force per trusted origin.\n# TYPE stockade_enforce_origin_active_bans gauge\n")
	for _, o := range e.cfg.Policy.Origins {
		fmt.Fprintf(&b, "stockade_enforce_origin_active_bans{origin=%q} %d\n", o.Name, per[o.Name])
	}
	waiting, fates := e.enf.Deferred()
	fmt.Fprintf(&b, "# HELP stockade_enforce_deferred_bans Bans over their origin's rate, waiting for its tokens.\n# TYPE stockade_enforce_deferred_bans gauge\n")
	for _, o := range e.cfg.Policy.Origins {
		fmt.Fprintf(&b, "stockade_enforce_deferred_bans{origin=%q} %d\n", o.Name, waiting[o.Name])
	}
	fmt.Fprintf(&b, "# HELP stockade_enforce_deferred_total What became of deferred bans.\n# TYPE stockade_enforce_deferred_total counter\n")
	for _, f := range Fates {
		fmt.Fprintf(&b, "stockade_enforce_deferred_total{fate=%q} %d\n", string(f), fates[f])
	}
	remembered, forgotten := e.enf.Remembered()
	fmt.Fprintf(&b, "# HELP stockade_enforce_remembered Origin and target pairs whose newest decision is remembered (replays of it refused).\n# TYPE stockade_enforce_remembered gauge\nstockade_enforce_remembered %d\n", remembered)
	fmt.Fprintf(&b, "# HELP stockade_enforce_forgotten_early_total Pairs forgotten before their time for policy.remember_max.\n# TYPE stockade_enforce_forgotten_early_total counter\nstockade_enforce_forgotten_early_total %d\n", forgotten)
	fmt.Fprintf(&b, "# HELP stockade_enforce_drift_repaired_total Kernel set elements found missing, extra or changed and repaired.\n# TYPE stockade_enforce_drift_repaired_total counter\nstockade_enforce_drift_repaired_total %d\n", e.drift.Load())
	e.latency.write(&b, "stockade_line_to_kernel_seconds",
		"Time from the log line a ban was decided on (its at) to this firewall's kernel taking it.")
	if e.report != nil {
		fmt.Fprintf(&b, "# HELP stockade_enforce_acks_waiting Acks not yet on the bus.\n# TYPE stockade_enforce_acks_waiting gauge\nstockade_enforce_acks_waiting %d\n", e.report.sink.Depth())
	}
	st := e.consumer.Stats()
	fmt.Fprintf(&b, "# HELP stockade_bus_messages_total Messages received from the bus.\n# TYPE stockade_bus_messages_total counter\nstockade_bus_messages_total %d\n", st.Delivered)
	fmt.Fprintf(&b, "# HELP stockade_bus_retries_total Messages to be delivered again (the firewall could not be updated).\n# TYPE stockade_bus_retries_total counter\nstockade_bus_retries_total %d\n", st.Retried)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if c, err := e.nft.Counters(ctx); err == nil {
		fmt.Fprintf(&b, "# HELP stockade_nftables_dropped_packets_total Packets dropped by the ban sets.\n# TYPE stockade_nftables_dropped_packets_total counter\n")
		fmt.Fprintf(&b, "stockade_nftables_dropped_packets_total{family=\"ipv4\"} %d\n", c.IPv4.Packets)
		fmt.Fprintf(&b, "stockade_nftables_dropped_packets_total{family=\"ipv6\"} %d\n", c.IPv6.Packets)
	}
	return b.String()
}
