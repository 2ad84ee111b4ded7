// Package fastre matches filter regexes several times faster than regexp,
// with exactly regexp's results.
//
// A pattern compiles to a program of "fat" instructions (literal strings,
// ASCII class bitmaps, whole single-class loops like \S+ or .*) that a
// backtracker walks depth first. For patterns without empty loop
// iterations, the first match a depth-first walk finds is the
// leftmost-first match Go's engines return ("the one that a backtracking
// implementation would have chosen"), so results are identical. Where that
// could stop holding, the call goes to the regexp.Regexp kept inside:
//
//   - text with a byte >= 0x80: regexp matches runes, the fast path bytes;
//   - patterns with a loop whose body can match the empty string, or too
//     big a program: Fast reports false and every call goes to regexp;
//   - a call that runs out of its step budget (a few steps per byte of
//     text): a pattern like (a+)+$ backtracks exponentially here but runs
//     in linear time in regexp, which then answers. A Regexp that keeps
//     running out stops trying the fast path.
//
// A Regexp is safe for concurrent use. A call allocates nothing once warm,
// when dst has room for the result.
package fastre

import (
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"
	"sync/atomic"
)

// Regexp is a compiled pattern.
type Regexp struct {
	expr  string
	names []string // regexp's SubexpNames
	std   func() *regexp.Regexp
	// prog is compiled from tree by the first call (see CompileParsed).
	progOnce sync.Once
	build    func()
	tree     *syntax.Regexp
	prog     *prog  // nil: every call goes to std
	why      string // why prog is nil
	required string // every match contains this (ASCII, case-sensitive)
	demoted  atomic.Bool
	pool     sync.Pool // *machine
}

// maxText keeps positions in the int32s of the backtrack stack.
const maxText = 1 << 30

// Compile parses a pattern with regexp's syntax (Perl flags) and returns
// its errors unchanged: regexp.Compile's only errors are its parse's.
//
// The regexp.Regexp inside is compiled on the first call that needs it
// (text with a byte >= 0x80, a fast attempt out of budget, a pattern the
// fast path does not take): on ASCII logs most patterns never do, and
// compiling it with each pattern was a third of the time the built-in
// packs took to load.
func Compile(pattern string) (*Regexp, error) {
	tree, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, err
	}
	return CompileParsed(pattern, tree), nil
}

// CompileParsed is Compile for a pattern its caller parsed already, with
// syntax.Perl, for what else it reads in the tree; the tree is not
// changed.
//
// The fast path's program is compiled by the first call, like the
// regexp.Regexp: a rule's regexes run only on the lines of its formats
// and programs, and a process that never sees them (a replay of an
// access log and the service packs' regexes) never pays for them.
func CompileParsed(pattern string, tree *syntax.Regexp) *Regexp {
	re := &Regexp{expr: pattern, names: tree.CapNames()}
	re.std = sync.OnceValue(func() *regexp.Regexp {
		// The same parse just succeeded.
		return regexp.MustCompile(pattern)
	})
	re.required = requiredLiteral(tree)
	nslots := 2 * (tree.MaxCap() + 1)
	re.tree = tree
	re.build = func() {
		re.prog, re.why = compileProg(re.tree)
		re.tree = nil
	}
	re.pool.New = func() any { return &machine{caps: make([]int, nslots)} }
	return re
}

// FindStringSubmatchIndex returns what regexp's FindStringSubmatchIndex
// returns: the index pairs of the match and its groups (-1 for a group that
// took no part), or nil. The result is built in dst when dst has the
// capacity, 2*(NumSubexp()+1).
func (re *Regexp) FindStringSubmatchIndex(s string, dst []int) []int {
	if re.required != "" && !strings.Contains(s, re.required) {
		return nil
	}
	return re.FindStringSubmatchIndexPrefiltered(s, dst)
}

// FindStringSubmatchIndexPrefiltered is FindStringSubmatchIndex for a
// caller whose own prefilter has just found in s the literals every match
// needs: it skips the scan for the literal this Regexp requires, a second
// pass over the line that finds what the caller found. Its result is
// FindStringSubmatchIndex's whatever s holds; a caller that checked less
// only pays for a search that fails.
func (re *Regexp) FindStringSubmatchIndexPrefiltered(s string, dst []int) []int {
	p := re.program()
	if p == nil || len(s) > maxText || re.demoted.Load() || !isASCII(s) {
		return re.slow(s, dst)
	}
	m := re.pool.Get().(*machine)
	r := p.search(m, s, true)
	re.count(m, r)
	if r == noMatch {
		re.pool.Put(m)
		return nil
	}
	if r == exhausted {
		re.pool.Put(m)
		return re.slow(s, dst)
	}
	if cap(dst) < len(m.caps) {
		dst = make([]int, len(m.caps))
	}
	dst = dst[:len(m.caps)]
	copy(dst, m.caps)
	re.pool.Put(m)
	return dst
}

func (re *Regexp) slow(s string, dst []int) []int {
	loc := re.std().FindStringSubmatchIndex(s)
	if loc == nil || cap(dst) < len(loc) {
		return loc
	}
	return append(dst[:0], loc...)
}

// MatchString reports whether s contains a match.
func (re *Regexp) MatchString(s string) bool {
	if re.required != "" && !strings.Contains(s, re.required) {
		return false
	}
	p := re.program()
	if p == nil || len(s) > maxText || re.demoted.Load() || !isASCII(s) {
		return re.std().MatchString(s)
	}
	m := re.pool.Get().(*machine)
	r := p.search(m, s, false)
	re.count(m, r)
	re.pool.Put(m)
	if r == exhausted {
		return re.std().MatchString(s)
	}
	return r == matched
}

// Demotion: a pattern that exhausts its budget on a quarter of the lines
// pays for the fast attempt and for regexp on each of them; past that,
// regexp alone is cheaper. A few attacker lines among many ordinary ones
// do not demote a pattern.
const (
	demoteWindow = 1024
	demoteMin    = 64
)

// count keeps the per-machine tally that decides demotion; a machine is
// used by one call at a time, so the counts need no atomics.
func (re *Regexp) count(m *machine, r result) {
	m.calls++
	if r == exhausted {
		m.exhausts++
		if m.exhausts >= demoteMin && 4*m.exhausts >= m.calls {
			re.demoted.Store(true)
		}
	}
	if m.calls >= demoteWindow {
		m.calls /= 2
		m.exhausts /= 2
	}
}

// SubexpNames returns the names of the groups, "" for unnamed ones, as
// regexp's SubexpNames does (index 0 is the whole match).
func (re *Regexp) SubexpNames() []string { return re.names }

// NumSubexp returns the number of groups.
func (re *Regexp) NumSubexp() int { return len(re.names) - 1 }

// String returns the pattern.
func (re *Regexp) String() string { return re.expr }

// Fast reports whether the fast path takes this pattern at all. When it is
// false every call goes to regexp.
func (re *Regexp) Fast() bool { return re.program() != nil && !re.demoted.Load() }

// program is the fast path's program (nil: none, see why), compiled by
// the first call.
func (re *Regexp) program() *prog {
	re.progOnce.Do(re.build)
	return re.prog
}
