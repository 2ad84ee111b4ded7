package pyre

import "github.com/stockade-ids/stockade/rules/regex"

// ByteSet is a set of bytes, the native rules' lead set.
type ByteSet = regex.Lead

// Lead returns what every match of the pattern starts with, byte by
// byte, when every match begins at the text's start (\A, or ^ without
// MULTILINE): lead[k] holds the bytes that can stand k bytes into a
// match. It stops at the first part that is not one ASCII character from
// a small set (a Unicode class, a folded letter; of a repetition, its
// first round), at most limit bytes; nil when the pattern is not so anchored or starts with none.
//
// fail2ban's failregexes are anchored at the start of the prefregex's
// content and begin with the words of the message ("Failed ", "Invalid
// user ", "pam_"): a few bytes of the content rule most of them out
// before any scan of the line.
func (r *Regexp) Lead(limit int) []ByteSet {
	lb := leadBuilder{limit: limit}
	if !lb.anchored(r.root) {
		return nil
	}
	return lb.sets
}

type leadBuilder struct {
	sets  []ByteSet
	limit int
	// started: the \A that anchors the pattern was passed.
	started, done bool
}

// anchored walks n while it starts with \A and then reads the lead after
// it; it reports whether the anchor was found.
func (lb *leadBuilder) anchored(n *node) bool {
	lb.walk(n)
	return lb.started && len(lb.sets) > 0
}

// walk reads n into the lead, in order, until a part it cannot read.
func (lb *leadBuilder) walk(n *node) {
	switch {
	case lb.done:
	case !lb.started:
		lb.start(n)
	default:
		lb.read(n)
	}
}

// start looks for the \A that n begins with, then reads what follows.
func (lb *leadBuilder) start(n *node) {
	switch n.op {
	case opBeginText:
		lb.started = true
	case opConcat:
		if len(n.subs) == 0 {
			lb.done = true
			return
		}
		lb.walk(n.subs[0])
		if lb.started {
			for _, s := range n.subs[1:] {
				lb.walk(s)
			}
		}
		lb.done = lb.done || !lb.started
	case opGroup:
		if n.atomic {
			lb.done = true
			return
		}
		lb.walk(n.subs[0])
	default:
		lb.done = true
	}
}

// read reads n, past the anchor, into the lead.
func (lb *leadBuilder) read(n *node) {
	switch n.op {
	case opEmpty:
	case opLit:
		for _, c := range n.runes {
			if c >= 0x80 || n.fold || !lb.push(singleByte(byte(c))) {
				lb.done = true
				return
			}
		}
	case opClass:
		set, ok := asciiClass(n)
		if !ok || !lb.push(set) {
			lb.done = true
		}
	case opConcat:
		for _, s := range n.subs {
			lb.walk(s)
		}
	case opGroup:
		lb.walk(n.subs[0])
	case opRepeat:
		if n.min >= 1 {
			lb.walk(n.subs[0])
		}
		lb.done = true
	case opAlt:
		lb.alt(n)
		lb.done = true
	default:
		lb.done = true
	}
}

// alt reads the leads of an alternation's branches, position by
// position as long as every branch has one: a match starts with one of
// them, so its bytes are in their union. "(Connection |Disconnected)"
// is [CD][oi][ns]..., which a cron line's "CRON[" fails at its second
// byte.
func (lb *leadBuilder) alt(n *node) {
	var leads [][]ByteSet
	short := lb.limit - len(lb.sets)
	for _, b := range n.subs {
		sub := leadBuilder{limit: lb.limit - len(lb.sets), started: true}
		sub.walk(b)
		if len(sub.sets) == 0 {
			return
		}
		leads = append(leads, sub.sets)
		short = min(short, len(sub.sets))
	}
	for k := range short {
		var u ByteSet
		for _, l := range leads {
			for i := range u {
				u[i] |= l[k][i]
			}
		}
		lb.sets = append(lb.sets, u)
	}
}

// push appends a position, false when the lead is full.
func (lb *leadBuilder) push(s ByteSet) bool {
	if len(lb.sets) >= lb.limit {
		return false
	}
	lb.sets = append(lb.sets, s)
	return true
}

func singleByte(c byte) ByteSet {
	var s ByteSet
	s.Add(c)
	return s
}

// asciiClass is the set of a class that can only match ASCII characters
// as written: ranges below 0x80, not negated, no category (Python's \d,
// \w and \s are Unicode) and no IGNORECASE (which takes k and s out of
// ASCII).
func asciiClass(n *node) (ByteSet, bool) {
	var s ByteSet
	if n.fold || n.cls.neg {
		return s, false
	}
	for _, it := range n.cls.items {
		if it.cat != 0 || it.hi >= 0x80 {
			return s, false
		}
		for c := it.lo; c <= it.hi; c++ {
			s.Add(byte(c))
		}
	}
	return s, true
}

// Strings returns, when the pattern is made of literals, alternations,
// concatenations and optional parts only (no capture, no class, no
// flag), the strings it matches in the order a backtracking engine tries
// them: "(?:(?:error|fatal): (?:PAM: )?)?" is "error: PAM: ", "error: ",
// "fatal: PAM: ", "fatal: ", "". False when it is not so made or has more
// than limit strings.
func (r *Regexp) Strings(limit int) ([]string, bool) {
	return expandStrings(r.root, limit)
}

func expandStrings(n *node, limit int) ([]string, bool) {
	switch n.op {
	case opEmpty:
		return []string{""}, true
	case opLit:
		if n.fold {
			return nil, false
		}
		return []string{string(n.runes)}, true
	case opGroup:
		if n.cap > 0 || n.atomic {
			return nil, false
		}
		return expandStrings(n.subs[0], limit)
	case opAlt:
		var out []string
		for _, b := range n.subs {
			s, ok := expandStrings(b, limit)
			if !ok || len(out)+len(s) > limit {
				return nil, false
			}
			out = append(out, s...)
		}
		return out, true
	case opConcat:
		out := []string{""}
		for _, sub := range n.subs {
			s, ok := expandStrings(sub, limit)
			if !ok || len(out)*len(s) > limit {
				return nil, false
			}
			next := make([]string, 0, len(out)*len(s))
			for _, a := range out {
				for _, b := range s {
					next = append(next, a+b)
				}
			}
			out = next
		}
		return out, true
	case opRepeat:
		if n.min != 0 || n.max != 1 || n.possessive {
			return nil, false
		}
		s, ok := expandStrings(n.subs[0], limit)
		if !ok || len(s)+1 > limit {
			return nil, false
		}
		if n.lazy {
			return append([]string{""}, s...), true
		}
		return append(s, ""), true
	}
	return nil, false
}
