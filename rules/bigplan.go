package rules

import (
	"math/bits"
)

// A bigPlan is, for a candidate list longer than a gatePlan holds (more
// than maxPlanned rules: a hub's worth of custom rules for any program),
// its rules gated by literals indexed by one clause of each gate, the
// one with the fewest literals: a rule whose key clause the line's scan
// found nothing of (in texts it read) cannot hit, and is not looked at.
// So a line costs the scan and the rules its literals reach, not a test
// of every rule's gate: 500 rules of syslog for any program made an
// auth.log line about 17 µs, each gate asked in turn.
//
// Every rule it lets through is still asked its whole gate (open), so
// it says only what the gates say; rules without literal gates (status
// or method gates, fail2ban filters, predicates that read the engine)
// are always let through.
type bigPlan struct {
	rules  []*Rule
	masked []uint64 // positions gated by literals, a bit each
	// byText has the positions whose key clause reads each text (such a
	// clause is open when the scan did not read its text), byRegion
	// those with literals in each region (all found in a region the
	// scan could not read for its literals), byLit by bit of Set.found
	// those whose key clause holds that literal.
	byText   [16][]int32
	byRegion [regions][]int32
	byLit    [][]int32
}

// bigPlanOf indexes the gates of rs, nil when none is gated by
// literals.
func (s *Set) bigPlanOf(rs []*Rule) *bigPlan {
	p := &bigPlan{rules: rs, masked: make([]uint64, (len(rs)+63)/64)}
	any := false
	for i, r := range rs {
		g := &s.gates[r.Policy.ID]
		if !g.on || len(g.masks) == 0 {
			continue
		}
		key := &g.masks[0]
		for k := range g.masks {
			if c := &g.masks[k]; litCount(c) < litCount(key) {
				key = c
			}
		}
		any = true
		p.masked[i>>6] |= 1 << (i & 63)
		pos := int32(i)
		for t := range 16 {
			if key.texts&(1<<t) != 0 {
				p.byText[t] = append(p.byText[t], pos)
			}
		}
		for reg := range regions {
			if key.regs&(1<<reg) != 0 {
				p.byRegion[reg] = append(p.byRegion[reg], pos)
			}
		}
		if p.byLit == nil {
			p.byLit = make([][]int32, len(s.found)*64)
		}
		for _, m := range key.masks {
			for b := m.bits; b != 0; b &= b - 1 {
				at := m.idx*64 + bits.TrailingZeros64(b)
				p.byLit[at] = append(p.byLit[at], pos)
			}
		}
	}
	if !any {
		return nil
	}
	return p
}

func litCount(c *gateClause) int {
	n := 0
	for _, m := range c.masks {
		n += bits.OnesCount64(m.bits)
	}
	return n
}

// bigPlanFor returns the bigPlan of the candidate list rs, nil if it has
// none.
func (s *Set) bigPlanFor(rs []*Rule) *bigPlan {
	if len(rs) <= maxPlanned || s.bigPlans == nil {
		return nil
	}
	if p := s.bigPlans[&rs[0]]; p != nil && len(p.rules) == len(rs) {
		return p
	}
	return nil
}

// reach sets in cand the positions of p the line s read may let
// through: those not gated by literals, and those whose key clause
// reads a text the scan did not read, lies in a region it could not
// read for its literals, or holds a literal it found.
func (p *bigPlan) reach(s *Set, cand []uint64) {
	for w := range cand {
		cand[w] = ^p.masked[w]
	}
	set := func(ps []int32) {
		for _, i := range ps {
			cand[i>>6] |= 1 << (i & 63)
		}
	}
	for m := s.scanned ^ 0xffff; m != 0; m &= m - 1 {
		set(p.byText[bits.TrailingZeros16(m)])
	}
	for m := s.hit; m != 0; m &= m - 1 {
		reg := bits.TrailingZeros8(m)
		if s.every&(1<<reg) != 0 {
			set(p.byRegion[reg])
			continue
		}
		for w := s.span[reg][0]; w < s.span[reg][1]; w++ {
			for word := s.found[w]; word != 0; word &= word - 1 {
				set(p.byLit[w*64+bits.TrailingZeros64(word)])
			}
		}
	}
}

// nextBig is next for a list with a bigPlan: the first rule from i that
// the line's literals reach and whose gate lets the event through.
func (s *Set) nextBig(p *bigPlan, i int) int {
	if !s.done {
		s.read(s.cur)
	}
	if !s.bigReached || s.bigFor != s.scanned {
		// A failregex's capture may have made a text unread since
		// (rewrote): its clauses are open from then on.
		if n := len(p.masked); cap(s.bigCand) < n {
			s.bigCand = make([]uint64, n)
		}
		s.bigCand = s.bigCand[:len(p.masked)]
		p.reach(s, s.bigCand)
		s.bigFor, s.bigReached = s.scanned, true
	}
	for w := i >> 6; w < len(s.bigCand); w++ {
		word := s.bigCand[w]
		if w == i>>6 {
			word &= ^uint64(0) << (i & 63)
		}
		for ; word != 0; word &= word - 1 {
			j := w*64 + bits.TrailingZeros64(word)
			if j >= len(p.rules) {
				return len(p.rules)
			}
			if g := &s.gates[p.rules[j].Policy.ID]; !g.on || s.open(g, s.cur) {
				return j
			}
		}
	}
	return len(p.rules)
}
