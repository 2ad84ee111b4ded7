package enforce

import (
	"context"

	"github.com/stockade-ids/stockade/pipeline"
)

// LiftProtected lifts every ban in force whose target holds an address
// the policy protects now (added to the allowlist since, an address the
// firewall or the fleet gained): the allowlist always wins, over bans made
// before it too. It returns the unban decisions it gave the sink; the
// ledger forgets the bans even when the sink fails (the caller then
// reconciles the sink with the ledger).
func (e *Enforcer) LiftProtected(ctx context.Context) ([]pipeline.Decision, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	var out []pipeline.Decision
	for _, a := range e.eng.Ledger().ActiveBans(now) {
		if !overlaps(e.pol.Allow, a.Target) && !e.pol.Guard.Overlaps(a.Target) {
			continue
		}
		if x, ok := e.eng.Unban(a.Target, "protected by the firewall's policy", now); ok {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	e.recount(now)
	return out, e.sink.Write(ctx, out)
}
