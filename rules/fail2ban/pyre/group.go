package pyre

import (
	"strconv"
	"unicode"
)

// Python's parenthesised constructs: capturing and named groups, back
// references by name, lookarounds, conditionals, comments and flags; and
// the width of a pattern, which Python's lookbehinds need fixed.

// group reads everything that starts with a parenthesis.
func (p *parser) group() (*node, error) {
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
			return &node{op: opBackref, ref: idx, fold: p.flags&flagI != 0}, nil
		}
		return nil, p.errorf("unknown extension ?P%c", p.peek())
	case ':':
		return p.sub(&node{op: opGroup}, start)
	case '>':
		return p.sub(&node{op: opGroup, atomic: true}, start)
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
		return p.sub(&node{op: opLook, neg: c == '!'}, start)
	case '<':
		if p.more() && (p.peek() == '=' || p.peek() == '!') {
			neg := p.peek() == '!'
			p.pos++
			n, err := p.sub(&node{op: opLook, behind: true, neg: neg}, start)
			if err != nil {
				return nil, err
			}
			if lo, hi := width(n.subs[0]); lo != hi {
				return nil, &syntaxError{msg: "look-behind requires fixed-width pattern", pos: start}
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

func (p *parser) groupName(end rune) (string, error) {
	i := p.pos
	for p.more() && p.peek() != end {
		p.pos++
	}
	if !p.more() {
		return "", p.errorf("missing %c, unterminated name", end)
	}
	name := string(p.src[i:p.pos])
	p.pos++
	if !isIdentifier(name) {
		return "", p.errorf("bad character in group name %q", name)
	}
	return name, nil
}

func isIdentifier(s string) bool {
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

func (p *parser) capture(name string, start int) (*node, error) {
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
	n, err := p.sub(&node{op: opGroup, cap: idx, name: name}, start)
	delete(p.open, idx)
	return n, err
}

// sub reads the body of a group up to its closing parenthesis.
func (p *parser) sub(n *node, start int) (*node, error) {
	body, err := p.body(start)
	if err != nil {
		return nil, err
	}
	n.subs = []*node{body}
	return n, nil
}

// body reads a group's alternation and its closing parenthesis; start is
// where the group opened, for the error.
func (p *parser) body(start int) (*node, error) {
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

func (p *parser) conditional(start int) (*node, error) {
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
	yes, no := body, &node{op: opEmpty}
	if body.op == opAlt {
		if len(body.subs) > 2 {
			return nil, p.errorf("conditional backref with more than two branches")
		}
		yes, no = body.subs[0], body.subs[1]
	}
	return &node{op: opCond, ref: idx, subs: []*node{yes, no}}, nil
}

func (p *parser) flagGroup(start int) (*node, error) {
	on, off := 0, 0
	for p.more() && flagLetters[p.peek()] != 0 {
		on |= flagLetters[p.peek()]
		p.pos++
	}
	if p.more() && p.peek() == ')' {
		// Global flags not at the start: an error since Python 3.11.
		p.pos = start
		return nil, p.errorf("global flags not at the start of the expression")
	}
	if p.more() && p.peek() == '-' {
		p.pos++
		for p.more() && flagLetters[p.peek()] != 0 {
			off |= flagLetters[p.peek()]
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
	if (on|off)&(flagL) != 0 {
		return nil, p.errorf("bad inline flags: cannot use 'L' flag with a str pattern")
	}
	if off&(flagA|flagU) != 0 {
		return nil, p.errorf("bad inline flags: cannot turn off flags 'a', 'u' and 'L'")
	}
	p.pos++ // :
	saved := p.flags
	p.flags = (p.flags | on) &^ off
	if on&flagA != 0 {
		p.flags &^= flagU
	}
	if on&flagU != 0 {
		p.flags &^= flagA
	}
	n, err := p.sub(&node{op: opGroup}, start)
	p.flags = saved
	return n, err
}

// width returns the least and the most characters n can match (most < 0:
// unbounded), for the fixed-width rule of lookbehinds.
func width(n *node) (lo, hi int) {
	switch n.op {
	case opLit:
		return len(n.runes), len(n.runes)
	case opAnyNoNL, opAnyChar, opClass:
		return 1, 1
	case opConcat:
		for _, s := range n.subs {
			a, b := width(s)
			lo += a
			if hi >= 0 && b >= 0 {
				hi += b
			} else {
				hi = -1
			}
		}
		return lo, hi
	case opAlt, opCond:
		for i, s := range n.subs {
			a, b := width(s)
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
	case opRepeat:
		a, b := width(n.subs[0])
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
	case opGroup:
		return width(n.subs[0])
	case opBackref:
		return 0, -1
	}
	return 0, 0
}
