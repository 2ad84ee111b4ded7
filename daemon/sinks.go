package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/pipeline"
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
func (d *Daemon) openSink(ctx context.Context, i int, sc config.Sink, active []pipeline.ActiveBan, now time.Time) ([]pipeline.ActiveBan, error) {
	if sc.Path == "" { // built in code (the one-line start)
		sc.Path = fmt.Sprintf("sinks[%d]", i)
	}
	bad := func(err error) error { return &BadConfig{fmt.Errorf("%s: %w", sc.Path, err)} }
	var s pipeline.Sink
	var err error
	switch {
	case sc.JSONL != nil:
		var j *jsonl.Sink
		if j, err = jsonl.Open(*sc.JSONL); err == nil {
			j.Log = d.log
			s = j
		}
	case sc.Exec != nil:
		var e *exec.Sink
		if e, err = exec.New(*sc.Exec, d.log); err == nil && (sc.Exec.Restore == nil || *sc.Exec.Restore) {
			// Re-apply, not re-broadcast: only this local sink sees them.
			e.Write(ctx, restoreDecisions(active, d.cfg.Origin, now))
		}
		s = e
	case sc.NFTables != nil:
		c := *sc.NFTables
		c.Guard, c.Now = d.guard, d.now
		// The allowlist wins over what the kernel kept.
		keep := func(p netip.Prefix) bool { return !d.eng.AllowedPrefix(p) }
		n, adopted, err := nftables.Open(ctx, c, active, now, keep, d.log)
		if err != nil {
			return active, fmt.Errorf("%s: %w", sc.Path, err)
		}
		active = append(active, nftables.Adopt(d.eng.Ledger(), adopted, now, d.log)...)
		s = n
	case sc.NATS != nil:
		c := *sc.NATS
		c.Config = d.natsEmb.conn(c.Config)
		s, err = openNATSSink(c, d.cfg.StateDir, d.signer, d.log)
	case sc.Kafka != nil:
		s, err = openKafkaSink(*sc.Kafka, d.cfg.StateDir, d.signer, d.log)
	case sc.Webhook != nil:
		s, err = webhook.Open(*sc.Webhook, d.cfg.StateDir, d.log)
	case sc.Mail != nil:
		s, err = mail.Open(*sc.Mail, d.cfg.StateDir, d.log)
	default:
		return active, &BadConfig{fmt.Errorf("%s: no sink kind set", sc.Path)}
	}
	if err != nil {
		return active, bad(err)
	}
	d.sinks = append(d.sinks, &namedSink{name: sc.Kind(), sink: s})
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
