package daemon

import (
	"context"
	"time"

	"github.com/stockade-ids/stockade/internal/metrics"
	"github.com/stockade-ids/stockade/sinks/nftables"
	"github.com/stockade-ids/stockade/sinks/queue"
)

var (
	mNFTDropped   = metrics.Counter("stockade_nftables_dropped_packets_total", "Packets dropped by the ban sets.", "sink", "family")
	mNFTRestores  = metrics.Counter("stockade_nftables_restores_total", "Times another program removed the table, its sets, rules or elements and stockade put them back.", "sink")
	mQueueDepthD  = metrics.Gauge("stockade_sink_queue_depth", "Decisions waiting for a remote sink.", "sink")
	mQueueAge     = metrics.Gauge("stockade_sink_queue_age_seconds", "Age of the oldest decision waiting for a remote sink.", "sink")
	mQueueDropped = metrics.Counter("stockade_sink_queue_dropped_total", "Decisions dropped because a remote sink's queue was full.", "sink")
	mQueueMemory  = metrics.Gauge("stockade_sink_queue_memory_decisions", "Decisions waiting in memory because the queue's disk refused them (a full disk).", "sink")
	mDelivered    = metrics.Counter("stockade_sink_delivered_total", "Decisions a remote sink confirmed.", "sink")
	mSinkUp       = metrics.Gauge("stockade_sink_up", "1 when the last delivery attempt to a remote sink succeeded.", "sink")
	mBusMessages  = metrics.Counter("stockade_bus_messages_total", "Messages received from the bus.", "bus")
	mBusBad       = metrics.Counter("stockade_bus_bad_messages_total", "Messages from the bus that did not parse.", "bus")
	mBusOwn       = metrics.Counter("stockade_bus_own_decisions_total", "Our own decisions received back from the bus and ignored.", "bus")
)

func (d *Daemon) sinkMetrics(m *metrics.Emitter) {
	d.queueMetrics(m)
	d.busMetrics(m)
	for _, s := range d.sinks {
		n, ok := s.sink.(*nftables.Sink)
		if !ok {
			continue
		}
		m.Emit(mNFTRestores, float64(n.Stats().Restores), s.name)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := n.Counters(ctx)
		cancel()
		if err != nil {
			continue
		}
		m.Emit(mNFTDropped, float64(c.IPv4.Packets), s.name, "ipv4")
		m.Emit(mNFTDropped, float64(c.IPv6.Packets), s.name, "ipv6")
	}
}

// queueMetrics describes the backlog of each remote sink (NATS, Kafka).
func (d *Daemon) queueMetrics(m *metrics.Emitter) {
	now := time.Now()
	for _, s := range d.sinks {
		q, ok := s.sink.(*queue.Sink)
		if !ok {
			continue
		}
		up := 0.0
		if q.Up() {
			up = 1
		}
		m.Emit(mQueueDepthD, float64(q.Depth()), s.name)
		m.Emit(mQueueAge, q.OldestAge(now).Seconds(), s.name)
		m.Emit(mQueueDropped, float64(q.Dropped()), s.name)
		m.Emit(mQueueMemory, float64(q.Spilled()), s.name)
		m.Emit(mDelivered, float64(q.Delivered()), s.name)
		m.Emit(mSinkUp, up, s.name)
	}
}

// busMetrics counts what the bus sources received.
func (d *Daemon) busMetrics(m *metrics.Emitter) {
	if len(d.bus) == 0 {
		return
	}
	recv, bad, own := map[string]uint64{}, map[string]uint64{}, map[string]uint64{}
	for _, s := range d.bus {
		st := s.Stats()
		recv[s.Kind()] += st.Received
		bad[s.Kind()] += st.Bad
		own[s.Kind()] += st.Own
	}
	for _, k := range sortedKeys(recv) {
		m.Emit(mBusMessages, float64(recv[k]), k)
		m.Emit(mBusBad, float64(bad[k]), k)
		m.Emit(mBusOwn, float64(own[k]), k)
	}
	d.busRefusedMetrics(m)
}
