package fastre

import (
	"regexp/syntax"
	"unicode/utf8"
)

type opcode uint8

const (
	opFail    opcode = iota
	opMatch          // the whole pattern matched
	opLit            // the bytes of lit
	opLitFold        // lit (lower case), ASCII letters of the text folded
	opClass          // one byte in set
	opRep            // min..max bytes in set (max < 0: no limit)
	opSplit          // try out first, then alt
	opSave           // caps[arg] = pos
	opAssert         // the empty-width test arg
)

// Empty-width tests, Go's syntax.EmptyOp as the fast path sees them.
const (
	aBeginText int32 = iota
	aEndText
	aBeginLine
	aEndLine
	aWord
	aNoWord
)

// inst is one "fat" instruction. The program is built back to front, each
// piece after the code it continues with, so out mostly points down the
// slice and one pass of the viability analysis does most of its work.
type inst struct {
	op   opcode
	lazy bool // rep: fewest bytes first
	// poss marks a rep whose continuation cannot start with a byte of its
	// own set: only the longest run can be followed, so it never backtracks.
	poss     bool
	emid     bool  // some path from here matches without consuming, before the end
	eend     bool  // some path from here matches without consuming, at the end
	arg      int32 // save: slot; assert: which test; rep: scan shortcut
	min, max int32
	out, alt int32
	lit      string // literal, or for a rep the literal that must follow it
	litKey   int32  // rep: the byte of lit the search looks for, the rarest
	// after is, for a rep with lit, the instruction after lit: a
	// candidate end of the rep is one where lit follows and after is
	// viable past it.
	after *inst
	// head is the literal every path from here starts with, through
	// saves (a capture that opens with a literal), or "": a split tests
	// its branches on it before entering one.
	head  string
	set   charset
	first charset // bytes some path from here consumes first
	// Lookup tables the matcher uses, one load per byte: setTab for set,
	// viaTab for "a path from here can go on when the next byte is c"
	// (first, or every byte when emid).
	setTab, viaTab *[256]bool
}

// maxInsts bounds the program of one pattern; counted repeats of big
// groups expand, and past this the standard library is the better engine.
const maxInsts = 1 << 13

type compiler struct {
	insts []inst
	why   string // why the pattern takes no fast path; "" if it does
}

func (c *compiler) emit(in inst) int32 {
	if len(c.insts) >= maxInsts {
		// compile stops descending once why is set, so this stays small.
		c.fail("program too large")
	}
	c.insts = append(c.insts, in)
	return int32(len(c.insts) - 1)
}

func (c *compiler) fail(why string) {
	if c.why == "" {
		c.why = why
	}
}

// compile emits re followed by the code at next and returns its entry.
// The shapes mirror syntax.Simplify and syntax.Compile, so a depth-first
// walk tries the paths in the order Go's engines give priority to.
func (c *compiler) compile(re *syntax.Regexp, next int32) int32 {
	if c.why != "" {
		return next
	}
	switch re.Op {
	case syntax.OpNoMatch:
		return c.emit(inst{op: opFail})
	case syntax.OpEmptyMatch:
		return next
	case syntax.OpLiteral:
		return c.literal(re.Rune, re.Flags&syntax.FoldCase != 0, next)
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		set, _ := singleSet(re)
		return c.emit(inst{op: opClass, set: set, out: next})
	case syntax.OpBeginLine:
		return c.emit(inst{op: opAssert, arg: aBeginLine, out: next})
	case syntax.OpEndLine:
		return c.emit(inst{op: opAssert, arg: aEndLine, out: next})
	case syntax.OpBeginText:
		return c.emit(inst{op: opAssert, arg: aBeginText, out: next})
	case syntax.OpEndText:
		return c.emit(inst{op: opAssert, arg: aEndText, out: next})
	case syntax.OpWordBoundary:
		return c.emit(inst{op: opAssert, arg: aWord, out: next})
	case syntax.OpNoWordBoundary:
		return c.emit(inst{op: opAssert, arg: aNoWord, out: next})
	case syntax.OpCapture:
		closing := c.emit(inst{op: opSave, arg: int32(2*re.Cap + 1), out: next})
		body := c.compile(re.Sub[0], closing)
		return c.emit(inst{op: opSave, arg: int32(2 * re.Cap), out: body})
	case syntax.OpConcat:
		for i := len(re.Sub) - 1; i >= 0; i-- {
			next = c.compile(re.Sub[i], next)
		}
		return next
	case syntax.OpAlternate:
		entries := make([]int32, len(re.Sub))
		for i, sub := range re.Sub {
			entries[i] = c.compile(sub, next)
		}
		cur := entries[len(entries)-1]
		for i := len(entries) - 2; i >= 0; i-- {
			cur = c.emit(inst{op: opSplit, out: entries[i], alt: cur})
		}
		return cur
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		return c.repeat(re.Op, re.Sub[0], re.Flags&syntax.NonGreedy != 0, next)
	case syntax.OpRepeat:
		return c.counted(re, next)
	}
	c.fail("unknown syntax op " + re.Op.String())
	return next
}

// literal emits a run of runes: ASCII runs as one string compare, a folded
// non-ASCII rune as the ASCII members of its orbit, any other non-ASCII
// rune as a failure (ASCII text cannot contain it).
func (c *compiler) literal(runes []rune, fold bool, next int32) int32 {
	for end := len(runes); end > 0; {
		r := runes[end-1]
		if r >= utf8.RuneSelf {
			end--
			if !fold {
				next = c.emit(inst{op: opFail})
				continue
			}
			next = c.emit(inst{op: opClass, set: foldSet(r), out: next})
			continue
		}
		start := end
		for start > 0 && runes[start-1] < utf8.RuneSelf {
			start--
		}
		b := make([]byte, 0, end-start)
		hasLetter := false
		for _, r := range runes[start:end] {
			if fold && r >= 'A' && r <= 'Z' {
				r += 'a' - 'A'
			}
			hasLetter = hasLetter || r >= 'a' && r <= 'z'
			b = append(b, byte(r))
		}
		op := opLit
		if fold && hasLetter {
			op = opLitFold
		}
		next = c.emit(inst{op: op, lit: string(b), out: next})
		end = start
	}
	return next
}

// repeat emits x*, x+ or x?. A single-byte x becomes one rep instruction;
// anything else becomes a loop, which a depth-first walk can only run if
// every iteration consumes: Go gives empty iterations its own meaning
// (golang.org/issue/46123), which the fast path does not copy.
func (c *compiler) repeat(op syntax.Op, sub *syntax.Regexp, lazy bool, next int32) int32 {
	// syntax.Simplify's idempotence: (?:x*)* is x*, and () repeated is ().
	for sub.Op == op && (sub.Flags&syntax.NonGreedy != 0) == lazy {
		sub = sub.Sub[0]
	}
	if sub.Op == syntax.OpEmptyMatch {
		return next
	}
	if set, ok := singleSet(sub); ok {
		in := inst{op: opRep, set: set, lazy: lazy, out: next, max: -1}
		switch op {
		case syntax.OpPlus:
			in.min = 1
		case syntax.OpQuest:
			in.max = 1
		}
		return c.emit(in)
	}
	if op == syntax.OpQuest {
		body := c.compile(sub, next)
		if lazy {
			return c.emit(inst{op: opSplit, out: next, alt: body})
		}
		return c.emit(inst{op: opSplit, out: body, alt: next})
	}
	if nullable(sub) {
		c.fail("loop body can match the empty string")
		return next
	}
	loop := c.emit(inst{op: opSplit})
	body := c.compile(sub, loop)
	if c.why != "" {
		return next
	}
	if lazy {
		c.insts[loop].out, c.insts[loop].alt = next, body
	} else {
		c.insts[loop].out, c.insts[loop].alt = body, next
	}
	if op == syntax.OpStar {
		return loop
	}
	return body
}

// counted emits x{n,m} as syntax.Simplify expands it: x{2,5} is
// xx(?:x(?:x(?:x)?)?)? and x{3,} is xxx+; a single-byte x stays one rep.
func (c *compiler) counted(re *syntax.Regexp, next int32) int32 {
	sub, lazy := re.Sub[0], re.Flags&syntax.NonGreedy != 0
	if re.Min == 0 && re.Max == 0 {
		return next
	}
	if set, ok := singleSet(sub); ok {
		return c.emit(inst{op: opRep, set: set, lazy: lazy, min: int32(re.Min), max: int32(re.Max), out: next})
	}
	if re.Max == -1 {
		switch re.Min {
		case 0:
			return c.repeat(syntax.OpStar, sub, lazy, next)
		case 1:
			return c.repeat(syntax.OpPlus, sub, lazy, next)
		}
		next = c.repeat(syntax.OpPlus, sub, lazy, next)
		for i := 0; i < re.Min-1 && c.why == ""; i++ {
			next = c.compile(sub, next)
		}
		return next
	}
	if re.Min == 1 && re.Max == 1 {
		return c.compile(sub, next)
	}
	if re.Max > re.Min {
		// The innermost optional copy first, each wrapping the next.
		tail := next
		for i := re.Max; i > re.Min && c.why == ""; i-- {
			body := c.compile(sub, tail)
			if lazy {
				tail = c.emit(inst{op: opSplit, out: next, alt: body})
			} else {
				tail = c.emit(inst{op: opSplit, out: body, alt: next})
			}
		}
		next = tail
	}
	for i := 0; i < re.Min && c.why == ""; i++ {
		next = c.compile(sub, next)
	}
	return next
}

// singleSet reports whether re matches exactly one character, and which
// ASCII bytes.
func singleSet(re *syntax.Regexp) (charset, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		if len(re.Rune) != 1 {
			return charset{}, false
		}
		r := re.Rune[0]
		if re.Flags&syntax.FoldCase != 0 {
			return foldSet(r), true
		}
		var cs charset
		if r < utf8.RuneSelf {
			cs.add(byte(r))
		}
		return cs, true
	case syntax.OpCharClass:
		return classSet(re.Rune), true
	case syntax.OpAnyCharNotNL:
		return allButNL, true
	case syntax.OpAnyChar:
		return allASCII, true
	}
	return charset{}, false
}

// nullable reports whether re can match without consuming text (counting
// every empty-width assertion as passing).
func nullable(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune) == 0
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL, syntax.OpNoMatch:
		return false
	case syntax.OpCapture, syntax.OpPlus:
		return nullable(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min == 0 || nullable(re.Sub[0])
	case syntax.OpConcat:
		for _, s := range re.Sub {
			if !nullable(s) {
				return false
			}
		}
		return true
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			if nullable(s) {
				return true
			}
		}
		return false
	}
	// Empty match, star, quest and the assertions.
	return true
}
