package regex

import (
	"regexp/syntax"
	"sort"
	"strings"
	"unicode/utf8"
)

// Regex is one compiled regex of a rule with its prefilter: the literals
// every match must contain, checked before the engine runs.
type Regex struct {
	Src      string   // as written in the pack
	Engine   Engine   // runs the translated pattern
	Names    []string // capture name per group index ("" = unnamed)
	Literals []string // must all occur in any matching text, longest first
	AnyOf    []LitSet // each set must have a member in any matching text
	// Lead, when set, holds the bytes a text may start with for the
	// regex to match it (see LeadOf); nil says nothing.
	Lead *Lead
	// Leads, a fail2ban failregex's, hold the bytes each of the first
	// bytes of a matching text may be (pyre's Regexp.Lead, read from the
	// tree it was compiled from); nil says nothing.
	Leads []Lead
}

// Prefilter reports whether text contains every required literal (and a
// member of every required set): false means the regex cannot match.
func (r *Regex) Prefilter(text string) bool {
	for _, l := range r.Literals {
		if !strings.Contains(text, l) {
			return false
		}
	}
	return r.PrefilterSets(text)
}

// PrefilterSets is Prefilter for a text known to hold every required
// literal (an exact Multi's Mask said so): only the sets are left to
// check.
func (r *Regex) PrefilterSets(text string) bool {
	for i := range r.AnyOf {
		if !r.AnyOf[i].In(text) {
			return false
		}
	}
	return true
}

// Match reports whether text matches, prefilter first.
func (r *Regex) Match(text string) bool { return r.Prefilter(text) && r.Engine.Match(text) }

// Search returns the index pairs of the match and its groups, or nil,
// prefilter first (see Engine.Submatch).
func (r *Regex) Search(text string, dst []int) []int {
	if !r.Prefilter(text) {
		return nil
	}
	return r.SubmatchPrefiltered(text, dst)
}

// RequiredLiterals returns the case-sensitive literals (3 bytes or more)
// every match of an RE2 pattern must contain, longest first. Checking them
// with strings.Contains before running the regex turns most misses into
// memchr-speed scans; the second literal catches lines that share the
// first with benign ones ("Received disconnect from" … ": Auth fail").
func RequiredLiterals(pattern string) []string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	return requiredLiterals(re)
}

func requiredLiterals(re *syntax.Regexp) []string {
	var lits []string
	var walk func(r *syntax.Regexp)
	walk = func(r *syntax.Regexp) {
		switch r.Op {
		case syntax.OpLiteral:
			if r.Flags&syntax.FoldCase == 0 && len(string(r.Rune)) >= 3 {
				lits = append(lits, string(r.Rune))
			}
		case syntax.OpCapture:
			walk(r.Sub[0])
		case syntax.OpConcat:
			for _, s := range r.Sub {
				walk(s)
			}
		case syntax.OpPlus:
			walk(r.Sub[0])
		case syntax.OpRepeat:
			if r.Min >= 1 {
				walk(r.Sub[0])
			}
		}
	}
	walk(re.Simplify())
	return Longest(lits)
}

// Longest sorts literals longest first and keeps the three longest: more
// cost a scan each and rarely reject a line the first three let through.
func Longest(lits []string) []string {
	sort.SliceStable(lits, func(i, j int) bool { return len(lits[i]) > len(lits[j]) })
	if len(lits) > 3 {
		lits = lits[:3]
	}
	return lits
}

// LitSet is a set of literals one of which every match contains: the
// branches of a required alternation (?:Login aborted|Disconnected|...),
// or the names of %b. Fold: compared without regard to ASCII case (the
// literals are then lower case).
type LitSet struct {
	Lits []string
	Fold bool
}

// In reports whether text holds a member of the set. A text with
// non-ASCII characters passes a folded set unchecked: Unicode case folding
// (K for k, ſ for s) is the engine's to judge.
func (s *LitSet) In(text string) bool {
	if s.Fold {
		for i := 0; i < len(text); i++ {
			if text[i] >= utf8.RuneSelf {
				return true
			}
		}
		for _, l := range s.Lits {
			if containsFold(text, l) {
				return true
			}
		}
		return false
	}
	for _, l := range s.Lits {
		if strings.Contains(text, l) {
			return true
		}
	}
	return false
}

// containsFold is an ASCII case-insensitive strings.Contains; lit is lower
// case. Candidates are found with strings.IndexByte (vectorised) on either
// case of lit's first byte: a byte-by-byte loop was a seventh of the
// fail2ban dialect's time per line.
func containsFold(text, lit string) bool {
	n := len(lit)
	if n == 0 {
		return true
	}
	lo, up := lit[0], lit[0]
	if lo >= 'a' && lo <= 'z' {
		up = lo - ('a' - 'A')
	}
	for i := 0; i+n <= len(text); i++ {
		j := indexEither(text[i:len(text)-n+1], lo, up)
		if j < 0 {
			return false
		}
		i += j
		if strings.EqualFold(text[i:i+n], lit) {
			return true
		}
	}
	return false
}

// indexEither is the index of the first a or b in s, or -1.
func indexEither(s string, a, b byte) int {
	i := strings.IndexByte(s, a)
	if a == b {
		return i
	}
	if i >= 0 {
		s = s[:i]
	}
	if j := strings.IndexByte(s, b); j >= 0 {
		return j
	}
	return i
}
