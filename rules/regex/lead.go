package regex

import (
	"regexp/syntax"
	"unicode"
	"unicode/utf8"
)

// Lead is a set of bytes: those a text may start with for an anchored
// regex to match it.
type Lead [4]uint64

// Has reports whether c is in the set.
func (l *Lead) Has(c byte) bool { return l[c>>6]&(1<<(c&63)) != 0 }

// Add puts c in the set.
func (l *Lead) Add(c byte) { l[c>>6] |= 1 << (c & 63) }

func (l *Lead) union(o *Lead) {
	for i := range l {
		l[i] |= o[i]
	}
}

// all is every byte.
var allBytes = Lead{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}

// LeadOf returns the bytes a non-empty text may start with for the regex
// tree (parsed with syntax.Perl) to match it, or nil when that says
// nothing: a regex not anchored at the start of the text (^ without (?m),
// \A), or whose anchored rest can match the empty string. Every byte of
// 0x80 and up is in the set: a text that is not ASCII is matched by runes,
// and folding takes some letters out of ASCII (k to the Kelvin sign).
//
// A failregex anchored at ^ names what the message starts with, so the
// first byte of a line rules most of a rule's failregexes out before any
// scan of the line: of sshd's fifteen, a pam_unix line leaves one.
func LeadOf(tree *syntax.Regexp) *Lead {
	rest, ok := anchoredRest(tree)
	if !ok {
		return nil
	}
	var l Lead
	for _, re := range rest {
		nullable := leadOf(re, &l)
		if !nullable {
			l[2], l[3] = ^uint64(0), ^uint64(0)
			return &l
		}
	}
	return nil // the rest can match the empty string
}

// anchoredRest returns what follows the \A that every match of tree
// starts with, as a sequence, or false when tree is not so anchored.
func anchoredRest(tree *syntax.Regexp) ([]*syntax.Regexp, bool) {
	for tree.Op == syntax.OpCapture {
		tree = tree.Sub[0]
	}
	switch tree.Op {
	case syntax.OpBeginText:
		return nil, true
	case syntax.OpConcat:
		if len(tree.Sub) == 0 {
			return nil, false
		}
		if first := tree.Sub[0]; first.Op == syntax.OpBeginText {
			return tree.Sub[1:], true
		}
	}
	return nil, false
}

// leadOf adds to l the bytes a match of re may start with and reports
// whether re can match the empty string (then what follows it may lead
// too). Zero-width assertions match the empty string. A superset is
// always safe: it only tries a regex that cannot match.
func leadOf(re *syntax.Regexp, l *Lead) bool {
	switch re.Op {
	case syntax.OpNoMatch:
		return false
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return true
		}
		addRune(l, re.Rune[0], re.Flags&syntax.FoldCase != 0)
		return false
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			for r := lo; r <= hi && r < utf8.RuneSelf; r++ {
				l.Add(byte(r))
			}
		}
		return false
	case syntax.OpAnyCharNotNL:
		nl := Lead{}
		nl.Add('\n')
		for i := range l {
			l[i] |= ^nl[i]
		}
		return false
	case syntax.OpAnyChar:
		l.union(&allBytes)
		return false
	case syntax.OpCapture, syntax.OpPlus:
		return leadOf(re.Sub[0], l)
	case syntax.OpStar, syntax.OpQuest:
		leadOf(re.Sub[0], l)
		return true
	case syntax.OpRepeat:
		if re.Max == 0 {
			return true
		}
		return leadOf(re.Sub[0], l) || re.Min == 0
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !leadOf(sub, l) {
				return false
			}
		}
		return true
	case syntax.OpAlternate:
		nullable := false
		for _, sub := range re.Sub {
			if leadOf(sub, l) {
				nullable = true
			}
		}
		return nullable
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true
	}
	// An op this walk does not know: any byte, and what follows too.
	l.union(&allBytes)
	return true
}

// addRune adds the first byte of r and, when fold is set, of every rune
// it folds to; the bytes of runes past ASCII are in every Lead anyway.
func addRune(l *Lead, r rune, fold bool) {
	if r < utf8.RuneSelf {
		l.Add(byte(r))
	}
	if !fold {
		return
	}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < utf8.RuneSelf {
			l.Add(byte(f))
		}
	}
}
