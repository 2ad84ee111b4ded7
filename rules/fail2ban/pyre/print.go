package pyre

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Python's character categories, written as classes both engines read:
// \d is Unicode Nd, \w is str.isalnum() plus the underscore, \s is
// str.isspace(). Under (?a) they are ASCII.
const (
	digitItems      = `\p{Nd}`
	wordItems       = `\p{L}\p{N}_`
	spaceItems      = `\t-\r\x{1c}-\x{20}\x{85}\p{Z}`
	digitItemsASCII = `0-9`
	wordItemsASCII  = `0-9A-Za-z_`
	spaceItemsASCII = `\t-\r `
	// The same for .NET syntax (regexp2), which has no \x{...}.
	netSpaceItems = `\t-\r\x1c-\x20\x85\p{Z}`
)

// errNotExact says the RE2 translation would not mean what Python means.
type errNotExact struct{ why string }

func (e errNotExact) Error() string { return "not expressible in RE2: " + e.why }

// printer writes a parsed pattern for one engine.
type printer struct {
	b   strings.Builder
	net bool // .NET syntax for regexp2; else RE2 for Go's regexp
	// singleLine: the text holds no newline but possibly a final one, so
	// Python's $ is RE2's (?m:$).
	singleLine bool
	err        error
}

// printRE2 returns the RE2 pattern that means exactly what r means in
// Python, or errNotExact.
func (r *Regexp) printRE2(singleLine bool) (string, error) {
	p := &printer{singleLine: singleLine}
	p.node(r.root)
	if p.err != nil {
		return "", p.err
	}
	return p.b.String(), nil
}

// printNET returns the pattern for regexp2 (default .NET mode, capture
// order maintained), which can express everything the parser accepts.
func (r *Regexp) printNET() string {
	p := &printer{net: true}
	p.node(r.root)
	return p.b.String()
}

func (p *printer) notExact(why string) {
	if p.err == nil {
		p.err = errNotExact{why}
	}
}

// node writes n: the leaves and anchors here, the rest by kind.
func (p *printer) node(n *node) {
	switch n.op {
	case opEmpty:
		p.b.WriteString("(?:)")
	case opLit:
		p.lit(n)
	case opAnyNoNL:
		p.b.WriteString(`[^\n]`)
	case opAnyChar:
		if p.net {
			p.b.WriteString(`[\s\S]`)
		} else {
			p.b.WriteString(`(?s:.)`)
		}
	case opClass:
		p.class(n)
	case opBeginText, opBeginLine, opEndTextNL, opEndLine, opEndText:
		p.anchor(n)
	case opWordB, opNotWordB:
		p.wordBoundary(n)
	case opConcat:
		p.concat(n)
	case opAlt:
		p.b.WriteString("(?:")
		for i, s := range n.subs {
			if i > 0 {
				p.b.WriteByte('|')
			}
			p.node(s)
		}
		p.b.WriteString(")")
	case opRepeat:
		p.repeat(n)
	case opGroup:
		p.group(n)
	case opLook:
		p.look(n)
	case opBackref, opCond:
		p.reference(n)
	}
}

// concat writes a concatenation; for RE2, a loop that avoids a literal
// before $ or before the literal is written without its lookahead (see
// avoidLoop).
func (p *printer) concat(n *node) {
	for i, s := range n.subs {
		if !p.net && p.singleLine && i+1 < len(n.subs) && n.subs[i+1].op == opEndTextNL {
			if lit, ok := avoidLoop(s); ok {
				p.avoid(lit, false)
				continue
			}
		}
		if !p.net && i+1 < len(n.subs) && p.avoidBefore(s, n.subs[i+1]) {
			continue
		}
		p.node(s)
	}
}

func (p *printer) lit(n *node) {
	if n.fold {
		p.b.WriteString("(?i:")
	}
	for _, r := range n.runes {
		p.literal(r)
	}
	if n.fold {
		p.b.WriteString(")")
	}
}

func (p *printer) anchor(n *node) {
	switch n.op {
	case opBeginText:
		p.b.WriteString(`\A`)
	case opBeginLine:
		p.b.WriteString(`(?m:^)`)
	case opEndTextNL:
		switch {
		case p.net:
			// .NET's $ without Multiline is Python's: end, or before a
			// final newline.
			p.b.WriteString(`$`)
		case p.singleLine:
			p.b.WriteString(`(?m:$)`)
		default:
			p.notExact("$ in a multi-line buffer")
		}
	case opEndLine:
		p.b.WriteString(`(?m:$)`)
	case opEndText:
		p.b.WriteString(`\z`)
	}
}

func (p *printer) group(n *node) {
	switch {
	case n.atomic:
		if !p.net {
			p.notExact("atomic group")
		}
		p.b.WriteString("(?>")
	case n.cap > 0:
		// Captures are written unnamed: both engines number them left
		// to right, and the names are kept beside the engine.
		p.b.WriteString("(")
	default:
		p.b.WriteString("(?:")
	}
	p.node(n.subs[0])
	p.b.WriteString(")")
}

func (p *printer) look(n *node) {
	if !p.net {
		p.notExact("lookaround")
	}
	switch {
	case n.behind && n.neg:
		p.b.WriteString("(?<!")
	case n.behind:
		p.b.WriteString("(?<=")
	case n.neg:
		p.b.WriteString("(?!")
	default:
		p.b.WriteString("(?=")
	}
	p.node(n.subs[0])
	p.b.WriteString(")")
}

// reference writes a back reference or a conditional group: regexp2 only.
func (p *printer) reference(n *node) {
	if n.op == opCond {
		if !p.net {
			p.notExact("conditional group")
		}
		fmt.Fprintf(&p.b, "(?(%d)", n.ref)
		p.node(n.subs[0])
		p.b.WriteString("|")
		p.node(n.subs[1])
		p.b.WriteString(")")
		return
	}
	if !p.net {
		p.notExact("back reference")
	}
	if n.fold {
		fmt.Fprintf(&p.b, `(?i:\k<%d>)`, n.ref)
	} else {
		fmt.Fprintf(&p.b, `\k<%d>`, n.ref)
	}
}

func (p *printer) repeat(n *node) {
	if n.possessive && !p.net {
		p.notExact("possessive quantifier")
	}
	if !p.net && (n.min > 1000 || n.max > 1000) {
		p.notExact("repetition count above 1000")
	}
	if !p.net && n.max != 1 && hasCapture(n.subs[0]) {
		if lo, _ := width(n.subs[0]); lo == 0 {
			// Python tries one more, empty, iteration and keeps its
			// captures: (0*)* on "0" leaves group 1 at (1,1), where RE2
			// keeps (0,1).
			p.notExact("repeated group that can match empty")
		}
	}
	p.b.WriteString("(?:")
	p.node(n.subs[0])
	p.b.WriteString(")")
	switch {
	case n.min == 0 && n.max < 0:
		p.b.WriteString("*")
	case n.min == 1 && n.max < 0:
		p.b.WriteString("+")
	case n.min == 0 && n.max == 1:
		p.b.WriteString("?")
	case n.max < 0:
		fmt.Fprintf(&p.b, "{%d,}", n.min)
	case n.min == n.max:
		fmt.Fprintf(&p.b, "{%d}", n.min)
	default:
		fmt.Fprintf(&p.b, "{%d,%d}", n.min, n.max)
	}
	if n.lazy {
		p.b.WriteString("?")
	} else if n.possessive {
		p.b.WriteString("+")
	}
}

// wordBoundary writes \b or \B. RE2's \b is ASCII; Python's is Unicode, so
// only an ASCII-flagged boundary is exact in RE2. For regexp2 the boundary
// is spelled out with Python's word class, since .NET's \w differs.
func (p *printer) wordBoundary(n *node) {
	if !p.net {
		if !n.ascii {
			p.notExact(`Unicode \b`)
			return
		}
		if n.op == opWordB {
			p.b.WriteString(`\b`)
		} else {
			p.b.WriteString(`\B`)
		}
		return
	}
	w := "[" + wordItems + "]"
	if n.ascii {
		w = "[" + wordItemsASCII + "]"
	}
	if n.op == opWordB {
		fmt.Fprintf(&p.b, "(?:(?<=%[1]s)(?!%[1]s)|(?<!%[1]s)(?=%[1]s))", w)
	} else {
		fmt.Fprintf(&p.b, "(?:(?<=%[1]s)(?=%[1]s)|(?<!%[1]s)(?!%[1]s))", w)
	}
}

// literal writes one character outside a class.
func (p *printer) literal(r rune) {
	switch {
	case r < utf8.RuneSelf && (r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_'):
		p.b.WriteRune(r)
	case r < utf8.RuneSelf && r > ' ' && r < 0x7f:
		// Punctuation: an escape is a literal in both syntaxes.
		p.b.WriteByte('\\')
		p.b.WriteRune(r)
	default:
		p.classChar(&p.b, r)
	}
}

// classChar writes a character escaped so that it is literal anywhere.
func (p *printer) classChar(b *strings.Builder, r rune) {
	switch {
	case r < utf8.RuneSelf && (r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_'):
		b.WriteRune(r)
	case !p.net:
		fmt.Fprintf(b, `\x{%x}`, r)
	case r < 0x100:
		fmt.Fprintf(b, `\x%02x`, r)
	case r < 0x10000:
		fmt.Fprintf(b, `\u%04x`, r)
	default:
		// regexp2 reads the pattern as runes: a literal astral character
		// is one character.
		b.WriteRune(r)
	}
}

// catItems returns the class items of a positive category.
func (p *printer) catItems(cat byte, ascii bool) string {
	switch cat {
	case 'd', 'D':
		if ascii {
			return digitItemsASCII
		}
		return digitItems
	case 'w', 'W':
		if ascii {
			return wordItemsASCII
		}
		return wordItems
	default:
		if ascii {
			return spaceItemsASCII
		}
		if p.net {
			return netSpaceItems
		}
		return spaceItems
	}
}

// class writes a set. A positive category and ranges go into one bracket;
// a negated category (\D, \W, \S) inside a class is its own bracket,
// joined by alternation. A negated class holding a negated category is
// written with lookaheads for regexp2 and is not exact in RE2.
func (p *printer) class(n *node) {
	set := n.cls
	var pos strings.Builder
	var negs []string // positive forms of the negated categories
	for _, it := range set.items {
		switch it.cat {
		case 0:
			p.rangeItem(&pos, it.lo, it.hi)
		case 'd', 'w', 's':
			pos.WriteString(p.catItems(it.cat, it.ascii))
		default:
			negs = append(negs, p.catItems(it.cat, it.ascii))
		}
	}
	if n.fold {
		p.b.WriteString("(?i:")
		defer p.b.WriteString(")")
	}
	// The parser never yields an empty class: Python reads []] and [^]]
	// with a literal bracket.
	switch {
	case len(negs) == 0 && set.neg:
		p.b.WriteString("[^" + pos.String() + "]")
	case len(negs) == 0:
		p.b.WriteString("[" + pos.String() + "]")
	case !set.neg:
		// x in (P ∪ ¬N1 ∪ ¬N2 ...)
		p.b.WriteString("(?:")
		for i, ng := range negs {
			if i > 0 {
				p.b.WriteByte('|')
			}
			p.b.WriteString("[^" + ng + "]")
		}
		if pos.Len() > 0 {
			p.b.WriteString("|[" + pos.String() + "]")
		}
		p.b.WriteString(")")
	default:
		// x in ¬P ∩ N1 ∩ N2 ...
		if !p.net {
			p.notExact("negated class with a negated category")
			return
		}
		p.b.WriteString("(?:")
		if pos.Len() > 0 {
			p.b.WriteString("(?![" + pos.String() + "])")
		}
		for _, ng := range negs[1:] {
			p.b.WriteString("(?=[" + ng + "])")
		}
		p.b.WriteString("[" + negs[0] + "])")
	}
}

func (p *printer) rangeItem(b *strings.Builder, lo, hi rune) {
	p.classChar(b, lo)
	if hi != lo {
		b.WriteByte('-')
		p.classChar(b, hi)
	}
}

// hasCapture says whether n holds a capturing group.
func hasCapture(n *node) bool {
	if n.op == opGroup && n.cap > 0 {
		return true
	}
	for _, s := range n.subs {
		if hasCapture(s) {
			return true
		}
	}
	return false
}
