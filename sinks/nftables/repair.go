package nftables

import (
	"context"
	"net/netip"
	"time"

	nft "github.com/google/nftables"
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
//
// The kernel lists a set in a time that grows with the square of its
// elements (200,000: seconds; a million: minutes), so the listing is made
// on a connection of the check's own, without the sink's lock: bans and
// lifts are written meanwhile. The elements of the groups they changed
// are left to the next check; a listing they overlapped that shows drift
// elsewhere is read again (see check); and a check whose listing a sync overlapped
// (a restore, a write the kernel refused) finds nothing to do: the sync
// read the sets and made them whole.
func (s *Sink) Repair(ctx context.Context) (Drift, error) {
	s.checking.Lock()
	defer s.checking.Unlock()
	rules := 0 // drop rules put back by the tries before
	for try := 1; ; try++ {
		d, again, err := s.check(ctx, try > lockFreeTries)
		if d.Rules += rules; !again {
			return d, err
		}
		rules = d.Rules
		s.mu.Lock()
		s.stats.Relisted++
		s.mu.Unlock()
	}
}

// lockFreeTries is how many listings a check makes without the sink's
// lock before it lists under it: see check.
const lockFreeTries = 2

// check is one try of Repair. The kernel lists a set in parts, each
// taking up after the number of elements the last one ended at: an edit
// ahead of that place while it lists moves the rest by one, and the
// listing then skips an element nobody touched, or pairs an interval's
// start with another's end (TestRepairListsBesideWrites, one run in
// twelve: a check beside four writes found one ban missing and one
// changed, and its repair was refused, ENOENT). So a listing that edits
// overlapped is trusted only where it agrees with the sink: when it shows
// drift besides the edited groups, again is true and nothing is written;
// locked, the listing holds the sink's lock and no edit can overlap it.
func (s *Sink) check(ctx context.Context, locked bool) (d Drift, again bool, err error) {
	rc, sets, epoch, err := s.beginCheck(&d)
	if err != nil {
		return d, false, err
	}
	if locked {
		s.mu.Lock()
	}
	lists := make([]listing, len(sets))
	for i := range sets {
		if lists[i].have, lists[i].span, err = readSpanOn(rc, &sets[i], s.now); err != nil {
			break
		}
	}
	if !locked {
		s.mu.Lock()
	}
	defer s.mu.Unlock()
	s.stats.Listings += uint64(len(sets))
	moved := make([][]netip.Prefix, len(s.fams))
	for i, f := range s.fams {
		moved[i], f.moved, f.tracking = f.moved, nil, false
	}
	if s.closed {
		_ = rc.CloseLasting()
		return d, false, errNotConnected
	}
	if err != nil {
		// A listing cut off half-way can leave answers unread: the next
		// check dials again.
		_ = rc.CloseLasting()
		return d, false, err
	}
	s.rconn = rc
	if s.epoch != epoch {
		return d, false, nil
	}
	if s.conn == nil {
		if s.redial(); s.conn == nil {
			return d, false, errNotConnected
		}
	}
	fixes := s.fixesFrom(lists, moved)
	for i, fx := range fixes {
		if !locked && len(moved[i]) > 0 && (len(fx.dels) > 0 || len(fx.adds) > 0) {
			return Drift{Rules: d.Rules}, true, nil
		}
	}
	if err := s.applyFixes(ctx, fixes, &d); err != nil {
		// As in sync: a request that failed half-way can leave answers
		// unread; the next write starts on a fresh connection.
		s.redial()
		return d, false, err
	}
	return d, false, nil
}

// listing is one set as a check read it.
type listing struct {
	have []element
	span time.Duration
}

// beginCheck makes sure our table, sets and drop rules are there, turns
// on the tracking of edits and hands out the check's connection and a
// copy of each family's set, under the sink's lock.
func (s *Sink) beginCheck(d *Drift) (*nft.Conn, []nft.Set, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ready() {
		return nil, nil, 0, errNotConnected
	}
	if s.conn == nil {
		if s.redial(); s.conn == nil {
			return nil, nil, 0, errNotConnected
		}
	}
	rules := s.rulesAdded
	err := s.ensure()
	d.Rules += int(s.rulesAdded - rules)
	if err != nil {
		s.redial()
		return nil, nil, 0, err
	}
	rc := s.rconn
	s.rconn = nil
	if rc == nil {
		if rc, err = s.dial(); err != nil {
			return nil, nil, 0, err
		}
	}
	sets := make([]nft.Set, len(s.fams))
	for i, f := range s.fams {
		sets[i] = *f.set
		f.tracking, f.moved = true, nil
	}
	return rc, sets, s.epoch, nil
}

// fix is what a check would write to one family's set.
type fix struct{ dels, adds []element }

// fixesFrom compares what the check listed with the model, leaving alone
// the elements of the groups edited since the listing began.
func (s *Sink) fixesFrom(lists []listing, moved [][]netip.Prefix) []fix {
	fixes := make([]fix, len(s.fams))
	for i, f := range s.fams {
		now := s.now()
		have := apart(lists[i].have, moved[i])
		want := apart(f.elements(now), moved[i])
		fixes[i].dels, fixes[i].adds = diff(have, want, now, readTolerance(lists[i].span))
	}
	return fixes
}

// applyFixes writes the fixes and counts them in d.
func (s *Sink) applyFixes(ctx context.Context, fixes []fix, d *Drift) error {
	for i, f := range s.fams {
		dels, adds := fixes[i].dels, fixes[i].adds
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
