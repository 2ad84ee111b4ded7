package regex

import (
	"regexp/syntax"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// maxSet bounds the literal sets FoldRequirement builds by alternation
// and cross product: beyond it a set says too little to be worth a scan.
const maxSet = 256

// FoldRequirement returns what every match of an RE2 pattern in an ASCII
// text must contain, compared without regard to ASCII case: a list of
// sets (lower case), each of which must have a member in the text. An
// alternation gives a set of its branches' literals (a regex of thirty
// tool names, any one of them); a concatenation a set per run of fixed
// parts. Nil when nothing is required. It reads case-insensitive regexes
// too, which RequiredLiterals cannot: the sets are checked on ASCII text
// only (see Multi.Scan).
func FoldRequirement(pattern string) [][]string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	in := info(re.Simplify())
	sets := in.sets
	if in.exact != nil {
		sets = append(sets, in.exact)
	}
	var out [][]string
	for _, s := range sets {
		if useful(s) {
			out = append(out, minimize(s))
		}
	}
	// The sets whose weakest member is strongest reject the most lines.
	sort.SliceStable(out, func(i, j int) bool { return Weight(out[i]) > Weight(out[j]) })
	if len(out) > 3 {
		out = out[:3]
	}
	return out
}

// litInfo is what a node requires: exact, the finite set of strings it
// matches (nil when unknown or too many); sets, sets of which a member
// occurs in every match.
type litInfo struct {
	exact  []string
	sets   [][]string
	prefix []string // every match starts with one of these (nil: unknown)
}

func useful(s []string) bool {
	return len(s) > 0 && len(s) <= maxSet && !slices.Contains(s, "")
}

// Weight is how selective a set is: the length of its shortest member,
// a character that ordinary log lines seldom hold ($, {, ', <, ~…)
// counting as three, any other single character as nothing.
func Weight(s []string) int {
	n := -1
	for _, l := range s {
		w := len(l)
		if w == 1 {
			w = 0
			if strings.IndexByte(rareBytes, l[0]) >= 0 {
				w = 3
			}
		}
		if n < 0 || w < n {
			n = w
		}
	}
	return n
}

// rareBytes are the single characters worth a lookup.
const rareBytes = "~'<>{}\\|`$^!*;@"

// best is the most selective set a node offers, nil if none.
func (in litInfo) best() []string {
	var b []string
	for _, s := range append(slices.Clone(in.sets), in.exact) {
		if useful(s) && (b == nil || Weight(s) > Weight(b)) {
			b = s
		}
	}
	return b
}

func info(re *syntax.Regexp) litInfo {
	switch re.Op {
	case syntax.OpLiteral:
		b := make([]byte, 0, len(re.Rune))
		for _, r := range re.Rune {
			if r >= utf8.RuneSelf {
				return litInfo{} // folds and encodings beyond ASCII: no claim
			}
			b = append(b, lower(byte(r)))
		}
		return litInfo{exact: []string{string(b)}, prefix: []string{string(b)}}
	case syntax.OpCharClass:
		// ASCII members only: on ASCII text the others cannot match.
		var set []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if lo >= utf8.RuneSelf {
				break
			}
			hi = min(hi, utf8.RuneSelf-1)
			if hi-lo > 8 {
				return litInfo{}
			}
			for r := lo; r <= hi; r++ {
				if l := string(lower(byte(r))); !slices.Contains(set, l) {
					set = append(set, l)
				}
			}
		}
		if len(set) == 0 || len(set) > 8 {
			return litInfo{}
		}
		return litInfo{exact: set, prefix: set}
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return litInfo{exact: []string{""}}
	case syntax.OpCapture:
		return info(re.Sub[0])
	case syntax.OpQuest:
		if in := info(re.Sub[0]); in.exact != nil && len(in.exact) < maxSet {
			return litInfo{exact: append(slices.Clone(in.exact), "")}
		}
		return litInfo{}
	case syntax.OpPlus:
		in := info(re.Sub[0])
		return litInfo{sets: append(in.sets, in.exact), prefix: in.prefix}
	case syntax.OpRepeat:
		if re.Min == 0 {
			return litInfo{}
		}
		in := info(re.Sub[0])
		return litInfo{sets: append(in.sets, in.exact), prefix: in.prefix}
	case syntax.OpConcat:
		return concatInfo(re.Sub)
	case syntax.OpAlternate:
		// Every branch must say what it requires, or the alternation
		// requires nothing.
		var exact, any, prefix []string
		allExact, missing, prefixes := true, false, true
		for _, s := range re.Sub {
			in := info(s)
			if in.prefix != nil && prefixes {
				prefix = append(prefix, in.prefix...)
			} else {
				prefixes = false
			}
			if in.exact != nil {
				exact = append(exact, in.exact...)
			} else {
				allExact = false
			}
			if b := in.best(); b != nil {
				any = append(any, b...)
			} else {
				missing = true
			}
		}
		if !prefixes || len(prefix) > maxSet || slices.Contains(prefix, "") {
			prefix = nil
		}
		if allExact && len(exact) <= maxSet {
			return litInfo{exact: dedupe(exact), prefix: dedupe(exact)}
		}
		if missing {
			return litInfo{prefix: prefix}
		}
		return litInfo{sets: [][]string{dedupe(any)}, prefix: prefix}
	}
	return litInfo{}
}

// concatInfo multiplies runs of fixed parts into sets: (?:a|b)c(?:d|e)
// must contain one of acd, ace, bcd, bce.
func concatInfo(subs []*syntax.Regexp) litInfo {
	var out litInfo
	cur := []string{""}
	whole, leading := true, true
	cross := func(a, b []string) []string {
		next := make([]string, 0, len(a)*len(b))
		for _, x := range a {
			for _, y := range b {
				next = append(next, x+y)
			}
		}
		return dedupe(next)
	}
	for _, s := range subs {
		in := info(s)
		if len(cur) > 1 && slices.Contains(cur, "") {
			// An optional run ((?:^|/)…) requires nothing: start the
			// run afresh here rather than multiply it into weak members.
			// What follows is then no longer all the node matches, nor
			// how it starts.
			cur = []string{""}
			whole, leading = false, false
		}
		if in.exact != nil && len(cur)*len(in.exact) <= maxSet {
			cur = cross(cur, in.exact)
			continue
		}
		// The fixed run so far, then whatever this part starts with.
		run := cur
		if in.prefix != nil && len(cur)*len(in.prefix) <= maxSet {
			run = cross(cur, in.prefix)
		}
		if leading {
			out.prefix = run
			if slices.Contains(run, "") {
				out.prefix = nil
			}
		}
		whole, leading = false, false
		if useful(run) {
			out.sets = append(out.sets, run)
		}
		cur = []string{""}
		out.sets = append(out.sets, in.sets...)
		if in.exact != nil {
			out.sets = append(out.sets, in.exact)
		}
	}
	if whole {
		return litInfo{exact: cur, prefix: cur}
	}
	if useful(cur) {
		out.sets = append(out.sets, cur)
	}
	return out
}

func dedupe(s []string) []string {
	out := s[:0:0]
	for _, l := range s {
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// minimize drops the members that hold another member: where /admin/
// occurs, /admin does.
func minimize(set []string) []string {
	var out []string
	for i, l := range set {
		redundant := false
		for j, m := range set {
			if j != i && strings.Contains(l, m) && (len(m) < len(l) || j < i) {
				redundant = true
				break
			}
		}
		if !redundant {
			out = append(out, l)
		}
	}
	return out
}
