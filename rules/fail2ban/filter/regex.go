package rules

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// f2bRegexKind says what a fail2ban regex is for: a failregex needs a
// group that identifies the failure.
type f2bRegexKind uint8

const (
	f2bFailRegex f2bRegexKind = iota
	f2bIgnoreRegex
	f2bPrefRegex
)

// f2bIDGroups are the groups that identify a failure (fail2ban's
// FAILURE_ID_PRESENTS).
var f2bIDGroups = []string{"fid", "ip4", "ip6", "dns", "mlfid"}

// globalToLocalFlags is fail2ban's R_GLOB2LOCFLAGS: "((?i)x)" and
// "(?:(?i)x)" become "(?i:x)".
var globalToLocalFlags = regexp.MustCompile(`\((?:\?:)?(\(\?[a-z]+)\)`)

func localFlags(regex string) string {
	var b strings.Builder
	last := 0
	for _, m := range globalToLocalFlags.FindAllStringSubmatchIndex(regex, -1) {
		if m[0] > 0 && regex[m[0]-1] == '\\' {
			continue
		}
		b.WriteString(regex[last:m[0]])
		b.WriteString(regex[m[2]:m[3]])
		b.WriteString(":")
		last = m[1]
	}
	b.WriteString(regex[last:])
	return b.String()
}

// compileF2BRegex compiles a regex of fail2ban's dialect: its tags are
// expanded, then the Python pattern runs on RE2 when that is exact, else
// on regexp2. singleLine says the buffers it reads are one line (maxlines
// 1), which lets RE2 take Python's $.
func compileF2BRegex(src string, kind f2bRegexKind, useDNS string, singleLine bool) (*failRegex, error) {
	expanded := localFlags(expandF2BTags(src, useDNS))
	if strings.TrimSpace(expanded) == "" {
		return nil, errors.New("empty regex")
	}
	re, tree, err := compilePythonEngine(expanded, singleLine)
	if err != nil {
		return nil, fmt.Errorf("bad regex: %v", err)
	}
	f := &failRegex{src: src, re: re, host: -1, names: tree.names, literals: pyLiterals(tree), anyOf: pyLiteralSets(tree)}
	for _, n := range f.names {
		if strings.ContainsRune(n, '-') {
			return nil, fmt.Errorf("bad regex: bad group name %q", n)
		}
	}
	return f, nil
}

// hasIDGroup reports whether a compiled fail2ban regex can identify a
// failure.
func (f *failRegex) hasIDGroup() bool {
	for _, n := range f.names {
		for _, g := range f2bIDGroups {
			if n == g {
				return true
			}
		}
	}
	return false
}

// pyLiterals returns the case-sensitive literals (3 bytes or more) every
// match of a parsed Python pattern contains, longest first, for the
// prefilter (see requiredLiterals).
func pyLiterals(r *pyRegex) []string {
	var lits []string
	var walk func(n *pyNode)
	walk = func(n *pyNode) {
		switch n.op {
		case pyLit:
			if !n.fold && len(string(n.runes)) >= 3 {
				lits = append(lits, string(n.runes))
			}
		case pyConcat:
			for _, s := range n.subs {
				walk(s)
			}
		case pyGroup:
			walk(n.subs[0])
		case pyRepeat:
			if n.min >= 1 {
				walk(n.subs[0])
			}
		}
	}
	walk(r.root)
	sort.SliceStable(lits, func(i, j int) bool { return len(lits[i]) > len(lits[j]) })
	if len(lits) > 3 {
		lits = lits[:3]
	}
	return lits
}

// litSet is a set of literals one of which every match contains: the
// branches of a required alternation (?:Login aborted|Disconnected|...),
// or the names of %b. fold: compared without regard to ASCII case.
type litSet struct {
	lits []string
	fold bool
}

// in reports whether text holds a member of the set. A text with
// non-ASCII characters passes a folded set unchecked: Unicode case folding
// (K for k, ſ for s) is the engine's to judge.
func (s *litSet) in(text string) bool {
	if s.fold {
		for i := 0; i < len(text); i++ {
			if text[i] >= utf8.RuneSelf {
				return true
			}
		}
		for _, l := range s.lits {
			if containsFold(text, l) {
				return true
			}
		}
		return false
	}
	for _, l := range s.lits {
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

// pyLiteralSets finds, in the required part of a pattern, alternations
// whose branches are all literals of two bytes or more (at most two such
// sets).
func pyLiteralSets(r *pyRegex) []litSet {
	var out []litSet
	var walk func(n *pyNode)
	walk = func(n *pyNode) {
		if len(out) >= 2 {
			return
		}
		switch n.op {
		case pyConcat:
			for _, s := range n.subs {
				walk(s)
			}
		case pyGroup:
			if !n.atomic {
				walk(n.subs[0])
			}
		case pyRepeat:
			if n.min >= 1 {
				walk(n.subs[0])
			}
		case pyAlt:
			if set, ok := altLiterals(n); ok {
				out = append(out, set)
			}
		}
	}
	walk(r.root)
	return out
}

// altLiterals reads an alternation of plain literals.
func altLiterals(n *pyNode) (litSet, bool) {
	var set litSet
	for i, b := range n.subs {
		for b.op == pyGroup && b.cap >= 0 && !b.atomic {
			b = b.subs[0]
		}
		if b.op != pyLit || len(b.runes) < 2 {
			return litSet{}, false
		}
		if i == 0 {
			set.fold = b.fold
		} else if b.fold != set.fold {
			return litSet{}, false
		}
		lit := string(b.runes)
		if set.fold {
			for _, c := range lit {
				if c >= utf8.RuneSelf {
					return litSet{}, false
				}
			}
			lit = strings.ToLower(lit)
		}
		set.lits = append(set.lits, lit)
	}
	return set, len(set.lits) > 0
}
