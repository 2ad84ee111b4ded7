// Package metrics exposes stockade's metrics through prometheus/client_golang:
// a registry with the Go and process collectors and stockade_build_info, an
// HTTP server for it, and a Collector that reads the daemon's or the
// enforcer's counts at scrape time, so that nothing is counted twice.
//
// Names follow a short spec: stockade_<what>_<unit>, _total for counters.
// Label values are bounded (rule names, formats, reasons, sink kinds,
// origins): never an address or a path. The client library escapes them,
// so a rule named with a tab, a quote or a newline cannot break a scrape.
package metrics

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry is a registry holding the Go runtime's and the process's
// collectors and stockade_build_info. version is what `stockade version`
// prints ("" reads the module version from the build info).
func NewRegistry(version string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo(version),
	)
	return reg
}

// buildInfo is the constant 1 labelled with what the binary was built
// from, as Prometheus's own <name>_build_info.
func buildInfo(version string) prometheus.Collector {
	revision, goversion := "unknown", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goversion = bi.GoVersion
		if version == "" || version == "dev" {
			if v := bi.Main.Version; v != "" && v != "(devel)" {
				version = v
			}
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	if version == "" {
		version = "dev"
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "stockade_build_info",
		Help: "Always 1, labelled with the version, VCS revision and Go version the binary was built from.",
		ConstLabels: prometheus.Labels{
			"version": version, "revision": revision, "goversion": goversion,
		},
	})
	g.Set(1)
	return g
}

// Serve serves reg's /metrics on addr until the server is closed. A
// collector's error drops that metric, not the scrape.
func Serve(addr string, reg prometheus.Gatherer, log *slog.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		ErrorLog:            errorLog{log},
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	// Addr: the address bound, for callers that asked for port 0.
	srv := &http.Server{Addr: ln.Addr().String(), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return srv, nil
}

type errorLog struct{ log *slog.Logger }

func (l errorLog) Println(v ...any) {
	if l.log != nil {
		l.log.Warn("metrics", "err", strings.TrimSpace(fmt.Sprintln(v...)))
	}
}

// Func is a Collector that calls collect at every scrape. It is unchecked
// (it describes nothing), so the label values it emits may change between
// scrapes: rules come and go with a reload.
type Func func(e *Emitter)

// Describe implements prometheus.Collector.
func (Func) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (f Func) Collect(ch chan<- prometheus.Metric) { f(&Emitter{ch: ch}) }

// Emitter sends one scrape's values.
type Emitter struct {
	ch chan<- prometheus.Metric
}

// Family is a metric's name, help, type and label names.
type Family struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
}

// Counter and Gauge declare a family.
func Counter(name, help string, labels ...string) Family {
	return Family{prometheus.NewDesc(name, help, labels, nil), prometheus.CounterValue}
}

// Gauge declares a gauge family.
func Gauge(name, help string, labels ...string) Family {
	return Family{prometheus.NewDesc(name, help, labels, nil), prometheus.GaugeValue}
}

// Send sends a metric built by the caller (a histogram kept in its own
// form, for one).
func (e *Emitter) Send(m prometheus.Metric) { e.ch <- m }

// Emit sends one sample of f. Label values that are not UTF-8 (a rule
// name read from a pack in another encoding) are mended rather than
// dropped, so the series stays.
func (e *Emitter) Emit(f Family, v float64, labels ...string) {
	for i, l := range labels {
		labels[i] = strings.ToValidUTF8(l, "\uFFFD")
	}
	m, err := prometheus.NewConstMetric(f.desc, f.typ, v, labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(f.desc, err)
	}
	e.ch <- m
}
