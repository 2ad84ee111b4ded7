package pyre

import (
	"strings"
	"unicode/utf8"

	"github.com/stockade-ids/stockade/rules/regex"
)

// Two things keep many of fail2ban's regexes off RE2 that hold on most
// lines. A negative lookaround of a literal, (?!L) or (?<!L), asks
// whether L starts (or ends) at a position; in a text that does not hold
// L anywhere the answer is no at every position, and the lookaround
// always holds. And Python's \b is Unicode's (RE2's is ASCII's), but
// between two ASCII characters, or an ASCII one and the text's edge,
// both say the same: on an ASCII text they agree at every position. On
// such texts the pattern matches exactly as the pattern without the
// lookarounds, its \b ASCII's, does: the same match, the same groups,
// the same preferences, since an assertion that always holds is the
// empty string to a backtracking engine. fail2ban 1.1's sshd
// "Connection closed" failregex, (?:: (?!Too many authentication
// failures)[^\[]+)?, kept every "Connection closed by invalid user" line
// on regexp2, 2.3 µs a line where RE2 takes 0.27 (BenchmarkGuards in
// jailconf); postfix's and eleven of apache-auth's failregexes end in \b.
//
// So a pattern RE2 cannot express only because of those runs as a guard:
// the relaxed pattern on RE2, and the whole pattern on regexp2 for the
// texts that hold one of the literals, or a byte past ASCII when a \b
// was made ASCII's.

// guardEngine dispatches a text to fast (the pattern relaxed) when it
// holds none of lits and, if ascii, no byte past ASCII; else to slow (the
// whole pattern, on the backtracking engine).
type guardEngine struct {
	fast, slow regex.Engine
	lits       []string
	ascii      bool
}

func (e *guardEngine) pick(text string) regex.Engine {
	if e.ascii && !regex.IsASCII(text) {
		return e.slow
	}
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

// Kind is "re2+regexp2": RE2 but for the texts the guard sends on.
func (e *guardEngine) Kind() string { return "re2+regexp2" }

// Faults reports the matches regexp2 gave up.
func (e *guardEngine) Faults() uint64 { return regex.Faults(e.slow) }

// guard returns r as a guardEngine around slow (r whole, on regexp2), or
// nil when the pattern relaxed does not run on RE2 either, or there is
// nothing to relax. The lookarounds of loops RE2 writes without them
// (avoidLoop) are kept at first: their literals (sshd's " from ") are in
// most lines, where the guard would send every line to regexp2.
func (r *Regexp) guard(singleLine bool, slow regex.Engine) regex.Engine {
	for _, keepLoops := range []bool{true, false} {
		var rx relaxed
		root, ok := rx.relax(r.root, keepLoops)
		if !ok || (len(rx.lits) == 0 && !rx.ascii) {
			continue
		}
		fast, err := (&Regexp{root: root, names: r.names}).Compile(singleLine)
		if err != nil || fast.Kind() != "re2" {
			continue
		}
		return &guardEngine{fast: fast, slow: slow, lits: rx.lits, ascii: rx.ascii}
	}
	return nil
}

// relaxed is what relax did: the literals of the lookarounds it left out,
// and whether it made a Unicode \b ASCII's.
type relaxed struct {
	lits  []string
	ascii bool
}

// relax returns n with its negative literal lookarounds replaced by the
// empty string and its Unicode word boundaries made ASCII's, noting what
// it did; n itself when there was nothing to do. ok is false when n holds
// another lookaround (a positive one, or one of anything but a plain
// literal): the guard cannot do without it. With keepLoops, loops
// avoidLoop recognises are left whole.
func (rx *relaxed) relax(n *node, keepLoops bool) (_ *node, ok bool) {
	if keepLoops {
		if _, loop := avoidLoop(n); loop {
			return n, true
		}
	}
	switch {
	case n.op == opLook:
		lits, ok := lookLiterals(n)
		if !ok {
			return nil, false
		}
		rx.lits = append(rx.lits, lits...)
		return &node{op: opEmpty}, true
	case (n.op == opWordB || n.op == opNotWordB) && !n.ascii:
		rx.ascii = true
		c := *n
		c.ascii = true
		return &c, true
	}
	var subs []*node
	for i, s := range n.subs {
		t, ok := rx.relax(s, keepLoops)
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

// lookLiterals returns the literals of a negative lookaround of plain,
// case-sensitive literals of at least one character each: (?!L) or an
// alternation of them, (?!L1|L2) (postfix's SASL failregex), each a run
// of literals, possibly in non-capturing groups. Such a lookaround holds
// wherever none of them starts (or ends).
func lookLiterals(n *node) ([]string, bool) {
	if !n.neg {
		return nil, false
	}
	body := unwrap(n.subs[0])
	alts := []*node{body}
	if body.op == opAlt {
		alts = body.subs
	}
	var lits []string
	for _, a := range alts {
		l, ok := literalOf(a)
		if !ok {
			return nil, false
		}
		lits = append(lits, l)
	}
	return lits, true
}

// literalOf returns the text n always matches when it is a run of plain,
// case-sensitive literals of at least one character.
func literalOf(n *node) (string, bool) {
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
	if !add(n) || b.Len() == 0 {
		return "", false
	}
	return b.String(), true
}
