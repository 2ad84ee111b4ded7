package enforce

import (
	"context"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// LiftProtected lifts every ban in force whose target holds an address
// the policy protects now (added to the allowlist since, an address the
// firewall or the fleet gained): the allowlist always wins, over bans made
// before it too. It returns the unban decisions it gave the sink; the
// ledger forgets the bans even when the sink fails (the caller then
// reconciles the sink with the ledger). It also returns the bans in force
// after, with the clock they were read at, for a sink that must narrow what
// it widened (nftables.Sink.Protect).
func (e *Enforcer) LiftProtected(ctx context.Context) ([]pipeline.Decision, []pipeline.ActiveBan, time.Time, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	var out []pipeline.Decision
	active := e.eng.Ledger().ActiveBans(now)
	kept := active[:0]
	for _, a := range active {
		if !overlaps(e.pol.Allow, a.Target) && !e.pol.Guard.Overlaps(a.Target) {
			kept = append(kept, a)
			continue
		}
		if x, ok := e.eng.Unban(a.Target, "protected by the firewall's policy", now); ok {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return nil, kept, now, nil
	}
	e.recount(now)
	return out, kept, now, e.sink.Write(ctx, out)
}
