package pyre

// Conditional groups, (?(name)yes|no), are what keeps many of fail2ban's
// regexes on the backtracking engine (sshd's "Failed ... for" lines among
// them). Where the group a condition tests is set on some paths and not
// on others, the pattern can be split into ordered alternatives, each
// taking one path, in which every condition is decided and drops out:
//
//	^F (?P<inv>I)?(?P<user>(?P<u>\S+)|(?(inv)A|B)) R(?(u)X|Y)
//
// is, with a backtracking engine's preferences,
//
//	^F (?P<inv>I)(?P<user>(?P<u>\S+)) RX
//	^F (?P<inv>I)(?P<user>A) RY
//	^F (?P<user>(?P<u>\S+)) RX
//	^F (?P<user>B) RY
//
// since concatenation distributes over an ordered alternation (the
// backtracker tries (a|b)c as ac, then bc), X? is (X|) and X?? is (|X),
// and a group is set exactly on the paths through it. The alternatives
// of a pattern anchored at the start all match there or not at all, so
// the first of them that matches gives the pattern's match, groups and
// all; each runs on RE2 when it can.

import (
	"slices"

	"github.com/stockade-ids/stockade/rules/regex"
)

// maxSplit bounds the alternatives of a split pattern.
const maxSplit = 8

// branch is one path through a subtree: the subtree reduced to it, and
// the groups (by capture index) set when it ends.
type branch struct {
	n   *node
	set uint64
}

// split returns the alternatives of r's pattern with its conditions
// decided, in the order a backtracking engine tries them, or nil when it
// cannot be split that way: no condition, a back reference, a pattern not
// anchored at its start, a tested group beyond the 63rd, inside a repetition other than
// ? or ??, an atomic group or a lookaround, or too many alternatives.
func (r *Regexp) split() []*node {
	tested := uint64(0)
	ok := true
	walk(r.root, func(n *node) {
		if n.op == opBackref {
			// Its number would change with the groups an
			// alternative leaves out.
			ok = false
		}
		if n.op == opCond {
			if n.ref >= 64 {
				ok = false
				return
			}
			tested |= 1 << n.ref
		}
	})
	if tested == 0 || !ok || !anchoredStart(r.root) {
		return nil
	}
	s := splitter{tested: tested}
	bs, ok := s.expand(r.root, 0)
	if !ok {
		return nil
	}
	out := make([]*node, len(bs))
	for i, b := range bs {
		out[i] = b.n
	}
	return out
}

// anchoredStart reports whether every match of n begins at the text's
// start: n is, or begins with, \A (^ without MULTILINE).
func anchoredStart(n *node) bool {
	for {
		switch n.op {
		case opBeginText:
			return true
		case opConcat:
			if len(n.subs) == 0 {
				return false
			}
			n = n.subs[0]
		case opGroup:
			if n.atomic {
				return false
			}
			n = n.subs[0]
		default:
			return false
		}
	}
}

func walk(n *node, f func(*node)) {
	f(n)
	for _, s := range n.subs {
		walk(s, f)
	}
}

type splitter struct {
	tested uint64 // the groups conditions test
}

// relevant reports whether n holds a condition or sets a tested group.
func (s *splitter) relevant(n *node) bool {
	found := false
	walk(n, func(m *node) {
		if m.op == opCond || (m.op == opGroup && m.cap > 0 && m.cap < 64 && s.tested&(1<<m.cap) != 0) {
			found = true
		}
	})
	return found
}

// expand returns the paths through n, in the engine's order, when the
// groups in set are set before it.
func (s *splitter) expand(n *node, set uint64) ([]branch, bool) {
	if !s.relevant(n) {
		return []branch{{n, set}}, true
	}
	switch n.op {
	case opCond:
		if set&(1<<n.ref) != 0 {
			return s.expand(n.subs[0], set)
		}
		return s.expand(n.subs[1], set)
	case opConcat:
		return s.concat(n, set)
	case opAlt:
		var out []branch
		for _, sub := range n.subs {
			bs, ok := s.expand(sub, set)
			if !ok {
				return nil, false
			}
			out = append(out, bs...)
		}
		return out, len(out) <= maxSplit
	case opGroup:
		if n.atomic {
			return nil, false
		}
		bs, ok := s.expand(n.subs[0], set)
		if !ok {
			return nil, false
		}
		for i := range bs {
			g := *n
			g.subs = []*node{bs[i].n}
			bs[i].n = &g
			if n.cap > 0 && n.cap < 64 {
				bs[i].set |= 1 << n.cap
			}
		}
		return bs, true
	case opRepeat:
		if n.min != 0 || n.max != 1 || n.possessive {
			return nil, false
		}
		// X? is (X|), X?? is (|X).
		alt := &node{op: opAlt, subs: []*node{n.subs[0], {op: opEmpty}}}
		if n.lazy {
			alt.subs[0], alt.subs[1] = alt.subs[1], alt.subs[0]
		}
		return s.expand(alt, set)
	}
	return nil, false
}

// concat distributes a concatenation over its parts' paths: each path of
// the first part, followed by each path of the rest.
func (s *splitter) concat(n *node, set uint64) ([]branch, bool) {
	out := []branch{{&node{op: opConcat}, set}}
	for _, sub := range n.subs {
		var next []branch
		for _, b := range out {
			bs, ok := s.expand(sub, b.set)
			if !ok {
				return nil, false
			}
			for _, x := range bs {
				c := &node{op: opConcat, subs: append(append([]*node(nil), b.n.subs...), x.n)}
				next = append(next, branch{c, x.set})
			}
		}
		if len(next) > maxSplit {
			return nil, false
		}
		out = next
	}
	return out, true
}

// compileSplit compiles the alternatives of a split pattern, each on RE2
// when it can be, into one engine.
func (r *Regexp) compileSplit(alts []*node, singleLine bool) (regex.Engine, error) {
	e := &splitEngine{ncap: len(r.names)}
	checked := r.Literals()
	for _, a := range alts {
		sub := &Regexp{root: a, names: r.names}
		var caps []int
		walk(a, func(n *node) {
			if n.op == opGroup && n.cap > 0 {
				caps = append(caps, n.cap)
			}
		})
		re, err := sub.compileOne(singleLine, len(caps)+1)
		if err != nil {
			return nil, err
		}
		e.alts = append(e.alts, splitAlt{
			re:   &regex.Regex{Engine: re, Literals: splitLiterals(sub, checked), AnyOf: sub.LiteralSets()},
			caps: append([]int{0}, caps...),
		})
	}
	return e, nil
}

// splitLiterals are the literals an alternative's prefilter checks: those
// the pattern's own prefilter has not checked before the alternatives
// run, down to two bytes. What sets one alternative apart from the others
// is often short: sshd's "Failed ... for" pattern ends with ": " on the
// path that took the user as \S+, and without that check the path runs
// through the address and port of every "Failed password" line before
// it fails.
func splitLiterals(alt *Regexp, checked []string) []string {
	lits := alt.literals(2)
	lits = slices.DeleteFunc(lits, func(l string) bool { return slices.Contains(checked, l) })
	return regex.Longest(lits)
}

// splitEngine runs the alternatives of a split pattern in order: the
// first that matches gives the match.
type splitEngine struct {
	alts []splitAlt
	ncap int
}

// splitAlt is one alternative, with its prefilter, and caps[i] the
// pattern's capture index of its group i (caps[0] = 0: the match).
type splitAlt struct {
	re   *regex.Regex
	caps []int
}

func (e *splitEngine) Submatch(text string, dst []int) []int {
	for _, a := range e.alts {
		if cap(dst) < 2*e.ncap {
			dst = make([]int, 2*e.ncap)
		}
		m := a.re.Search(text, dst[:cap(dst)])
		if m == nil {
			continue
		}
		out := dst[:2*e.ncap]
		if &m[0] != &out[0] {
			copy(out, m)
		}
		// Spread the alternative's groups to the pattern's indexes,
		// from the last: caps only grows, and caps[j] >= j, so no pair
		// is overwritten before it is read.
		j := len(a.caps) - 1
		for i := e.ncap - 1; i >= 0; i-- {
			if j >= 0 && a.caps[j] == i {
				out[2*i], out[2*i+1] = out[2*j], out[2*j+1]
				j--
			} else {
				out[2*i], out[2*i+1] = -1, -1
			}
		}
		return out
	}
	return nil
}

func (e *splitEngine) Match(text string) bool {
	for _, a := range e.alts {
		if a.re.Match(text) {
			return true
		}
	}
	return false
}

// Names are the caller's to supply (see named).
func (e *splitEngine) Names() []string { return make([]string, e.ncap) }

// Kind is "re2" when every alternative runs on RE2, else "re2+regexp2"
// (some backtrack: lint names them) or "regexp2".
func (e *splitEngine) Kind() string {
	kinds := map[string]bool{}
	for _, a := range e.alts {
		kinds[a.re.Engine.Kind()] = true
	}
	switch {
	case len(kinds) == 1 && kinds["re2"]:
		return "re2"
	case kinds["re2"]:
		return "re2+regexp2"
	}
	return "regexp2"
}

// Faults adds up the matches its alternatives gave up.
func (e *splitEngine) Faults() uint64 {
	var n uint64
	for _, a := range e.alts {
		n += regex.Faults(a.re.Engine)
	}
	return n
}
