package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sinks/nftables"
)

func openNFTables(ctx context.Context, c *NFTablesConfig, active []pipeline.ActiveBan, now time.Time, log *slog.Logger) (*nftables.Sink, error) {
	cfg := nftables.Config{Table: c.Table, Family: c.Family, Chains: c.Chains, SetOnly: c.SetOnly,
		SetV4: c.SetV4, SetV6: c.SetV6, IPv6Prefix: c.IPv6Prefix}
	if c.Priority != nil {
		cfg.Priority = *c.Priority
	}
	s, err := nftables.New(cfg, log)
	if err != nil {
		return nil, err
	}
	if err := s.Connect(ctx); err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	// Re-apply what the ledger holds, remove what it no longer does: the
	// restored bans are enforced again without being broadcast again.
	if err := s.Reconcile(ctx, active, now); err != nil {
		return nil, fmt.Errorf("nftables reconcile: %w", err)
	}
	return s, nil
}

func (d *daemon) sinkMetrics(b *strings.Builder) {
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
