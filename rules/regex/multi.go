package regex

import "strings"

// Multi finds which of many literals occur in a text in one pass, ASCII
// case-insensitively. A rule set uses one over every rule's required
// literals (see FoldRequirement) so that a line is read once, not once
// per rule, and a rule none of whose literals occur is never tried.
//
// Each literal is anchored on its rarest pair of bytes (a log line is
// full of letters, digits, slashes and dots; "${", "%2", "kt" are rare),
// and the scan tests each pair of the text against a bitmap of anchors:
// every step is independent of the last, so the processor overlaps them
// (an Aho-Corasick automaton's steps each wait for the one before, and
// its table of thousands of states falls out of the cache: it read an
// access line five times slower). Only at an anchor are the literals that
// hold it compared.
type Multi struct {
	pairs   [1 << 8]uint64      // a bit per folded 7-bit byte pair that anchors a literal
	singles [2]uint64           // a bit per folded ASCII byte that is a literal
	anchors map[uint16][]anchor // by pair (bit 15 set) or single byte: the literals there
	lits    []string            // lower case
}

type anchor struct {
	id  int32
	off int // where the pair is in the literal
}

// NewMulti compiles lits (matched without regard to ASCII case).
func NewMulti(lits []string) *Multi {
	m := &Multi{anchors: map[uint16][]anchor{}}
	for id, l := range lits {
		l = LowerASCII(l)
		m.lits = append(m.lits, l)
		switch len(l) {
		case 0:
		case 1:
			c := l[0] & 0x7f
			m.singles[c>>6] |= 1 << (c & 63)
			m.anchors[uint16(c)] = append(m.anchors[uint16(c)], anchor{int32(id), 0})
		default:
			off := 0
			for i := 1; i+1 < len(l); i++ {
				if commonness(l[i])+commonness(l[i+1]) < commonness(l[off])+commonness(l[off+1]) {
					off = i
				}
			}
			p := pair(l[off], l[off+1])
			m.pairs[p>>6] |= 1 << (p & 63)
			m.anchors[p|0x8000] = append(m.anchors[p|0x8000], anchor{int32(id), off})
		}
	}
	return m
}

// pair packs two ASCII bytes, 7 bits each.
func pair(a, b byte) uint16 { return uint16(a&0x7f)<<7 | uint16(b&0x7f) }

// commonness ranks how often a byte occurs in log lines: letters by
// their frequency in English, digits and the punctuation of URLs and
// logs as the most common.
func commonness(c byte) int {
	const letters = "zqxjkvbpygfwmucldrhsnioate"
	switch {
	case c >= 'a' && c <= 'z':
		return 4 + strings.IndexByte(letters, c)
	case c >= '0' && c <= '9', c == '/', c == '.', c == ' ', c == '-', c == '"', c == ':':
		return 30
	}
	return 0
}

var fold = func() (t [256]byte) {
	for i := range t {
		t[i] = lower(byte(i))
	}
	return t
}()

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// Scan calls found with each literal that occurs in text and where
// (text[start:end]). It reports false, and stops, at the first byte that
// is not ASCII: the literals come from case-insensitive regexes, and
// Unicode folds some other characters onto ASCII letters (K, the Kelvin
// sign, onto k), so a text that is not ASCII tells the caller nothing and
// every rule must be tried.
func (m *Multi) Scan(text string, found func(id int32, start, end int)) bool {
	n := len(text)
	for i := 0; i < n; i++ {
		c := text[i]
		if c >= 0x80 {
			return false
		}
		c = fold[c]
		if m.singles[c>>6]&(1<<(c&63)) != 0 {
			for _, a := range m.anchors[uint16(c)] {
				found(a.id, i, i+1)
			}
		}
		if i+1 == n {
			break
		}
		p := pair(c, fold[text[i+1]])
		if m.pairs[p>>6]&(1<<(p&63)) == 0 {
			continue
		}
		for _, a := range m.anchors[p|0x8000] {
			l := m.lits[a.id]
			if s := i - a.off; s >= 0 && s+len(l) <= n && equalFold(text[s:s+len(l)], l) {
				found(a.id, s, s+len(l))
			}
		}
	}
	return true
}

// equalFold compares t with the lower-case ASCII l.
func equalFold(t, l string) bool {
	for i := 0; i < len(l); i++ {
		if fold[t[i]] != l[i] {
			return false
		}
	}
	return true
}

// Set sets literal id's bit in found.
func Set(found []uint64, id int32) { found[id>>6] |= 1 << (id & 63) }

// LowerASCII folds ASCII letters to lower case.
func LowerASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}
