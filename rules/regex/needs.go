package regex

import (
	"strings"
)

// Needs is a quick test of what every match of a regex holds: one of
// the literals of each of its sets (FoldRequirement), compared without
// regard to ASCII case. False means the regex cannot match the text;
// true says nothing. It is made only of the sets that one byte search
// decides: sets of a few literals that all hold a byte that log lines
// seldom do (web-cve's ".%2e", "%2e.", "%2e%2e", "%%32%65" all hold a
// %), looked for with strings.IndexByte; the literals are compared only
// where it occurs.
type Needs struct {
	sets []needSet
	// ascii: a text that is not ASCII passes. Unicode folds two other
	// characters onto ASCII letters, K (the Kelvin sign) onto k and ſ
	// onto s, so a case-insensitive match of a literal with a k or an s
	// need not hold it in ASCII; a literal without either must.
	ascii bool
}

type needSet struct {
	anchor   byte     // the byte every literal holds (lower case)
	lits     []string // lower case
	anchorAt []int    // where each literal first holds anchor
}

// maxNeeds bounds a set's literals: each is compared wherever the
// anchor byte occurs.
const maxNeeds = 16

// NewNeeds makes the test of pattern's required sets from the skip-th
// on (the caller tests the sets before that in another way, see
// FoldRequirement's order); nil when none is decided cheaply enough.
func NewNeeds(pattern string, skip int) *Needs {
	var n Needs
	if req := FoldRequirement(pattern); len(req) > skip {
		for _, set := range req[skip:] {
			n.add(set)
		}
	}
	if len(n.sets) == 0 {
		return nil
	}
	return &n
}

// add adds the test of set when a rare byte is in all its literals.
func (n *Needs) add(set []string) {
	if len(set) > maxNeeds || Weight(set) < 3 {
		return
	}
	anchor, best := -1, 0
	for c := 0; c < 0x80; c++ {
		all := true
		for _, l := range set {
			all = all && strings.IndexByte(l, byte(c)) >= 0
		}
		if w := commonness(byte(c)); all && (anchor < 0 || w < best) {
			anchor, best = c, w
		}
	}
	if anchor < 0 || best >= commonness('e') {
		return // a letter that most words hold, or a digit, a dot, a slash
	}
	s := needSet{anchor: byte(anchor), lits: set}
	for _, l := range set {
		s.anchorAt = append(s.anchorAt, strings.IndexByte(l, byte(anchor)))
		n.ascii = n.ascii || strings.ContainsAny(l, "ks")
	}
	n.sets = append(n.sets, s)
}

// May reports whether text may match: false when it lacks a set.
func (n *Needs) May(text string) bool {
	if n == nil || n.ascii && !IsASCII(text) {
		return true
	}
	for i := range n.sets {
		if !n.sets[i].in(text) {
			return false
		}
	}
	return true
}

func (s *needSet) in(text string) bool {
	c, up := s.anchor, s.anchor
	if c >= 'a' && c <= 'z' {
		up = c - ('a' - 'A')
	}
	for i := 0; i < len(text); i++ {
		j := indexEither(text[i:], c, up)
		if j < 0 {
			return false
		}
		i += j
		for k, l := range s.lits {
			if at := i - s.anchorAt[k]; at >= 0 && len(text)-at >= len(l) && equalFold(text[at:at+len(l)], l) {
				return true
			}
		}
	}
	return false
}
