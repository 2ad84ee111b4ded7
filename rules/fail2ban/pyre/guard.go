package pyre

import (
	"strings"
	"unicode/utf8"

	"github.com/stockade-ids/stockade/rules/regex"
)

// A negative lookaround of a literal, (?!L) or (?<!L), asks whether L
// starts (or ends) at a position; in a text that does not hold L
// anywhere the answer is no at every position, and the lookaround
// always holds. On such a text the pattern matches exactly as the
// pattern without the lookaround does: same match, same groups, the
// same preferences, since an assertion that always holds is the empty
// string to a backtracking engine. sshd's "Connection closed" failregex
// of the normal mode, (?:: (?!Too many authentication failures)[^\[]+)?,
// kept every "Connection closed by invalid user" line on regexp2, 10 to
// 18 µs a line, where RE2 takes well under one; the literal is rare in
// an auth.log.
//
// So a pattern RE2 cannot express only because of such lookarounds runs
// as a guard: the pattern without them on RE2, and the whole pattern on
// regexp2 for the texts that hold one of the literals.

// guardEngine dispatches a text to fast (the pattern without its negative
// literal lookarounds) when it holds none of lits, else to slow (the
// whole pattern, on the backtracking engine).
type guardEngine struct {
	fast, slow regex.Engine
	lits       []string
}

func (e *guardEngine) pick(text string) regex.Engine {
	for _, l := range e.lits {
		if strings.Contains(text, l) {
			return e.slow
		}
	}
	return e.fast
}

func (e *guardEngine) Submatch(text string, dst []int) []int {
	return e.pick(text).Submatch(text, dst)
}

func (e *guardEngine) Match(text string) bool { return e.pick(text).Match(text) }

// Names are the caller's to supply (see named).
func (e *guardEngine) Names() []string { return e.slow.Names() }

// Kind is "re2+regexp2": RE2 but for the texts holding a literal.
func (e *guardEngine) Kind() string { return "re2+regexp2" }

// Faults reports the matches regexp2 gave up.
func (e *guardEngine) Faults() uint64 { return regex.Faults(e.slow) }

// guard returns r as a guardEngine around slow (r whole, on regexp2), or
// nil when the pattern without its negative literal lookarounds does not
// run on RE2 either, or it has none. The lookarounds of loops RE2 writes
// without them (avoidLoop) are kept at first: their literals (sshd's
// " from ") are in most lines, where the guard would send every line to
// regexp2.
func (r *Regexp) guard(singleLine bool, slow regex.Engine) regex.Engine {
	for _, keepLoops := range []bool{true, false} {
		var lits []string
		root, ok := stripLooks(r.root, keepLoops, &lits)
		if !ok || len(lits) == 0 {
			continue
		}
		fast, err := (&Regexp{root: root, names: r.names}).Compile(singleLine)
		if err != nil || fast.Kind() != "re2" {
			continue
		}
		return &guardEngine{fast: fast, slow: slow, lits: lits}
	}
	return nil
}

// stripLooks returns n with its negative literal lookarounds replaced by
// the empty string, their literals added to lits; n itself when it holds
// none. ok is false when n holds another lookaround (a positive one, or
// one of anything but a plain literal): the guard cannot do without it.
// With keepLoops, loops avoidLoop recognises are left whole.
func stripLooks(n *node, keepLoops bool, lits *[]string) (_ *node, ok bool) {
	if keepLoops {
		if _, loop := avoidLoop(n); loop {
			return n, true
		}
	}
	if n.op == opLook {
		lit, ok := lookLiteral(n)
		if !ok {
			return nil, false
		}
		*lits = append(*lits, lit)
		return &node{op: opEmpty}, true
	}
	var subs []*node
	for i, s := range n.subs {
		t, ok := stripLooks(s, keepLoops, lits)
		if !ok {
			return nil, false
		}
		if t != s && subs == nil {
			subs = append([]*node(nil), n.subs...)
		}
		if subs != nil {
			subs[i] = t
		}
	}
	if subs == nil {
		return n, true
	}
	c := *n
	c.subs = subs
	return &c, true
}

// lookLiteral returns the literal of a negative lookaround of a plain,
// case-sensitive literal of at least one character: a run of literals,
// possibly in non-capturing groups.
func lookLiteral(n *node) (string, bool) {
	if !n.neg {
		return "", false
	}
	var b strings.Builder
	var add func(m *node) bool
	add = func(m *node) bool {
		m = unwrap(m)
		switch m.op {
		case opLit:
			if m.fold {
				return false
			}
			for _, r := range m.runes {
				if r == utf8.RuneError {
					// regexp2 reads invalid UTF-8 as U+FFFD, which the
					// text's bytes do not spell.
					return false
				}
				b.WriteRune(r)
			}
			return true
		case opConcat:
			for _, s := range m.subs {
				if !add(s) {
					return false
				}
			}
			return true
		}
		return false
	}
	if !add(n.subs[0]) || b.Len() == 0 {
		return "", false
	}
	return b.String(), true
}
