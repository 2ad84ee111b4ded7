package fastre

import "strings"

// result of one search.
type result uint8

const (
	noMatch result = iota
	matched
	exhausted // the step budget ran out: the caller asks the standard library
)

// Budget: a legitimate filter regex needs a few steps per byte at most; a
// pattern that needs more is backtracking exponentially, and the standard
// library (linear time) finishes the call. Scanning a rep costs a step per
// 8 bytes, so the work before giving up is linear in the text too.
const (
	budgetBase    = 512
	budgetPerByte = 8
)

// frame kinds on the backtrack stack.
const (
	fChoice  int32 = iota // resume at pc, pos
	fRestore              // caps[pc] = pos
	fRep                  // rep at pc started at pos has given k bytes; try another count
)

type frame struct {
	kind, pc, pos, k int32
}

// machine is the per-call state, pooled per Regexp so that a call
// allocates nothing once the stack has grown to what the pattern needs.
type machine struct {
	stack  []frame
	caps   []int
	budget int
	// calls and exhausts since the last decay, for demotion.
	calls, exhausts int
}

// search finds the leftmost-first match: the first start position with a
// match, and there the first match in priority order.
func (p *prog) search(m *machine, s string, capture bool) result {
	m.budget = budgetBase + budgetPerByte*len(s)
	if p.anchored {
		if capture {
			m.resetCaps()
		}
		return p.try(m, s, 0, capture)
	}
	first := &p.insts[p.start]
	for pos := 0; pos <= len(s); pos++ {
		if p.prefix != "" {
			i := strings.Index(s[pos:], p.prefix)
			if i < 0 {
				return noMatch
			}
			pos += i
		} else {
			for pos < len(s) && !viable(first, s, pos) {
				pos++
			}
			if pos == len(s) && !first.eend {
				return noMatch
			}
		}
		if capture {
			m.resetCaps()
		}
		if r := p.try(m, s, pos, capture); r != noMatch {
			return r
		}
		if p.lead != nil {
			for pos < len(s) && p.lead[s[pos]] {
				pos++
			}
		}
	}
	return noMatch
}

func (m *machine) resetCaps() {
	for i := range m.caps {
		m.caps[i] = -1
	}
}

// viable reports whether a path from in can possibly match at pos.
func viable(in *inst, s string, pos int) bool {
	if pos < len(s) {
		return in.viaTab[s[pos]]
	}
	return in.eend
}
