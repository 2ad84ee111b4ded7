package pyre

// What the fail2ban date templates ask of a parsed pattern: which
// characters can stand at its edges, and the rewrite of a back reference
// to a one-character group that lets a template run on RE2.

import "unicode"

// EdgeChars says which characters can stand at one edge of a match.
type EdgeChars struct{ Word, NonWord, Empty bool }

// Edge returns the characters that can begin (first) or end a match of
// the pattern, and whether it can be empty.
func (r *Regexp) Edge(first bool) EdgeChars {
	c := edgeChars(r.root, first)
	return EdgeChars{Word: c.word, NonWord: c.nonword, Empty: c.empty}
}

// charSet says which characters can stand at one edge of a match.
type charSet struct{ word, nonword, empty bool }

func (a charSet) union(b charSet) charSet {
	return charSet{a.word || b.word, a.nonword || b.nonword, a.empty || b.empty}
}

// edgeChars returns the characters that can begin (first) or end a match
// of n, and whether it can be empty.
func edgeChars(n *node, first bool) charSet {
	switch n.op {
	case opLit:
		r := n.runes[0]
		if !first {
			r = n.runes[len(n.runes)-1]
		}
		if isWord(r) {
			return charSet{word: true}
		}
		return charSet{nonword: true}
	case opClass:
		return classChars(n.cls)
	case opAnyNoNL, opAnyChar, opBackref:
		return charSet{word: true, nonword: true, empty: n.op == opBackref}
	case opConcat:
		out := charSet{empty: true}
		subs := n.subs
		for i := range subs {
			s := subs[i]
			if !first {
				s = subs[len(subs)-1-i]
			}
			e := edgeChars(s, first)
			out.word, out.nonword = out.word || e.word, out.nonword || e.nonword
			if !e.empty {
				out.empty = false
				return out
			}
		}
		return out
	case opAlt, opCond:
		var out charSet
		for _, s := range n.subs {
			out = out.union(edgeChars(s, first))
		}
		return out
	case opRepeat:
		e := edgeChars(n.subs[0], first)
		if n.min == 0 {
			e.empty = true
		}
		return e
	case opGroup:
		return edgeChars(n.subs[0], first)
	}
	return charSet{empty: true} // anchors, boundaries, lookarounds, empty
}

func isWord(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r)
}

// classChars is conservative: a class is "word only" when made of \d, \w
// and ranges of letters and digits, "non-word only" when made of \s and
// ranges of punctuation; anything else may hold both.
func classChars(c *classSet) charSet {
	var out charSet
	for _, it := range c.items {
		switch it.cat {
		case 'd', 'w':
			out.word = true
		case 's', 'W':
			out.nonword = true
		case 'D', 'S':
			out.word, out.nonword = true, true
		default:
			if it.hi-it.lo > 256 {
				out.word, out.nonword = true, true
				continue
			}
			for r := it.lo; r <= it.hi; r++ {
				if isWord(r) {
					out.word = true
				} else {
					out.nonword = true
				}
			}
		}
	}
	if c.neg {
		return charSet{word: true, nonword: true}
	}
	return out
}

// ExpandBackref rewrites "the same character twice", a group of a small
// class and a back reference to it such as fail2ban's date separator
// (?P<_sep>[-/.])X(?P=_sep), as (?:-X-|/X/|\.X\.): the character at the
// group's place picks the one branch that can match, so the match and its
// groups are the same, and the pattern can run on RE2 (which has no back
// references). The captures are then renumbered in order, names repeated
// across the branches; only one branch takes part in a match.
func (r *Regexp) ExpandBackref(group string) {
	sep := -1
	for i, n := range r.names {
		if n == group {
			sep = i
		}
	}
	if sep < 0 || hasOtherRefs(r.root, sep) {
		return
	}
	if !expandSepIn(r.root, sep, group) {
		return
	}
	var names []string
	names = append(names, "")
	var renumber func(n *node)
	renumber = func(n *node) {
		if n.op == opGroup && n.cap > 0 {
			names = append(names, n.name)
			n.cap = len(names) - 1
		}
		for _, s := range n.subs {
			renumber(s)
		}
	}
	renumber(r.root)
	r.names = names
}

// hasOtherRefs reports back references or conditions on groups other
// than sep: renumbering would break them.
func hasOtherRefs(n *node, sep int) bool {
	if (n.op == opBackref || n.op == opCond) && n.ref != sep {
		return true
	}
	if n.op == opCond {
		return true
	}
	for _, s := range n.subs {
		if hasOtherRefs(s, sep) {
			return true
		}
	}
	return false
}

// expandSepIn rewrites, in every concatenation under n, the separator
// group and its back reference; false if one could not be rewritten.
func expandSepIn(n *node, sep int, name string) bool {
	ok := true
	for _, s := range n.subs {
		if !expandSepIn(s, sep, name) {
			ok = false
		}
	}
	if n.op != opConcat {
		return ok
	}
	for i, it := range n.subs {
		if it.op != opGroup || it.cap != sep {
			continue
		}
		chars, single := sepChars(it.subs[0])
		if !single {
			return false
		}
		j := i + 1
		for j < len(n.subs) && !(n.subs[j].op == opBackref && n.subs[j].ref == sep) {
			j++
		}
		if j == len(n.subs) {
			return false
		}
		between := n.subs[i+1 : j]
		alt := &node{op: opAlt}
		for _, c := range chars {
			branch := &node{op: opConcat}
			branch.subs = append(branch.subs, &node{op: opGroup, cap: sep, name: name, subs: []*node{{op: opLit, runes: []rune{c}}}})
			for _, b := range between {
				branch.subs = append(branch.subs, cloneNode(b))
			}
			branch.subs = append(branch.subs, &node{op: opLit, runes: []rune{c}})
			alt.subs = append(alt.subs, branch)
		}
		rest := append([]*node{alt}, n.subs[j+1:]...)
		n.subs = append(n.subs[:i:i], rest...)
		return ok
	}
	return ok
}

// sepChars lists the characters of a small, case-sensitive class.
func sepChars(n *node) ([]rune, bool) {
	if n.op != opClass || n.cls.neg {
		return nil, false
	}
	var out []rune
	for _, it := range n.cls.items {
		if it.cat != 0 || it.hi-it.lo > 8 {
			return nil, false
		}
		for r := it.lo; r <= it.hi; r++ {
			if n.fold && unicode.SimpleFold(r) != r {
				return nil, false // a letter: case would give it other spellings
			}
			out = append(out, r)
		}
	}
	return out, len(out) > 0
}

func cloneNode(n *node) *node {
	c := *n
	c.runes = append([]rune(nil), n.runes...)
	c.subs = nil
	for _, s := range n.subs {
		c.subs = append(c.subs, cloneNode(s))
	}
	return &c
}

// IsWord reports whether r is a character of Python's \w (Unicode).
func IsWord(r rune) bool { return isWord(r) }
