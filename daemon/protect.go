package daemon

import (
	"context"
	"net/netip"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/protect"
	"github.com/stockade-ids/stockade/sinks/nftables"
)

// startGuard follows the host's addresses and protects the bus servers
// and brokers of the configuration and the embedded server's peers, before
// any line is judged. It returns the configured names resolved, for
// watchFleet.
func (d *Daemon) startGuard(ctx context.Context) []netip.Prefix {
	protect.WatchOwn(ctx, d.guard, d.netns, d.log)
	var urls, brokers []string
	for _, s := range d.cfg.Sinks {
		if s.NATS != nil {
			urls = append(urls, s.NATS.URL)
		}
		if s.Kafka != nil {
			brokers = append(brokers, s.Kafka.Brokers...)
		}
	}
	for _, s := range d.cfg.Sources {
		if s.NATS != nil {
			urls = append(urls, s.NATS.URL)
		}
		if s.Kafka != nil {
			brokers = append(brokers, s.Kafka.Brokers...)
		}
	}
	d.fleet = protect.NewFleet(d.guard, protect.BusHosts(urls, brokers), d.natsSrv, d.log)
	return d.fleet.Refresh(ctx, true, nil)
}

// watchFleet keeps the fleet's addresses current while the daemon runs:
// the servers our NATS connections discover, the embedded server's peers.
func (d *Daemon) watchFleet(ctx context.Context, resolved []netip.Prefix) {
	for _, b := range d.bus {
		if c, ok := b.Consumer().(interface{ Conn() *nats.Conn }); ok {
			d.fleet.AddConn(c.Conn())
		}
	}
	go d.fleet.Run(ctx, resolved)
}

// liftProtected lifts, in the ledger, the bans of addresses the guard
// protects now, and logs each.
func (d *Daemon) liftProtected(now time.Time) []pipeline.Decision {
	// Each is in the audit log as it is sent ("Unban … protected (…)").
	return d.eng.LiftProtected(now)
}

// protect applies a change of the guard: bans of newly protected addresses
// are lifted everywhere, and ranges an nftables sink widened over one are
// narrowed back to the bans the ledger holds. It returns the unbans sent.
func (d *Daemon) protect(ctx context.Context) []pipeline.Decision {
	now := d.now()
	lifted := d.liftProtected(now)
	d.emit(ctx, lifted)
	var active []pipeline.ActiveBan
	for _, s := range d.sinks {
		n, ok := s.sink.(*nftables.Sink)
		if !ok {
			continue
		}
		if active == nil {
			active = d.eng.Ledger().ActiveBans(now)
		}
		widened, err := n.Protect(ctx, active, now)
		if err != nil {
			d.log.Error("nftables: lifting the ranges that hold a protected address failed; retried at the next change", "sink", s.name, "err", err)
			continue
		}
		if widened > 0 {
			d.log.Warn("nftables: widened bans that held a protected address lifted", "sink", s.name, "count", widened)
		}
	}
	return lifted
}
