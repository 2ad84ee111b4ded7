package rules

import (
	"fmt"
	"strings"
)

// A rule's programs: are syslog program names, each exact ("postfix/smtpd")
// or a glob whose '*' stands for one run of name characters
// ([A-Za-z0-9_.-], never '/', a bracket or a parenthesis):
// "postfix-*/smtpd" is every Postfix instance's smtpd, "auth-worker(*)"
// Dovecot's auth worker whatever its pid.
//
// A glob must name its program family literally: it starts with letters or
// digits, its stem, and a separator follows the stem before any '*'
// ("postfix-*", not "postfix*", which would be "postfixx" too). So a
// program name the writer chose reaches a glob's rules only if it starts
// with the family's own name and separator, as the exact names do, and the
// stem indexes the globs: a name whose stem no glob has costs one map
// lookup more than an exact name.

// maxGlobbedProgram bounds the program names matched against globs: no
// real one is longer, and a glob's cost grows with the name.
const maxGlobbedProgram = 128

// checkProgram returns why p is no program name or glob ("" if it is one).
func checkProgram(p string) string {
	switch {
	case strings.ContainsAny(p, " \t"):
		return "a program name has no spaces"
	case !strings.Contains(p, "*"):
		return ""
	case strings.Contains(p, "**"):
		return "'**' in a program glob: one '*' is a run of name characters already"
	}
	stem := programStem(p)
	if stem == "" || p[len(stem)] == '*' {
		return "a program glob starts with the program's name and a separator before any '*' (postfix-*/smtpd, auth-worker(*))"
	}
	if len(p) > maxGlobbedProgram {
		return fmt.Sprintf("a program glob is at most %d bytes", maxGlobbedProgram)
	}
	return ""
}

// isGlob reports whether a program of programs: is a glob.
func isGlob(p string) bool { return strings.IndexByte(p, '*') >= 0 }

// programStem is the leading run of letters and digits of a program name.
func programStem(p string) string {
	i := 0
	for i < len(p) && (p[i] >= 'a' && p[i] <= 'z' || p[i] >= 'A' && p[i] <= 'Z' || p[i] >= '0' && p[i] <= '9') {
		i++
	}
	return p[:i]
}

// nameByte reports whether c may be part of a glob's '*'.
func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

// globMatch reports whether name matches the glob p (see checkProgram).
// Each '*' takes one or more name bytes; the few stars of a short pattern
// over a name of at most maxGlobbedProgram bytes bound the backtracking.
func globMatch(p, name string) bool {
	for len(p) > 0 {
		if p[0] != '*' {
			if len(name) == 0 || name[0] != p[0] {
				return false
			}
			p, name = p[1:], name[1:]
			continue
		}
		run := 0
		for run < len(name) && nameByte(name[run]) {
			run++
		}
		if run == 0 {
			return false
		}
		// What follows a '*' is mostly a separator ('/', ')') or nothing,
		// which no '*' takes: the star takes the whole run, no backtracking.
		if len(p) == 1 || !nameByte(p[1]) {
			p, name = p[1:], name[run:]
			continue
		}
		for k := 1; k <= run; k++ {
			if globMatch(p[1:], name[k:]) {
				return true
			}
		}
		return false
	}
	return len(name) == 0
}

// programGlob is one glob of a format's rules: the rules that name it,
// and those merged with the rules for any program, for dispatch.
type programGlob struct {
	pattern string
	// head and tail are the pattern's text before its first '*' and after
	// its last: a name without them is refused before the glob is run.
	head, tail string
	own        []*Rule
	rules      []*Rule
}

// match reports whether name matches the glob.
func (g *programGlob) match(name string) bool {
	return len(name) > len(g.head)+len(g.tail) && strings.HasPrefix(name, g.head) &&
		strings.HasSuffix(name, g.tail) && globMatch(g.pattern, name)
}

// mergeRules returns the rules of lists, each once, in load order.
func mergeRules(dst []*Rule, lists ...[]*Rule) []*Rule {
	for _, l := range lists {
		for _, r := range l {
			if !containsRule(dst, r) {
				dst = append(dst, r)
			}
		}
	}
	sortByID(dst)
	return dst
}

func containsRule(rs []*Rule, r *Rule) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// addGlob records that r reads the programs matching pattern.
func (d *dispatch) addGlob(pattern string, r *Rule) {
	if d.globs == nil {
		d.globs = map[string][]programGlob{}
	}
	stem := programStem(pattern)
	d.globFirst[stem[0]>>6] |= 1 << (stem[0] & 63)
	gs := d.globs[stem]
	for i := range gs {
		if gs[i].pattern == pattern {
			if !containsRule(gs[i].own, r) {
				gs[i].own = append(gs[i].own, r)
			}
			return
		}
	}
	d.globs[stem] = append(gs, programGlob{pattern: pattern, own: []*Rule{r},
		head: pattern[:strings.IndexByte(pattern, '*')], tail: pattern[strings.LastIndexByte(pattern, '*')+1:]})
}

// finish merges the lists once every rule is in: each exact program's
// list holds its rules, those of the globs it matches and the rules for
// any program, so an exact name is one map lookup; each glob's list its
// own and the any rules.
func (d *dispatch) finish() {
	for prog, rs := range d.byProgram {
		lists := [][]*Rule{rs, d.any}
		for _, g := range d.globs[programStem(prog)] {
			if len(prog) <= maxGlobbedProgram && g.match(prog) {
				lists = append(lists, g.own)
			}
		}
		d.byProgram[prog] = mergeRules(nil, lists...)
	}
	for _, gs := range d.globs {
		for i := range gs {
			gs[i].rules = mergeRules(nil, gs[i].own, d.any)
		}
	}
}

// unlisted returns the rules for a program no exact name lists: those of
// the globs it matches and the rules for any program. Apart from
// Candidates, so that Candidates stays small enough to inline.
//
//go:noinline
func (d *dispatch) unlisted(prog string, buf *[]*Rule) []*Rule {
	if d.globs != nil {
		if rs, ok := d.globbed(prog, buf); ok {
			return rs
		}
	}
	return d.any
}

// globbed returns the rules for a program no exact name lists, by the
// globs it matches; buf is scratch for a name that matches several.
func (d *dispatch) globbed(prog string, buf *[]*Rule) ([]*Rule, bool) {
	if len(prog) > maxGlobbedProgram {
		return nil, false
	}
	// Most programs no glob is for: one bit says so before the stem.
	if len(prog) == 0 || prog[0] >= 128 || d.globFirst[prog[0]>>6]&(1<<(prog[0]&63)) == 0 {
		return nil, false
	}
	gs, ok := d.globs[programStem(prog)]
	if !ok {
		return nil, false
	}
	var first *programGlob
	for i := range gs {
		g := &gs[i]
		if !g.match(prog) {
			continue
		}
		if first == nil {
			first = g
			continue
		}
		// Several globs: their rules merged, in the Set's scratch.
		rs := mergeRules((*buf)[:0], first.rules, g.own)
		for j := range gs[i+1:] {
			if h := &gs[i+1+j]; h.match(prog) {
				rs = mergeRules(rs, h.own)
			}
		}
		*buf = rs
		return rs, true
	}
	if first == nil {
		return nil, false
	}
	return first.rules, true
}
