package nftables

import (
	"context"
	"net/netip"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// Protect lifts every ban in our sets that holds an address Guard now
// protects (an address allowlisted at a reload, one the host or the fleet
// gained), and puts back, each narrowed as widen narrows, the ledger's
// active bans that those lifted ranges held: a /64 banned before it held
// the host's new address becomes the /128s the ledger banned inside it.
// now is the ledger's clock, as for Reconcile. It returns how many bans
// were lifted.
func (s *Sink) Protect(ctx context.Context, active []pipeline.ActiveBan, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ready() {
		return 0, errNotConnected
	}
	wall := s.now()
	lifted := 0
	for _, f := range s.fams {
		var gone []netip.Prefix
		for _, g := range f.groups {
			for _, b := range g.bans {
				if f.guard.Overlaps(b.p) {
					gone = append(gone, b.p)
				}
			}
		}
		if len(gone) == 0 {
			continue
		}
		c := newChange(wall)
		for _, p := range gone {
			if f.unban(c, p) {
				lifted++
			}
		}
		for _, a := range active {
			p, ok := activePrefix(a)
			if !ok || !a.Until.After(now) || p.Addr().Is6() != f.v6 || f.guard.Overlaps(p) {
				continue
			}
			for _, g := range gone {
				if g.Overlaps(p) {
					f.ban(c, f.widen(p), capExpiry(wall.Add(a.Until.Sub(now)), wall))
					break
				}
			}
		}
		dels, adds := f.diff(c)
		if err := s.apply(ctx, f, plan(dels, adds, s.cfg.ChunkSize)); err != nil {
			s.log.Warn("nftables: the kernel disagrees with the model, reading the sets back", "set", f.set.Name, "err", err)
			s.dirty = true
			s.stats.Resyncs++
			return lifted, s.sync(ctx)
		}
	}
	return lifted, nil
}

// activePrefix is a ledger target as our sets hold it.
func activePrefix(a pipeline.ActiveBan) (netip.Prefix, bool) {
	if !a.Target.IsValid() {
		return netip.Prefix{}, false
	}
	p := a.Target.Masked()
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, false
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), true
}
