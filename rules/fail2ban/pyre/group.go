package rules

import (
	"strconv"
	"unicode"
)

// Python's parenthesised constructs: capturing and named groups, back
// references by name, lookarounds, conditionals, comments and flags; and
// the width of a pattern, which Python's lookbehinds need fixed.

// group reads everything that starts with a parenthesis.
func (p *pyParser) group() (*pyNode, error) {
	start := p.pos
	p.pos++ // (
	if !p.more() {
		return nil, p.errorf("missing ), unterminated subpattern")
	}
	if p.peek() != '?' {
		return p.capture("", start)
	}
	p.pos++
	if !p.more() {
		return nil, p.errorf("unexpected end of pattern")
	}
	c := p.peek()
	p.pos++
	switch c {
	case 'P':
		if !p.more() {
			return nil, p.errorf("unexpected end of pattern")
		}
		switch p.peek() {
		case '<':
			p.pos++
			name, err := p.groupName('>')
			if err != nil {
				return nil, err
			}
			return p.capture(name, start)
		case '=':
			p.pos++
			name, err := p.groupName(')')
			if err != nil {
				return nil, err
			}
			idx, ok := p.byName[name]
			if !ok {
				return nil, p.errorf("unknown group name %q", name)
			}
			if p.open[idx] {
				return nil, p.errorf("cannot refer to an open group")
			}
			return &pyNode{op: pyBackref, ref: idx, fold: p.flags&pyFlagI != 0}, nil
		}
		return nil, p.errorf("unknown extension ?P%c", p.peek())
	case ':':
		return p.sub(&pyNode{op: pyGroup}, start)
	case '>':
		return p.sub(&pyNode{op: pyGroup, atomic: true}, start)
	case '#':
		for p.more() && p.peek() != ')' {
			p.pos++
		}
		if !p.more() {
			return nil, p.errorf("missing ), unterminated comment")
		}
		p.pos++
		return nil, nil
	case '=', '!':
		return p.sub(&pyNode{op: pyLook, neg: c == '!'}, start)
	case '<':
		if p.more() && (p.peek() == '=' || p.peek() == '!') {
			neg := p.peek() == '!'
			p.pos++
			n, err := p.sub(&pyNode{op: pyLook, behind: true, neg: neg}, start)
			if err != nil {
				return nil, err
			}
			if lo, hi := pyWidth(n.subs[0]); lo != hi {
				return nil, &pyError{msg: "look-behind requires fixed-width pattern", pos: start}
			}
			return n, nil
		}
		// (?<name>...): not Python's, but common and unambiguous.
		name, err := p.groupName('>')
		if err != nil {
			return nil, err
		}
		return p.capture(name, start)
	case '(':
		return p.conditional(start)
	}
	// Flags: (?aiLmsux-imsx:...) scoped, or (?aiLmsux) global not at the start.
	p.pos-- // back to the first flag letter
	return p.flagGroup(start)
}

func (p *pyParser) groupName(end rune) (string, error) {
	i := p.pos
	for p.more() && p.peek() != end {
		p.pos++
	}
	if !p.more() {
		return "", p.errorf("missing %c, unterminated name", end)
	}
	name := string(p.src[i:p.pos])
	p.pos++
	if !isPyIdentifier(name) {
		return "", p.errorf("bad character in group name %q", name)
	}
	return name, nil
}

func isPyIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if c == '_' || unicode.IsLetter(c) || (i > 0 && (unicode.IsDigit(c) || unicode.Is(unicode.Mn, c) || unicode.Is(unicode.Mc, c))) {
			continue
		}
		return false
	}
	return true
}

func (p *pyParser) capture(name string, start int) (*pyNode, error) {
	if name != "" {
		if _, dup := p.byName[name]; dup {
			return nil, p.errorf("redefinition of group name %q", name)
		}
	}
	p.groups++
	idx := p.groups
	p.names = append(p.names, name)
	if name != "" {
		p.byName[name] = idx
	}
	p.open[idx] = true
	n, err := p.sub(&pyNode{op: pyGroup, cap: idx, name: name}, start)
	delete(p.open, idx)
	return n, err
}

// sub reads the body of a group up to its closing parenthesis.
func (p *pyParser) sub(n *pyNode, start int) (*pyNode, error) {
	body, err := p.body(start)
	if err != nil {
		return nil, err
	}
	n.subs = []*pyNode{body}
	return n, nil
}

// body reads a group's alternation and its closing parenthesis; start is
// where the group opened, for the error.
func (p *pyParser) body(start int) (*pyNode, error) {
	body, err := p.alternation()
	if err != nil {
		return nil, err
	}
	if !p.more() || p.peek() != ')' {
		p.pos = start
		return nil, p.errorf("missing ), unterminated subpattern")
	}
	p.pos++
	return body, nil
}

func (p *pyParser) conditional(start int) (*pyNode, error) {
	i := p.pos
	for p.more() && p.peek() != ')' {
		p.pos++
	}
	if !p.more() {
		return nil, p.errorf("missing ), unterminated name")
	}
	ref := string(p.src[i:p.pos])
	p.pos++
	idx, ok := p.byName[ref]
	if !ok {
		n, err := strconv.Atoi(ref)
		if err != nil || n < 1 {
			return nil, p.errorf("bad character in group name %q", ref)
		}
		if n > p.groups {
			return nil, p.errorf("invalid group reference %d", n)
		}
		idx = n
	}
	body, err := p.body(start)
	if err != nil {
		return nil, err
	}
	yes, no := body, &pyNode{op: pyEmpty}
	if body.op == pyAlt {
		if len(body.subs) > 2 {
			return nil, p.errorf("conditional backref with more than two branches")
		}
		yes, no = body.subs[0], body.subs[1]
	}
	return &pyNode{op: pyCond, ref: idx, subs: []*pyNode{yes, no}}, nil
}

func (p *pyParser) flagGroup(start int) (*pyNode, error) {
	on, off := 0, 0
	for p.more() && pyFlagLetters[p.peek()] != 0 {
		on |= pyFlagLetters[p.peek()]
		p.pos++
	}
	if p.more() && p.peek() == ')' {
		// Global flags not at the start: an error since Python 3.11.
		p.pos = start
		return nil, p.errorf("global flags not at the start of the expression")
	}
	if p.more() && p.peek() == '-' {
		p.pos++
		for p.more() && pyFlagLetters[p.peek()] != 0 {
			off |= pyFlagLetters[p.peek()]
			p.pos++
		}
		if off == 0 {
			return nil, p.errorf("missing flag")
		}
	}
	if !p.more() || p.peek() != ':' {
		if p.more() {
			return nil, p.errorf("unknown extension ?%c", p.peek())
		}
		return nil, p.errorf("missing -, : or )")
	}
	if on == 0 && off == 0 {
		return nil, p.errorf("missing flag")
	}
	if (on|off)&(pyFlagL) != 0 {
		return nil, p.errorf("bad inline flags: cannot use 'L' flag with a str pattern")
	}
	if off&(pyFlagA|pyFlagU) != 0 {
		return nil, p.errorf("bad inline flags: cannot turn off flags 'a', 'u' and 'L'")
	}
	p.pos++ // :
	saved := p.flags
	p.flags = (p.flags | on) &^ off
	if on&pyFlagA != 0 {
		p.flags &^= pyFlagU
	}
	if on&pyFlagU != 0 {
		p.flags &^= pyFlagA
	}
	n, err := p.sub(&pyNode{op: pyGroup}, start)
	p.flags = saved
	return n, err
}

// pyWidth returns the least and the most characters n can match (most < 0:
// unbounded), for the fixed-width rule of lookbehinds.
func pyWidth(n *pyNode) (lo, hi int) {
	switch n.op {
	case pyLit:
		return len(n.runes), len(n.runes)
	case pyAnyNoNL, pyAnyChar, pyClass:
		return 1, 1
	case pyConcat:
		for _, s := range n.subs {
			a, b := pyWidth(s)
			lo += a
			if hi >= 0 && b >= 0 {
				hi += b
			} else {
				hi = -1
			}
		}
		return lo, hi
	case pyAlt, pyCond:
		for i, s := range n.subs {
			a, b := pyWidth(s)
			if i == 0 || a < lo {
				lo = a
			}
			if i == 0 {
				hi = b
			} else if hi >= 0 && (b < 0 || b > hi) {
				hi = b
			}
		}
		return lo, hi
	case pyRepeat:
		a, b := pyWidth(n.subs[0])
		lo = a * n.min
		switch {
		case n.max < 0 && b != 0:
			hi = -1
		case b < 0:
			hi = -1
		case n.max < 0:
			hi = 0
		default:
			hi = b * n.max
		}
		return lo, hi
	case pyGroup:
		return pyWidth(n.subs[0])
	case pyBackref:
		return 0, -1
	}
	return 0, 0
}
