package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/sinks/exec"
	"github.com/stockade-ids/stockade/sinks/jsonl"
	"github.com/stockade-ids/stockade/sinks/mail"
	"github.com/stockade-ids/stockade/sinks/nftables"
	"github.com/stockade-ids/stockade/sinks/webhook"
)

type namedSink struct {
	name      string // kind (jsonl, exec, nftables): a bounded metric label
	kind      string // the name before nameSinks made it unique
	key       string // its configuration, to tell at a reload whether it changed
	sink      pipeline.Sink
	decisions atomic.Uint64
	errors    atomic.Uint64
	latency   prometheus.Observer // stockade_decision_to_sink_seconds{sink=name}
}

func (d *Daemon) openSinks(ctx context.Context, active []pipeline.ActiveBan, now time.Time) error {
	defer d.nameSinks()
	for i, sc := range d.cfg.Sinks {
		n := len(d.sinks)
		var err error
		if active, err = d.openSink(ctx, i, sc, active, now); err != nil {
			return err
		}
		for _, s := range d.sinks[n:] {
			s.key = configKey(sc)
		}
	}
	return nil
}

// openSink opens sinks[i] and appends it to d.sinks; it re-applies the
// active bans to a local firewall, and returns them with those adopted
// from the kernel.
func (d *Daemon) openSink(ctx context.Context, i int, sc SinkConfig, active []pipeline.ActiveBan, now time.Time) ([]pipeline.ActiveBan, error) {
	switch {
	case sc.JSONL != "":
		var s pipeline.Sink
		if sc.JSONL == "-" {
			s = jsonl.New(os.Stdout)
		} else {
			f, err := jsonl.OpenFile(sc.JSONL)
			if err != nil {
				return active, &BadConfig{fmt.Errorf("sinks[%d]: %w", i, err)}
			}
			s = f
		}
		d.sinks = append(d.sinks, &namedSink{name: "jsonl", sink: s})
	case sc.Exec != nil:
		timeout := time.Duration(0)
		if sc.Exec.Timeout != "" {
			timeout, _ = rules.ParseDuration(sc.Exec.Timeout)
		}
		s, err := exec.New(exec.Config{Ban: sc.Exec.Ban, Unban: sc.Exec.Unban, Timeout: timeout}, d.log)
		if err != nil {
			return active, &BadConfig{fmt.Errorf("sinks[%d]: %w", i, err)}
		}
		d.sinks = append(d.sinks, &namedSink{name: "exec", sink: s})
		if sc.Exec.Restore == nil || *sc.Exec.Restore {
			// Re-apply, not re-broadcast: only this local sink sees them.
			s.Write(ctx, restoreDecisions(active, d.cfg.Origin, now))
		}
	case sc.NFTables != nil:
		sc.NFTables.guard = d.guard
		// The allowlist wins over what the kernel kept.
		keep := func(p netip.Prefix) bool { return !d.eng.AllowedPrefix(p) }
		s, adopted, err := nftables.Open(ctx, sc.NFTables.nftConfig(d.now), active, now, keep, d.log)
		if err != nil {
			return active, fmt.Errorf("sinks[%d]: %w", i, err)
		}
		active = append(active, nftables.Adopt(d.eng.Ledger(), adopted, now, d.log)...)
		d.sinks = append(d.sinks, &namedSink{name: "nftables", sink: s})
	case sc.NATS != nil:
		nc := *sc.NATS
		nc.NATSConn = d.natsEmb.conn(nc.NATSConn)
		s, err := openNATSSink(&nc, d.cfg.StateDir, "", d.signer, d.log)
		if err != nil {
			return active, &BadConfig{fmt.Errorf("sinks[%d]: %w", i, err)}
		}
		d.sinks = append(d.sinks, &namedSink{name: "nats", sink: s})
	case sc.Kafka != nil:
		s, err := openKafkaSink(sc.Kafka, d.cfg.StateDir, d.signer, d.log)
		if err != nil {
			return active, &BadConfig{fmt.Errorf("sinks[%d]: %w", i, err)}
		}
		d.sinks = append(d.sinks, &namedSink{name: "kafka", sink: s})
	case sc.Webhook != nil:
		s, err := webhook.Open(*sc.Webhook, d.cfg.StateDir, d.log)
		if err != nil {
			return active, &BadConfig{fmt.Errorf("sinks[%d]: %w", i, err)}
		}
		d.sinks = append(d.sinks, &namedSink{name: "webhook", sink: s})
	case sc.Mail != nil:
		s, err := mail.Open(*sc.Mail, d.cfg.StateDir, d.log)
		if err != nil {
			return active, &BadConfig{fmt.Errorf("sinks[%d]: %w", i, err)}
		}
		d.sinks = append(d.sinks, &namedSink{name: "mail", sink: s})
	}
	return active, nil
}

// nameSinks makes sink labels unique (nftables, nftables-2, ...) so two
// sinks of one kind do not produce duplicate metric series.
func (d *Daemon) nameSinks() {
	seen := map[string]int{}
	for _, s := range d.sinks {
		if s.kind == "" {
			s.kind = s.name
		}
		seen[s.kind]++
		s.name = s.kind
		if n := seen[s.kind]; n > 1 {
			s.name = fmt.Sprintf("%s-%d", s.kind, n)
		}
		if d.prom != nil {
			s.latency = d.prom.sinkLatency.WithLabelValues(s.name)
		}
	}
}

// reopenFiles opens again the files the jsonl sinks append to (after
// logrotate renamed them); a file that cannot be opened keeps being
// written where it was, and says why.
func (d *Daemon) reopenFiles() {
	for _, s := range d.sinks {
		r, ok := s.sink.(interface{ Reopen() error })
		if !ok {
			continue
		}
		if err := r.Reopen(); err != nil {
			d.log.Error("reopening the output file failed; writing on to the old one", "sink", s.name, "err", err)
			continue
		}
		d.log.Debug("output file reopened", "sink", s.name)
	}
}

func restoreDecisions(active []pipeline.ActiveBan, origin string, now time.Time) []pipeline.Decision {
	out := make([]pipeline.Decision, 0, len(active))
	for _, a := range active {
		t := pipeline.TargetOf(a.Target)
		out = append(out, pipeline.Decision{
			Action: pipeline.ActionBan, Target: t, Scope: t.Scope(), Rule: a.Rule, Reason: "restored at start",
			At: now, Duration: int64(a.Until.Sub(now) / time.Second), Expires: a.Until, Origin: origin, Source: "state",
		})
	}
	return out
}

func (d *Daemon) closeSinks() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range d.sinks {
		if err := s.sink.Close(ctx); err != nil {
			d.log.Error("closing sink", "sink", s.name, "err", err)
		}
	}
}
