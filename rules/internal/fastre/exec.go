package fastre

import "strings"

// try runs the program depth first from one start position. The first
// complete path found is the one Go's engines prefer: alternatives in
// order, greedy loops longest first, lazy ones shortest first.
func (p *prog) try(m *machine, s string, pos int, capture bool) result {
	insts := p.insts
	stack := m.stack[:0]
	caps := m.caps
	budget := m.budget
	start := pos
	pc := p.start
	for {
		budget--
		if budget < 0 {
			m.stack = stack
			return exhausted
		}
		in := &insts[pc]
		switch in.op {
		case opLit:
			if !strings.HasPrefix(s[pos:], in.lit) {
				goto fail
			}
			pos += len(in.lit)
			pc = in.out
		case opLitFold:
			if !hasPrefixFold(s[pos:], in.lit) {
				goto fail
			}
			pos += len(in.lit)
			pc = in.out
		case opClass:
			if pos >= len(s) || !in.setTab[s[pos]] {
				goto fail
			}
			pos++
			pc = in.out
		case opRep:
			n := scan(in, s, pos)
			if n < int(in.min) {
				goto fail
			}
			budget -= n >> 3
			if in.poss {
				out := &insts[in.out]
				if !viable(out, s, pos+n) {
					goto fail
				}
				pos += n
				pc = in.out
				if out.op == opLit {
					// The literal after the run (the dots of an address,
					// "\d+ from") in the same step: a step less to dispatch.
					if !strings.HasPrefix(s[pos:], out.lit) {
						goto fail
					}
					pos += len(out.lit)
					pc = out.out
				}
				continue
			}
			var k, cost int
			if in.lazy {
				k, cost = lazyFrom(in, &insts[in.out], s, pos, int(in.min))
			} else {
				k, cost = greedyFrom(in, &insts[in.out], s, pos, n)
			}
			budget -= cost
			if k < 0 {
				goto fail
			}
			if in.lazy || k > int(in.min) {
				stack = append(stack, frame{kind: fRep, pc: pc, pos: int32(pos), k: int32(k)})
			}
			pos += k
			pc = in.out
		case opSplit:
			// A branch that starts with a literal, or with a capture
			// that does, is tested on the whole literal here: optional
			// groups like (?: port \d+)? all start with a space, so the
			// first byte rarely tells them apart.
			x, y := &insts[in.out], &insts[in.alt]
			if !viable(x, s, pos) || x.head != "" && !strings.HasPrefix(s[pos:], x.head) {
				pc = in.alt
				continue
			}
			if viable(y, s, pos) && (y.head == "" || strings.HasPrefix(s[pos:], y.head)) {
				stack = append(stack, frame{kind: fChoice, pc: in.alt, pos: int32(pos)})
			}
			if x.op == opLit {
				pos += len(x.lit)
				pc = x.out
				continue
			}
			pc = in.out
		case opSave:
			if capture {
				// With nothing to backtrack to, a failure ends the try and
				// the caller resets every slot: no need to remember this one.
				if len(stack) > 0 {
					stack = append(stack, frame{kind: fRestore, pc: in.arg, pos: int32(caps[in.arg])})
				}
				caps[in.arg] = pos
			}
			pc = in.out
		case opAssert:
			if !assert(in.arg, s, pos) {
				goto fail
			}
			pc = in.out
		case opMatch:
			if capture {
				caps[0], caps[1] = start, pos
			}
			m.stack, m.budget = stack, budget
			return matched
		default: // opFail
			goto fail
		}
		continue

	fail:
		for {
			n := len(stack) - 1
			if n < 0 {
				m.stack, m.budget = stack, budget
				return noMatch
			}
			f := &stack[n]
			switch f.kind {
			case fRestore:
				caps[f.pc] = int(f.pos)
				stack = stack[:n]
				continue
			case fChoice:
				pc, pos = f.pc, int(f.pos)
				stack = stack[:n]
			default: // fRep
				rin := &insts[f.pc]
				base := int(f.pos)
				var k, cost int
				if rin.lazy {
					k, cost = lazyFrom(rin, &insts[rin.out], s, base, int(f.k)+1)
				} else {
					k, cost = greedyFrom(rin, &insts[rin.out], s, base, int(f.k)-1)
				}
				budget -= cost
				if k < 0 {
					stack = stack[:n]
					continue
				}
				f.k = int32(k)
				pc, pos = rin.out, base+k
			}
			break
		}
	}
}

// scan returns how many bytes from pos a rep can take at most.
func scan(in *inst, s string, pos int) int {
	t := s[pos:]
	if in.max >= 0 && int(in.max) < len(t) {
		t = t[:in.max]
	}
	switch in.arg {
	case scanAll:
		return len(t)
	case scanNotNL:
		if i := strings.IndexByte(t, '\n'); i >= 0 {
			return i
		}
		return len(t)
	}
	for i := 0; i < len(t); i++ {
		if !in.setTab[t[i]] {
			return i
		}
	}
	return len(t)
}

// greedyFrom returns the largest count k <= hi (hi within the rep's run)
// after which the continuation next is viable, or -1, and the budget the
// search cost.
func greedyFrom(in, next *inst, s string, base, hi int) (k, cost int) {
	lo := int(in.min)
	if hi < lo {
		return -1, 0
	}
	if in.lit != "" {
		// Candidates are the starts p of lit in [base+lo, base+hi]; look
		// for its key byte, at p+key, from the right.
		lit, key := in.lit, int(in.litKey)
		c := lit[key]
		from, to := base+lo, min(base+hi, len(s)-len(lit))
		for to >= from {
			i := strings.LastIndexByte(s[from+key:to+key+1], c)
			if i < 0 {
				break
			}
			// The continuation past lit must be viable too: a .* before
			// " <HOST>" skips the spaces that a host cannot follow.
			if p := from + i; s[p:p+len(lit)] == lit && viable(in.after, s, p+len(lit)) {
				return p - base, (base + hi - p) >> 3
			}
			to = from + i - 1
		}
		return -1, (hi - lo) >> 3
	}
	for k := hi; k >= lo; k-- {
		if viable(next, s, base+k) {
			return k, (hi - k) >> 3
		}
	}
	return -1, (hi - lo) >> 3
}

// lazyFrom returns the smallest count k >= lo the rep can take and after
// which next is viable, or -1, and the budget the search cost. A count
// above the rep's minimum is checked against the run here.
func lazyFrom(in, next *inst, s string, base, lo int) (k, cost int) {
	k = lo
	if k > int(in.min) && (in.max >= 0 && k > int(in.max) || base+k > len(s) || !in.setTab[s[base+k-1]]) {
		return -1, 0
	}
	for {
		if viable(next, s, base+k) {
			return k, (k - lo) >> 3
		}
		if in.max >= 0 && k >= int(in.max) || base+k >= len(s) || !in.setTab[s[base+k]] {
			return -1, (k - lo) >> 3
		}
		k++
	}
}

func assert(kind int32, s string, pos int) bool {
	switch kind {
	case aBeginText:
		return pos == 0
	case aEndText:
		return pos == len(s)
	case aBeginLine:
		return pos == 0 || s[pos-1] == '\n'
	case aEndLine:
		return pos == len(s) || s[pos] == '\n'
	}
	before := pos > 0 && isWordByte(s[pos-1])
	after := pos < len(s) && isWordByte(s[pos])
	return (before != after) == (kind == aWord)
}

// hasPrefixFold reports whether s starts with lit (lower case) with ASCII
// letters of s folded.
func hasPrefixFold(s, lit string) bool {
	if len(s) < len(lit) {
		return false
	}
	for i := 0; i < len(lit); i++ {
		c := s[i]
		if c-'A' < 26 {
			c += 'a' - 'A'
		}
		if c != lit[i] {
			return false
		}
	}
	return true
}
