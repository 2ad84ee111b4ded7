package enforce

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// latencyBuckets are the upper bounds (seconds) of the line-to-kernel
// histogram: a decision's way from its log line, through a sensor, the bus
// and this firewall's judgement, to the kernel.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}

// histogram is a Prometheus histogram of fixed buckets, safe for one
// writer and many readers.
type histogram struct {
	counts [15]atomic.Uint64 // one per bucket, then +Inf
	sum    atomic.Int64      // nanoseconds
	n      atomic.Uint64
}

func (h *histogram) observe(d time.Duration) {
	if d < 0 {
		d = 0 // a sensor's clock ahead of this one
	}
	s := d.Seconds()
	i := len(latencyBuckets)
	for j, b := range latencyBuckets {
		if s <= b {
			i = j
			break
		}
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
	h.n.Add(1)
}

// metric is the histogram as a Prometheus metric of desc. The count is the
// buckets' sum, so a scrape racing an observation stays consistent.
func (h *histogram) metric(desc *prometheus.Desc) prometheus.Metric {
	buckets := make(map[float64]uint64, len(latencyBuckets))
	var cum uint64
	for i, ub := range latencyBuckets {
		cum += h.counts[i].Load()
		buckets[ub] = cum
	}
	cum += h.counts[len(latencyBuckets)].Load()
	m, err := prometheus.NewConstHistogram(desc, cum, time.Duration(h.sum.Load()).Seconds(), buckets)
	if err != nil {
		return prometheus.NewInvalidMetric(desc, err)
	}
	return m
}
