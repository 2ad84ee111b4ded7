package nftables

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// Open connects a sink and makes the kernel hold what the ledger holds
// (active, as of now). Elements the ledger does not know that still run
// and keep accepts are left in the kernel and returned (see
// ReconcileAdopting): bans whose save was lost, for the caller to record
// with Adopt.
func Open(ctx context.Context, cfg Config, active []pipeline.ActiveBan, now time.Time, keep func(netip.Prefix) bool, log *slog.Logger) (*Sink, []pipeline.ActiveBan, error) {
	s, err := New(cfg, log)
	if err != nil {
		return nil, nil, err
	}
	// What Connect lists serves the reconcile too (see takeFresh), and
	// now, the ledger's clock as of this call, goes on while it does: a
	// reconcile as of the call's now made every ban seconds longer than
	// the kernel's element when listing took seconds (200,000 bans), and
	// rewrote them all.
	start := s.now()
	s.keepListing = true
	if err := s.Connect(ctx); err != nil {
		return nil, nil, fmt.Errorf("nftables: %w", err)
	}
	now = now.Add(s.now().Sub(start))
	// Re-apply what the ledger holds, remove what it no longer does: the
	// restored bans are enforced again without being broadcast again.
	adopted, err := s.ReconcileAdopting(ctx, active, now, keep)
	if err != nil {
		return nil, nil, fmt.Errorf("nftables reconcile: %w", err)
	}
	return s, adopted, nil
}

// AdoptedRule names the ledger records of bans adopted from the kernel.
const AdoptedRule = "adopted"

// Adopt records in l the bans a reconcile adopted from the kernel, until
// they run out there, so that they are saved, shown by status and expire
// like any other; they are not sent to any sink again. It returns them as
// the ledger now holds them, for the sinks opened after.
func Adopt(l *pipeline.Ledger, adopted []pipeline.ActiveBan, now time.Time, log *slog.Logger) []pipeline.ActiveBan {
	out := make([]pipeline.ActiveBan, 0, len(adopted))
	for _, a := range adopted {
		p := &pipeline.Policy{Name: AdoptedRule, Pack: "kernel", Ban: a.Until.Sub(now), Threshold: 1}
		if l.Ban(pipeline.BanRequest{Target: a.Target, Policy: p, At: now}).Verdict == pipeline.AlreadyBanned {
			continue
		}
		a.Rule = AdoptedRule
		out = append(out, a)
	}
	if len(out) > 0 {
		log.Warn("bans adopted from the kernel after a lost save", "count", len(out), "rule", AdoptedRule)
	}
	return out
}
