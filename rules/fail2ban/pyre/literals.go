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
// each of whose branches requires a literal of two bytes or more (at most
// two such sets): a branch that is a literal gives itself, any other its
// longest required literal. sshd's "(Connection (?:closed|reset)|Disconnected)"
// gives {"Connection ", "Disconnected"}: without it, the only set of its
// failregex was "(?:by|from)", which every cron line holds.
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

// altLiterals reads an alternation into the set of what each branch
// requires.
func altLiterals(n *node) (regex.LitSet, bool) {
	var set regex.LitSet
	for i, b := range n.subs {
		for b.op == opGroup && b.cap >= 0 && !b.atomic {
			b = b.subs[0]
		}
		lit, fold, ok := branchLiteral(b)
		if !ok {
			return regex.LitSet{}, false
		}
		if i == 0 {
			set.Fold = fold
		} else if fold != set.Fold {
			return regex.LitSet{}, false
		}
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

// branchLiteral is what a branch of an alternation requires: the branch
// itself when it is a literal (folded or not), else its longest
// case-sensitive required literal; false when it has none of two bytes.
func branchLiteral(b *node) (lit string, fold, ok bool) {
	if b.op == opLit {
		return string(b.runes), b.fold, len(b.runes) >= 2
	}
	lits := (&Regexp{root: b}).literals(2)
	if len(lits) == 0 {
		return "", false, false
	}
	return regex.Longest(lits)[0], false, true
}
