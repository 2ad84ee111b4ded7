package nftables

import (
	"context"
	"net/netip"
)

// Drift is how our sets differed from the bans in force when Repair read
// them: elements missing (an `nft flush`, a table deleted, nftables
// restarted), elements that no ban holds (added by hand, or a lift that
// did not reach the kernel), and elements whose range or timeout was not
// the ban's; and drop rules missing from our chains (an `nft flush table`
// removes the rules and keeps the sets: every ban still listed, none
// enforced).
type Drift struct {
	Missing, Extra, Changed int
	Rules                   int
}

// Total is every element and rule Repair had to fix.
func (d Drift) Total() int { return d.Missing + d.Extra + d.Changed + d.Rules }

// Repair reads our sets back and makes them hold exactly the bans the
// sink enforces (what Write gave it), as the periodic check of a firewall
// does: whatever changed the kernel behind our back is undone, and said.
// A table deleted by hand is made again.
func (s *Sink) Repair(ctx context.Context) (Drift, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d Drift
	if !s.ready() {
		return d, errNotConnected
	}
	if s.conn == nil {
		if s.redial(); s.conn == nil {
			return d, errNotConnected
		}
	}
	if err := s.repairOnce(ctx, &d); err != nil {
		// As in sync: a request that failed half-way can leave answers
		// unread; the next check starts on a fresh connection.
		s.redial()
		return d, err
	}
	return d, nil
}

func (s *Sink) repairOnce(ctx context.Context, d *Drift) error {
	rules := s.rulesAdded
	err := s.ensure()
	d.Rules += int(s.rulesAdded - rules)
	if err != nil {
		return err
	}
	for _, f := range s.fams {
		have, span, err := s.readSpan(f)
		if err != nil {
			return err
		}
		now := s.now()
		dels, adds := diff(have, f.elements(now), now, readTolerance(span))
		if len(dels) == 0 && len(adds) == 0 {
			continue
		}
		deleted := make(map[netip.Addr]bool, len(dels))
		for _, e := range dels {
			deleted[e.from] = true
		}
		for _, e := range adds {
			if deleted[e.from] {
				d.Changed++
				delete(deleted, e.from)
			} else {
				d.Missing++
			}
		}
		d.Extra += len(deleted)
		if err := s.apply(ctx, f, plan(dels, adds, s.cfg.ChunkSize)); err != nil {
			return err
		}
	}
	return nil
}
