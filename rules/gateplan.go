package rules

import (
	"math/bits"
	"slices"

	"github.com/stockade-ids/stockade/pipeline"
)

// A gatePlan is the gates of one candidate list (a format's rules for
// any program, a program's, a glob's) laid out as bit sets over the
// list's positions, made when the set is built: what next tests rule by
// rule (eighteen web rules on every access line, forty instructions
// each) a line's status and method decide for the whole list at once,
// and only the rules they admit are looked at one by one. A list of
// more than 64 rules, or one built for a single line (several globs'),
// has none and is walked as before.
type gatePlan struct {
	rules []*Rule
	gates []*gate // by position
	// byClass has, by status class (see statusClasses), the positions
	// whose gate admits the statuses of that class: every rule without
	// a status gate or with no gate at all.
	byClass []uint64
	method  uint64 // positions gated by the request method
	masked  uint64 // positions gated by literals
	// byRegion and byText have the positions gated by literals in each
	// region and text (gate.regs, gate.texts), texts the texts of all:
	// once the line is read, the rules whose regions the scan found
	// nothing in, and whose texts it read, are shut together (see
	// reach), as next shuts them one by one; on most lines of an access
	// log that is all of them.
	byRegion [regions]uint64
	byText   [16]uint64
	texts    uint16
	// byLit has, by bit of Set.found (a literal of a region), the
	// positions with a clause that holds it: an attack line's scan
	// finds a literal or two in the path (admin, .php), which reach
	// every rule with path literals by region, where by literal they
	// reach the one or two that look for those, and the rest are shut
	// without a look at their clauses.
	byLit []uint64
}

// statusClasses numbers the statuses (0 to 1023, and 1024 for any other)
// by which of the set's status gates admit them: a gate admits all of a
// class or none. rep is a status of each class.
func statusClasses(gates []gate) (class *[1025]uint16, rep []int) {
	var sets []*[16]uint64
	for i := range gates {
		if st := gates[i].status; st != nil && !slices.ContainsFunc(sets, func(s *[16]uint64) bool { return *s == *st }) {
			sets = append(sets, st)
		}
	}
	class = new([1025]uint16)
	ids := map[string]uint16{}
	sig := make([]byte, len(sets))
	for st := range class {
		for k, s := range sets {
			sig[k] = 0
			if st < 1024 && s[st>>6]&(1<<(st&63)) != 0 {
				sig[k] = 1
			}
		}
		id, ok := ids[string(sig)]
		if !ok {
			id = uint16(len(rep))
			ids[string(sig)] = id
			rep = append(rep, st)
		}
		class[st] = id
	}
	return class, rep
}

// maxPlanned is the most rules a gate plan lays out, a bit each.
const maxPlanned = 64

// planOf lays out the gates of rs; nil for more than maxPlanned rules.
func (s *Set) planOf(rs []*Rule, rep []int) *gatePlan {
	if len(rs) == 0 || len(rs) > maxPlanned {
		return nil
	}
	p := &gatePlan{rules: rs, gates: make([]*gate, len(rs)), byClass: make([]uint64, len(rep))}
	for i, r := range rs {
		g := &s.gates[r.Policy.ID]
		p.gates[i] = g
		bit := uint64(1) << i
		for c, st := range rep {
			if !g.on || g.status == nil || st < 1024 && g.status[st>>6]&(1<<(st&63)) != 0 {
				p.byClass[c] |= bit
			}
		}
		if g.on && g.methods != nil {
			p.method |= bit
		}
		if g.on && len(g.masks) > 0 {
			p.masked |= bit
			p.texts |= g.texts
			p.addLits(g.masks, bit, len(s.found))
			for reg := range regions {
				if g.regs&(1<<reg) != 0 {
					p.byRegion[reg] |= bit
				}
			}
			for t := range 16 {
				if g.texts&(1<<t) != 0 {
					p.byText[t] |= bit
				}
			}
		}
	}
	return p
}

// addLits notes the literals of the clauses of the rule at bit in
// byLit, made for found words of found bits.
func (p *gatePlan) addLits(clauses []gateClause, bit uint64, found int) {
	if p.byLit == nil {
		p.byLit = make([]uint64, found*64)
	}
	for _, c := range clauses {
		for _, m := range c.masks {
			for b := m.bits; b != 0; b &= b - 1 {
				p.byLit[m.idx*64+bits.TrailingZeros64(b)] |= bit
			}
		}
	}
}

// plan makes the plans of every candidate list that outlives a line.
func (s *Set) plan() {
	class, rep := statusClasses(s.gates)
	s.statusClass = class
	s.plans = map[**Rule]*gatePlan{}
	add := func(rs []*Rule) {
		if p := s.planOf(rs, rep); p != nil {
			s.plans[&rs[0]] = p
		} else if len(rs) > maxPlanned {
			if bp := s.bigPlanOf(rs); bp != nil {
				if s.bigPlans == nil {
					s.bigPlans = map[**Rule]*bigPlan{}
				}
				s.bigPlans[&rs[0]] = bp
			}
		}
	}
	s.eachList(add)
}

// eachList calls fn with every candidate list that outlives a line: each
// format's for any program, each program's, each glob's.
func (s *Set) eachList(fn func([]*Rule)) {
	for f := range s.byFormat {
		d := &s.byFormat[f]
		fn(d.any)
		for _, rs := range d.byProgram {
			fn(rs)
		}
		for _, gs := range d.globs {
			for i := range gs {
				fn(gs[i].rules)
			}
		}
	}
}

// planFor returns the plan of the candidate list rs, nil if it has none
// (see gatePlan). A log's lines come in runs of one list: the last plan
// is tried before the map.
func (s *Set) planFor(rs []*Rule) *gatePlan {
	if len(rs) == 0 {
		return nil
	}
	if p := s.lastPlan; p != nil && &p.rules[0] == &rs[0] && len(p.rules) == len(rs) {
		return p
	}
	p := s.plans[&rs[0]]
	if p == nil || len(p.rules) != len(rs) {
		return nil
	}
	s.lastPlan = p
	return p
}

// admit notes which rules of plan p the status and method of ev admit
// (neither changes while the rules judge ev: a failregex rewrites only
// the user).
func (s *Set) admit(p *gatePlan, ev *pipeline.Event) {
	st := ev.Status
	if st < 0 || st >= 1024 {
		st = 1024
	}
	cand := p.byClass[s.statusClass[st]]
	for m := cand & p.method; m != 0; m &= m - 1 {
		i := bits.TrailingZeros64(m)
		if !slices.Contains(p.gates[i].methods, ev.Method) {
			cand &^= 1 << i
		}
	}
	s.cand = cand
}

// nextPlanned is next for a list with a plan: the first admitted rule
// from i whose literals, if it is gated by any, the line holds.
func (s *Set) nextPlanned(p *gatePlan, i int) int {
	for i < len(p.rules) {
		c := s.cand >> uint(i) << uint(i)
		if s.done {
			// A failregex's capture may have made a text unread since
			// (rewrote): its clauses are open from then on.
			if !s.reached || s.reachFor != s.scanned {
				s.reach, s.reachFor, s.reached = p.reach(s), s.scanned, true
			}
			c &= ^p.masked | s.reach
		}
		if c == 0 {
			break
		}
		i = bits.TrailingZeros64(c)
		if p.masked&(1<<i) == 0 {
			return i
		}
		if !s.done {
			s.read(s.cur)
			continue // rule i again, now that reach can be had
		}
		if s.passes(p.gates[i].masks) {
			return i
		}
		i++
	}
	return len(p.rules)
}

// reach is the positions of p gated by literals that the line s read
// may let through: those reading a text the scan did not read (a
// literal it did not look for in a text tells nothing), and those with
// a clause in a region where it found a literal; of the latter, when
// two or more of the line's candidates are, only those with a clause
// holding a literal it found (where a region was not read for its
// literals, a text that is not ASCII, all its literals are found).
func (p *gatePlan) reach(s *Set) uint64 {
	var r, regional uint64
	for m := p.texts &^ s.scanned; m != 0; m &= m - 1 {
		r |= p.byText[bits.TrailingZeros16(m)]
	}
	for m := s.hit; m != 0; m &= m - 1 {
		regional |= p.byRegion[bits.TrailingZeros8(m)]
	}
	if p.byLit == nil || bits.OnesCount64(regional&s.cand) < 2 {
		return r | regional // few enough to look at each one's clauses
	}
	for m := s.hit; m != 0; m &= m - 1 {
		reg := bits.TrailingZeros8(m)
		if s.every&(1<<reg) != 0 {
			r |= p.byRegion[reg]
			continue
		}
		for w := s.span[reg][0]; w < s.span[reg][1]; w++ {
			for word := s.found[w]; word != 0; word &= word - 1 {
				r |= p.byLit[w*64+bits.TrailingZeros64(word)]
			}
		}
	}
	return r
}
