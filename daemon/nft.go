package daemon

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/sinks/nftables"
	"github.com/stockade-ids/stockade/sinks/queue"
)

// nftConfig is the sink's configuration; clock is the wall clock the
// decisions are made with.
func (c *NFTablesConfig) nftConfig(clock func() time.Time) nftables.Config {
	cfg := nftables.Config{Table: c.Table, Family: c.Family, Chains: c.Chains, SetOnly: c.SetOnly,
		SetV4: c.SetV4, SetV6: c.SetV6, IPv6Prefix: c.IPv6Prefix, NetNS: c.netns, Now: clock, Guard: c.guard}
	if c.Priority != nil {
		cfg.Priority = *c.Priority
	}
	return cfg
}

func (d *Daemon) sinkMetrics(b *strings.Builder) {
	d.queueMetrics(b)
	d.busMetrics(b)
	header := false
	for _, s := range d.sinks {
		n, ok := s.sink.(*nftables.Sink)
		if !ok {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := n.Counters(ctx)
		cancel()
		if err != nil {
			continue
		}
		if !header {
			fmt.Fprintf(b, "# HELP stockade_nftables_dropped_packets_total Packets dropped by the ban sets.\n# TYPE stockade_nftables_dropped_packets_total counter\n")
			header = true
		}
		fmt.Fprintf(b, "stockade_nftables_dropped_packets_total{sink=%q,family=\"ipv4\"} %d\n", s.name, c.IPv4.Packets)
		fmt.Fprintf(b, "stockade_nftables_dropped_packets_total{sink=%q,family=\"ipv6\"} %d\n", s.name, c.IPv6.Packets)
	}
}

// queueMetrics describes the backlog of each remote sink (NATS, Kafka).
func (d *Daemon) queueMetrics(b *strings.Builder) {
	var qs []*namedSink
	for _, s := range d.sinks {
		if _, ok := s.sink.(*queue.Sink); ok {
			qs = append(qs, s)
		}
	}
	if len(qs) == 0 {
		return
	}
	now := time.Now()
	for _, m := range []struct {
		name, help, typ string
		v               func(*queue.Sink) any
	}{
		{"stockade_sink_queue_depth", "Decisions waiting for a remote sink.", "gauge", func(q *queue.Sink) any { return q.Depth() }},
		{"stockade_sink_queue_age_seconds", "Age of the oldest decision waiting for a remote sink.", "gauge",
			func(q *queue.Sink) any { return q.OldestAge(now).Seconds() }},
		{"stockade_sink_queue_dropped_total", "Decisions dropped because a remote sink's queue was full.", "counter", func(q *queue.Sink) any { return q.Dropped() }},
		{"stockade_sink_queue_memory", "Decisions waiting in memory because the queue's disk refused them (a full disk).", "gauge", func(q *queue.Sink) any { return q.Spilled() }},
		{"stockade_sink_delivered_total", "Decisions a remote sink confirmed.", "counter", func(q *queue.Sink) any { return q.Delivered() }},
		{"stockade_sink_up", "1 when the last delivery attempt to a remote sink succeeded.", "gauge", func(q *queue.Sink) any {
			if q.Up() {
				return 1
			}
			return 0
		}},
	} {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", m.name, m.help, m.name, m.typ)
		for _, s := range qs {
			fmt.Fprintf(b, "%s{sink=%q} %v\n", m.name, s.name, m.v(s.sink.(*queue.Sink)))
		}
	}
}

// busMetrics counts what the bus sources received.
func (d *Daemon) busMetrics(b *strings.Builder) {
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
	for _, m := range []struct {
		name, help string
		v          map[string]uint64
	}{
		{"stockade_bus_messages_total", "Messages received from the bus.", recv},
		{"stockade_bus_bad_messages_total", "Messages from the bus that did not parse.", bad},
		{"stockade_bus_own_decisions_total", "Our own decisions received back from the bus and ignored.", own},
	} {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s counter\n", m.name, m.help, m.name)
		for _, k := range sortedKeys(m.v) {
			fmt.Fprintf(b, "%s{bus=%q} %d\n", m.name, k, m.v[k])
		}
	}
	d.busRefusedMetrics(b)
}
