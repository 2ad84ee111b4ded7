package pyre

import (
	"strings"
	"unicode/utf8"

	"github.com/stockade-ids/stockade/rules/regex"
)

// Literals returns the case-sensitive literals (3 bytes or more) every
// match of a parsed Python pattern contains, longest first, for the
// prefilter (see regex.RequiredLiterals).
func (r *Regexp) Literals() []string {
	return regex.Longest(r.literals(3))
}

// literals returns every case-sensitive literal of min bytes or more that
// every match contains.
func (r *Regexp) literals(min int) []string {
	var lits []string
	var walk func(n *node)
	walk = func(n *node) {
		switch n.op {
		case opLit:
			if !n.fold && len(string(n.runes)) >= min {
				lits = append(lits, string(n.runes))
			}
		case opConcat:
			for _, s := range n.subs {
				walk(s)
			}
		case opGroup:
			walk(n.subs[0])
		case opRepeat:
			if n.min >= 1 {
				walk(n.subs[0])
			}
		}
	}
	walk(r.root)
	return lits
}

// LiteralSets finds, in the required part of a pattern, alternations
// whose branches are all literals of two bytes or more (at most two such
// sets).
func (r *Regexp) LiteralSets() []regex.LitSet {
	var out []regex.LitSet
	var walk func(n *node)
	walk = func(n *node) {
		if len(out) >= 2 {
			return
		}
		switch n.op {
		case opConcat:
			for _, s := range n.subs {
				walk(s)
			}
		case opGroup:
			if !n.atomic {
				walk(n.subs[0])
			}
		case opRepeat:
			if n.min >= 1 {
				walk(n.subs[0])
			}
		case opAlt:
			if set, ok := altLiterals(n); ok {
				out = append(out, set)
			}
		}
	}
	walk(r.root)
	return out
}

// altLiterals reads an alternation of plain literals.
func altLiterals(n *node) (regex.LitSet, bool) {
	var set regex.LitSet
	for i, b := range n.subs {
		for b.op == opGroup && b.cap >= 0 && !b.atomic {
			b = b.subs[0]
		}
		if b.op != opLit || len(b.runes) < 2 {
			return regex.LitSet{}, false
		}
		if i == 0 {
			set.Fold = b.fold
		} else if b.fold != set.Fold {
			return regex.LitSet{}, false
		}
		lit := string(b.runes)
		if set.Fold {
			for _, c := range lit {
				if c >= utf8.RuneSelf {
					return regex.LitSet{}, false
				}
			}
			lit = strings.ToLower(lit)
		}
		set.Lits = append(set.Lits, lit)
	}
	return set, len(set.Lits) > 0
}
