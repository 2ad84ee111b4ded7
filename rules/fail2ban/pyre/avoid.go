package pyre

import (
	"fmt"
	"strings"
)

// A lookahead RE2 can do without: fail2ban's sshd filter ends its
// "Failed ... for" failregexes with (?:(?! from ).)*$, "the rest of the
// line holds no ' from '". Followed by $ on a one-line text, such a loop
// can end only at the line's end (. takes no newline, and $ is the end or
// the final newline), and it gets there exactly when no position it
// passes starts the literal; an occurrence starting there cannot reach
// past the end, since the literal holds no newline. So the loop means
// "a string of non-newlines without the literal, up to $", a regular
// language, and has one way to match, so the engine's preferences do
// not matter. For a literal cWc (c a character, W a word without c or a
// newline), split the string at each c: the literal occurs exactly when
// a field with a c on both sides is W. The string is then
//
//	F (c NF)* (c F)?
//
// F any field, NF any field but W: the fields between two c's are not W,
// the first and the last are free. NF is a field of another length, or
// of W's length that differs from W at its first differing character.

// The same loop followed by the literal itself, as in sshd's
// "for (?P<user>(?:(?! from ).)*?) from ", stops at the literal's first
// occurrence, greedy or lazy: an end where the literal follows is one
// where a position starts it, so none before may. The part before is a
// string without the literal that does not end with cW either (cW then
// cWc would hold an occurrence that starts before the end: cWc overlaps
// itself only by c). In fields: F (c NF)*, every field after a c not W.
// The end being unique, the engines' preferences do not matter there
// either.

// avoidLoop returns the literal of n when n is (?:(?!L).)* or its lazy
// twin, L a literal cWc as above, no flag changing what its characters
// or the dot match.
func avoidLoop(n *node) ([]rune, bool) {
	n = unwrap(n)
	if n.op != opRepeat || n.min != 0 || n.max >= 0 || n.possessive {
		return nil, false
	}
	body := unwrap(n.subs[0])
	if body.op != opConcat || len(body.subs) != 2 {
		return nil, false
	}
	look, dot := unwrap(body.subs[0]), unwrap(body.subs[1])
	if look.op != opLook || !look.neg || look.behind || dot.op != opAnyNoNL {
		return nil, false
	}
	lit := unwrap(look.subs[0])
	if lit.op != opLit || lit.fold || len(lit.runes) < 3 {
		return nil, false
	}
	c, w := lit.runes[0], lit.runes[1:len(lit.runes)-1]
	if lit.runes[len(lit.runes)-1] != c || c == '\n' {
		return nil, false
	}
	for _, r := range w {
		if r == c || r == '\n' {
			return nil, false
		}
	}
	return lit.runes, true
}

// unwrap strips non-capturing, non-atomic groups.
func unwrap(n *node) *node {
	for n.op == opGroup && n.cap == 0 && !n.atomic {
		n = n.subs[0]
	}
	return n
}

// avoid writes the RE2 form of a loop avoiding lit (see avoidLoop);
// before lit itself when upTo.
func (p *printer) avoid(lit []rune, upTo bool) {
	c, w := lit[0], lit[1:len(lit)-1]
	var field, notW strings.Builder
	field.WriteString(`[^\n`)
	p.classChar(&field, c)
	field.WriteString(`]`)
	f := field.String()
	fmt.Fprintf(&notW, `(?:%s{0,%d}|%s{%d,}`, f, len(w)-1, f, len(w)+1)
	for j := range w {
		notW.WriteString("|")
		for _, r := range w[:j] {
			p.classChar(&notW, r)
		}
		notW.WriteString(`[^\n`)
		p.classChar(&notW, c)
		p.classChar(&notW, w[j])
		fmt.Fprintf(&notW, `]%s{%d}`, f, len(w)-j-1)
	}
	notW.WriteString(")")
	sep := &strings.Builder{}
	p.classChar(sep, c)
	if upTo {
		fmt.Fprintf(&p.b, `(?:%s*(?:%s%s)*)`, f, sep, notW.String())
		return
	}
	fmt.Fprintf(&p.b, `(?:%s*(?:%s%s)*(?:%s%s*)?)`, f, sep, notW.String(), sep, f)
}

// avoidBefore writes n when it is an avoid loop, alone or as a group's
// whole content, that next (n's successor) starts with the literal of:
// it reports whether it did.
func (p *printer) avoidBefore(n, next *node) bool {
	next = unwrap(next)
	if next.op != opLit || next.fold {
		return false
	}
	inner, group := n, false
	if n.op == opGroup && !n.atomic {
		inner, group = n.subs[0], true
	}
	lit, ok := avoidLoop(inner)
	if !ok || len(next.runes) < len(lit) || string(next.runes[:len(lit)]) != string(lit) {
		return false
	}
	if !group {
		p.avoid(lit, true)
		return true
	}
	if n.cap > 0 {
		p.b.WriteString("(")
	} else {
		p.b.WriteString("(?:")
	}
	p.avoid(lit, true)
	p.b.WriteString(")")
	return true
}
