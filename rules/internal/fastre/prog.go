package fastre

import (
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// prog is a compiled pattern with what the search learns before it starts.
type prog struct {
	insts    []inst
	start    int32
	anchored bool // every match starts at 0: one try, not one per position
	// lead is the set of an unbounded rep every match starts with (.* in
	// ".* from x", \S+ in "\S+ from x"), or nil. When a try at p fails and
	// s[p] is in it, a try at p+1 fails too: each of its paths is one from p
	// with a byte more in the rep. The search skips the whole run instead
	// of going quadratic.
	lead   *[256]bool
	prefix string // every match starts with this: the search skips to it
}

// Scan shortcuts for the two sets a rep most often has (.* and (?s).*).
const (
	scanSet   int32 = iota
	scanNotNL       // every ASCII byte but '\n'
	scanAll         // every ASCII byte
)

// compileProg returns the fast program for a parsed pattern, or nil and why
// the pattern takes no fast path.
func compileProg(re *syntax.Regexp) (*prog, string) {
	c := &compiler{}
	match := c.emit(inst{op: opMatch})
	start := c.compile(re, match)
	if c.why != "" {
		return nil, c.why
	}
	p := &prog{insts: c.insts, start: start}
	p.viability()
	p.tuneReps()
	p.tables()
	p.entry()
	return p, ""
}

// viability computes, for every instruction, the bytes a path from it can
// consume first and whether a path can match without consuming. It is a
// necessary condition for success, so the matcher prunes with it: a branch
// whose first byte cannot be the next one of the text is never entered.
// Assertions count as passing except $ and (?m)$, which say a lot.
func (p *prog) viability() {
	for changed := true; changed; {
		changed = false
		for i := range p.insts {
			in := &p.insts[i]
			first, emid, eend := in.first, in.emid, in.eend
			var out *inst
			if in.op != opMatch && in.op != opFail {
				out = &p.insts[in.out]
			}
			switch in.op {
			case opMatch:
				emid, eend = true, true
			case opLit:
				first.add(in.lit[0])
			case opLitFold:
				first.add(in.lit[0])
				if c := in.lit[0]; c >= 'a' && c <= 'z' {
					first.add(c - 'a' + 'A')
				}
			case opClass:
				first.union(&in.set)
			case opRep:
				first.union(&in.set)
				if in.min == 0 {
					first.union(&out.first)
					emid = emid || out.emid
					eend = eend || out.eend
				}
			case opSplit:
				alt := &p.insts[in.alt]
				first.union(&out.first)
				first.union(&alt.first)
				emid = emid || out.emid || alt.emid
				eend = eend || out.eend || alt.eend
			case opAssert:
				switch in.arg {
				case aEndText:
					eend = eend || out.eend
				case aEndLine:
					eend = eend || out.eend
					if out.emid || out.first.has('\n') {
						first.add('\n')
					}
				default:
					first.union(&out.first)
					emid = emid || out.emid
					eend = eend || out.eend
				}
			case opSave:
				first.union(&out.first)
				emid = emid || out.emid
				eend = eend || out.eend
			}
			if first != in.first || emid != in.emid || eend != in.eend {
				in.first, in.emid, in.eend = first, emid, eend
				changed = true
			}
		}
	}
}

// tuneReps marks reps that can never give back a byte (their continuation
// cannot start inside their own set), picks a scan shortcut, and notes the
// literal that must follow, so a backtracking .* jumps between occurrences
// of " from " instead of stepping byte by byte.
func (p *prog) tuneReps() {
	for i := range p.insts {
		in := &p.insts[i]
		if in.op != opRep {
			continue
		}
		switch in.set {
		case allASCII:
			in.arg = scanAll
		case allButNL:
			in.arg = scanNotNL
		}
		out := &p.insts[in.out]
		if !out.emid && !out.first.intersects(&in.set) {
			in.poss = true
			continue
		}
		next := out
		for next.op == opSave {
			next = &p.insts[next.out]
		}
		if next.op == opLit {
			in.lit = next.lit
			in.litKey = rarest(next.lit)
			in.after = &p.insts[next.out]
		}
	}
	for i := range p.insts {
		in := &p.insts[i]
		for in.op == opSave {
			in = &p.insts[in.out]
		}
		if in.op == opLit {
			p.insts[i].head = in.lit
		}
	}
}

// rarest picks the byte of a literal least likely to occur in log text,
// so the backward search stops at few false candidates: a space or a
// digit is everywhere, a capital or a punctuation mark is not.
func rarest(lit string) int32 {
	rank := func(c byte) int {
		switch {
		case c == ' ':
			return 0
		case c >= '0' && c <= '9':
			return 1
		case strings.IndexByte("etaoinsrhl", c) >= 0:
			return 2
		case c >= 'a' && c <= 'z':
			return 3
		}
		return 4
	}
	best := 0
	for i := 1; i < len(lit); i++ {
		if rank(lit[i]) > rank(lit[best]) {
			best = i
		}
	}
	return int32(best)
}

// tables builds the byte lookup tables, one per distinct set.
func (p *prog) tables() {
	tabs := map[charset]*[256]bool{}
	tab := func(cs charset) *[256]bool {
		if t := tabs[cs]; t != nil {
			return t
		}
		t := new([256]bool)
		for c := 0; c < 0x80; c++ {
			t[c] = cs.has(byte(c))
		}
		tabs[cs] = t
		return t
	}
	for i := range p.insts {
		in := &p.insts[i]
		in.setTab = tab(in.set)
		via := in.first
		if in.emid {
			via = allASCII
		}
		in.viaTab = tab(via)
	}
}

// entry finds what every match starts with: \A makes the search a single
// try, a literal lets it skip ahead with strings.Index.
func (p *prog) entry() {
	in := &p.insts[p.start]
	for in.op == opSave {
		in = &p.insts[in.out]
	}
	switch {
	case in.op == opAssert && in.arg == aBeginText:
		p.anchored = true
	case in.op == opLit:
		p.prefix = in.lit
	case in.op == opRep && in.max < 0:
		p.lead = in.setTab
	}
}

// requiredLiteral returns the longest case-sensitive ASCII literal that
// every match contains, or "". An ASCII rune of the pattern only ever
// matches that byte, even in text that is not valid UTF-8, so a text
// without it cannot match at all, on either engine.
func requiredLiteral(re *syntax.Regexp) string {
	best := ""
	var walk func(r *syntax.Regexp)
	walk = func(r *syntax.Regexp) {
		switch r.Op {
		case syntax.OpLiteral:
			if r.Flags&syntax.FoldCase != 0 {
				return
			}
			// The longest ASCII run of the literal.
			s := string(r.Rune)
			for _, part := range strings.FieldsFunc(s, func(c rune) bool { return c >= utf8.RuneSelf }) {
				if len(part) > len(best) {
					best = part
				}
			}
		case syntax.OpCapture, syntax.OpPlus:
			walk(r.Sub[0])
		case syntax.OpRepeat:
			if r.Min >= 1 {
				walk(r.Sub[0])
			}
		case syntax.OpConcat:
			for _, s := range r.Sub {
				walk(s)
			}
		}
	}
	walk(re)
	return best
}
