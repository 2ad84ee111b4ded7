package regex

import (
	"encoding/binary"
	"slices"
	"strings"
	"unsafe"
)

// Multi finds which of many literals occur in a text in one pass, ASCII
// case-insensitively. A rule set uses one over every rule's required
// literals (see FoldRequirement) so that a line is read once, not once
// per rule, and a rule none of whose literals occur is never tried.
//
// Each literal is anchored on its rarest byte pairs (a log line is full
// of letters, digits, slashes and dots; "${", "%2", "kt" are rare), and
// the scan tests the pairs at even positions of the text against a
// bitmap of anchors: every step is independent of the last, so the
// processor overlaps them (an Aho-Corasick automaton's steps each wait
// for the one before, and its table of thousands of states falls out of
// the cache: it read an access line five times slower). A literal is
// anchored on two overlapping pairs, one of which starts at an even
// position wherever it lies. Only at an anchor are the literals that
// hold it compared.
type Multi struct {
	// raw has a bit per pair of bytes as they are in the text (the first
	// in the low byte) whose folded pair anchors a literal: the scan
	// tests two bytes with one load, no case folding, in 8 kB that stay
	// in the cache. Only at a set bit is the pair folded (see pair).
	raw [1 << 10]uint64
	// table, when built (WithTable), is raw a byte per pair: what the
	// skip over a text costs per pair is then one load of the pair and
	// one of its byte, where a bit costs five more instructions to pick
	// out. 64 kB, of which ordinary text touches a fifth: only for the
	// scans every line takes.
	table   *[1 << 16]uint8
	index   [1 << 14]uint16 // by folded pair: 1 + where its literals are in anchors
	anchors [][]anchor
	lits    []string // lower case
	// exact, when set (NewMultiExact), holds the literals as given, and
	// a literal is found only where it occurs byte for byte.
	exact []string
	// tri has a bit per folded triple of bytes (hashed, see triBit) that
	// a literal is anchored on: its anchor pair and the byte after it,
	// or the byte before it and its anchor pair. A pair of ordinary text
	// anchors some literal twice a line ("on" of "/icons/", "nd" of
	// SQL's "and"), where the triple it starts or ends ("one", "and ")
	// is rarely one: 4 kB in the cache spare those the lookup of index,
	// 32 kB that are not, and the literals' comparison.
	tri [1 << 9]uint64
	// short has a bit per folded pair that anchors a literal of one or
	// two bytes, which has no triple: such an anchor is always tried.
	short [1 << 8]uint64
}

type anchor struct {
	id  int32
	off int // where the pair starts in the literal (-1: one byte before)
}

// NewMulti compiles lits (matched without regard to ASCII case).
func NewMulti(lits []string) *Multi {
	m := &Multi{}
	add := func(key int, a anchor) {
		if n := len(lits[a.id]); n < 3 {
			m.short[key>>6] |= 1 << (key & 63)
		}
		for _, x := range cases(byte(key >> 7)) {
			for _, y := range cases(byte(key & 0x7f)) {
				r := int(x) | int(y)<<8
				m.raw[r>>6] |= 1 << (r & 63)
			}
		}
		if m.index[key] == 0 {
			m.anchors = append(m.anchors, nil)
			m.index[key] = uint16(len(m.anchors))
		}
		i := m.index[key] - 1
		m.anchors[i] = append(m.anchors[i], a)
	}
	for id, l := range lits {
		l = LowerASCII(l)
		m.lits = append(m.lits, l)
		// The scan reads the pairs at even positions only, so each
		// literal is found through a pair that starts at one.
		switch len(l) {
		case 0:
		case 1:
			// c at an even position begins a pair (c, x), at an odd one
			// ends a pair (x, c); x is any byte, or the NUL after the text.
			for x := 0; x < 128; x++ {
				add(int(pair(l[0], byte(x))), anchor{int32(id), 0})
				add(int(pair(byte(x), l[0])), anchor{int32(id), -1})
			}
		case 2:
			// ab at an even position is the pair (a, b); at an odd one,
			// b begins the next pair.
			add(int(pair(l[0], l[1])), anchor{int32(id), 0})
			for x := 0; x < 128; x++ {
				add(int(pair(l[1], byte(x))), anchor{int32(id), 1})
			}
		default:
			// Two overlapping pairs, one of which starts at an even
			// position: the rarest such triple.
			off := 0
			for i := 1; i+2 < len(l); i++ {
				if pairCost(l[i], l[i+1])+pairCost(l[i+1], l[i+2]) < pairCost(l[off], l[off+1])+pairCost(l[off+1], l[off+2]) {
					off = i
				}
			}
			add(int(pair(l[off], l[off+1])), anchor{int32(id), off})
			add(int(pair(l[off+1], l[off+2])), anchor{int32(id), off + 1})
			b := triBit(l[off], l[off+1], l[off+2])
			m.tri[b>>6] |= 1 << (b & 63)
		}
	}
	return m
}

// WithTable builds m's byte table (see Multi.table) and returns m: for
// a Multi that reads every line of a log, it skips the text between
// anchors in about three fifths of the instructions, for 64 kB.
func (m *Multi) WithTable() *Multi {
	t := new([1 << 16]uint8)
	for p := range t {
		if m.raw[p>>6]&(1<<(p&63)) != 0 {
			t[p] = 1
		}
	}
	m.table = t
	return m
}

// cases are the bytes that fold to the 7-bit byte c: c, and its upper
// case for a letter.
func cases(c byte) []byte {
	if c >= 'a' && c <= 'z' {
		return []byte{c, c - ('a' - 'A')}
	}
	return []byte{c}
}

// pair packs two ASCII bytes, 7 bits each.
func pair(a, b byte) uint16 { return uint16(a&0x7f)<<7 | uint16(b&0x7f) }

// pairCost ranks how often a byte pair occurs in log lines: first by
// its count in typical lines (browsers' user agents, URLs), then by its
// letters' frequency in English.
func pairCost(a, b byte) int {
	return 100*typicalPairs[pair(a, b)] + commonness(a) + commonness(b)
}

// typical is what most access-log lines are made of.
const typical = `198.51.100.7 - - [01/Nov/2025:00:00:01 +0000] "GET /index.html HTTP/1.1" 200 5120 ` +
	`"https://www.example.com/blog/2025/11/hello-world?page=2&lang=en" ` +
	`"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0" ` +
	`"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0" ` +
	`"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1" ` +
	`"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) (Linux; Android 14; SM-S918B) (compatible; Googlebot/2.1; +http://www.google.com/bot.html)" ` +
	`/css/site.css /js/app.js /img/logo.png /images/ /static/ /assets/ /favicon.ico /feed.xml /search?q= /about /api/v1/ /wp-content/uploads/ /wp-login.php`

var typicalPairs = func() (t [1 << 14]int) {
	for i := 0; i+1 < len(typical); i++ {
		t[pair(fold[typical[i]], fold[typical[i+1]])]++
	}
	return t
}()

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
// (text[start:end]). It reports false for a text that is not ASCII,
// whatever it reported before it knew: the literals come from
// case-insensitive regexes, and Unicode folds some other characters
// onto ASCII letters (K, the Kelvin sign, onto k), so a text that is not
// ASCII tells the caller nothing and every rule must be tried.
func (m *Multi) Scan(text string, found func(id int32, start, end int)) bool {
	return m.scan(text, func(i int) {
		for _, a := range m.at(text, i) {
			l := m.lits[a.id]
			if s := i - a.off; s >= 0 && s+len(l) <= len(text) && m.equal(text[s:s+len(l)], a.id) {
				found(a.id, s, s+len(l))
			}
		}
	})
}

// Find sets bit id of found (a bit per literal) for each literal id that
// occurs in text, what Scan reports, when the caller needs to know which
// literals a text holds and not where. It reports false, the bits then
// saying nothing, for a text that is not ASCII (see Scan).
func (m *Multi) Find(text string, found []uint64) bool {
	return m.scan(text, func(i int) {
		for _, a := range m.at(text, i) {
			l := m.lits[a.id]
			if s := i - a.off; s >= 0 && s+len(l) <= len(text) && m.equal(text[s:s+len(l)], a.id) {
				found[a.id>>6] |= 1 << (a.id & 63)
			}
		}
	})
}

// scan calls anchor with each even position of text whose pair of bytes
// (the last byte is paired with the NUL after the text) anchors a
// literal, and reports whether text is ASCII. The test for ASCII rides
// on the scan's own loads rather than a pass of its own.
func (m *Multi) scan(text string, anchor func(i int)) bool {
	var high uint64
	t := text
	for {
		var h uint64
		if tab := m.table; tab != nil {
			t, h = m.skipTable(t)
			high |= h
			if len(t) < 8 {
				break
			}
			// The group skipTable stopped at: its four pairs.
			i := len(text) - len(t)
			w := le64(t, 0)
			if tab[uint16(w)] != 0 && m.maybe(text, i) {
				anchor(i)
			}
			if tab[uint16(w>>16)] != 0 && m.maybe(text, i+2) {
				anchor(i + 2)
			}
			if tab[uint16(w>>32)] != 0 && m.maybe(text, i+4) {
				anchor(i + 4)
			}
			if tab[uint16(w>>48)] != 0 && m.maybe(text, i+6) {
				anchor(i + 6)
			}
			t = t[8:]
			continue
		}
		t, h = m.skip(t)
		high |= h
		if len(t) < 8 {
			break
		}
		i := len(text) - len(t)
		w := le64(t, 0)
		for k := 0; k < 8; k, w = k+2, w>>16 {
			if r := uint(w) & 0xffff; m.raw[r>>6]&(1<<(r&63)) != 0 && m.maybe(text, i+k) {
				anchor(i + k)
			}
		}
		t = t[8:]
	}
	for i := len(text) - len(t); i < len(text); i += 2 {
		r := uint(text[i])
		if i+1 < len(text) {
			r |= uint(text[i+1]) << 8
		}
		high |= uint64(r)
		if m.raw[r>>6&(1<<10-1)]&(1<<(r&63)) != 0 && m.maybe(text, i) {
			anchor(i)
		}
	}
	return high&0x8080808080808080 == 0
}

// skip returns t from its first group of eight bytes that holds an
// anchor, or its last seven bytes at most, and the OR of the bytes it
// passed. Four pairs are tested with one load, eight with one branch:
// most groups hold no anchor. The loop calls nothing, so that what it
// needs stays in registers.
func (m *Multi) skip(t string) (rest string, high uint64) {
	raw := &m.raw
	i := 0
	for ; i <= len(t)-16; i += 16 {
		w, v := le64(t, i), le64(t, i+8)
		p0, p1, p2, p3 := uint(w)&0xffff, uint(w>>16)&0xffff, uint(w>>32)&0xffff, uint(w>>48)
		q0, q1, q2, q3 := uint(v)&0xffff, uint(v>>16)&0xffff, uint(v>>32)&0xffff, uint(v>>48)
		hw := (raw[p0>>6]>>(p0&63) | raw[p1>>6]>>(p1&63) | raw[p2>>6]>>(p2&63) | raw[p3>>6]>>(p3&63)) & 1
		hv := (raw[q0>>6]>>(q0&63) | raw[q1>>6]>>(q1&63) | raw[q2>>6]>>(q2&63) | raw[q3>>6]>>(q3&63)) & 1
		if hw|hv != 0 {
			if hw != 0 {
				return t[i:], high | w
			}
			return t[i+8:], high | w | v
		}
		high |= w | v
	}
	t = t[i:]
	if len(t) >= 8 {
		w := le64(t, 0)
		p0, p1, p2, p3 := uint(w)&0xffff, uint(w>>16)&0xffff, uint(w>>32)&0xffff, uint(w>>48)
		if (raw[p0>>6]>>(p0&63)|raw[p1>>6]>>(p1&63)|raw[p2>>6]>>(p2&63)|raw[p3>>6]>>(p3&63))&1 != 0 {
			return t, high | w
		}
		high |= w
		t = t[8:]
	}
	return t, high
}

// skipTable is skip by the byte table: the pairs are loaded as they
// lie in the text (little-endian, as raw's pairs are), sixteen bytes
// a step.
func (m *Multi) skipTable(t string) (rest string, high uint64) {
	tab := m.table
	i := 0
	if len(t) >= 16 {
		base := unsafe.Pointer(unsafe.StringData(t))
		for ; i <= len(t)-16; i += 16 {
			at := unsafe.Add(base, i)
			hw := tab[*(*uint16)(at)] | tab[*(*uint16)(unsafe.Add(at, 2))] |
				tab[*(*uint16)(unsafe.Add(at, 4))] | tab[*(*uint16)(unsafe.Add(at, 6))]
			hv := tab[*(*uint16)(unsafe.Add(at, 8))] | tab[*(*uint16)(unsafe.Add(at, 10))] |
				tab[*(*uint16)(unsafe.Add(at, 12))] | tab[*(*uint16)(unsafe.Add(at, 14))]
			w, v := *(*uint64)(at), *(*uint64)(unsafe.Add(at, 8))
			if hw|hv != 0 {
				if hw != 0 {
					return t[i:], high | w
				}
				return t[i+8:], high | w | v
			}
			high |= w | v
		}
	}
	t = t[i:]
	if len(t) >= 8 {
		w := le64(t, 0)
		if m.any4(w) {
			return t, high | w
		}
		high |= w
		t = t[8:]
	}
	return t, high
}

// le64 is the eight bytes of t at i, the first in the low byte, in one
// load: binary.LittleEndian on a []byte of a string adds a test for the
// empty string to every step.
func le64(t string, i int) uint64 {
	b := t[i : i+8]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// triBit is the bit of tri for the triple a, b, c, folded.
func triBit(a, b, c byte) uint32 {
	return (uint32(fold[a])<<16 | uint32(fold[b])<<8 | uint32(fold[c])) * 0x9e3779b1 >> (32 - 15)
}

// maybe reports whether a literal can lie at the anchor at text[i] (an
// even position whose pair is set in raw): the pair with the byte after
// it, or the byte before it with the pair, is a triple in tri, or the
// pair anchors a literal too short to have one. A literal anchored on
// the pair at its offset o holds the triple there; one anchored on the
// pair at o+1 holds it from the byte before: so maybe never refuses a
// position where a literal lies.
func (m *Multi) maybe(text string, i int) bool {
	if i+2 < len(text) {
		if b := triBit(text[i], text[i+1], text[i+2]); m.tri[b>>6]&(1<<(b&63)) != 0 {
			return true
		}
	}
	if i > 0 && i+1 < len(text) {
		if b := triBit(text[i-1], text[i], text[i+1]); m.tri[b>>6]&(1<<(b&63)) != 0 {
			return true
		}
	}
	p := uint(fold[text[i]]&0x7f) << 7
	if i+1 < len(text) {
		p |= uint(fold[text[i+1]] & 0x7f)
	}
	return m.short[p>>6]&(1<<(p&63)) != 0
}

// at is the literals anchored on the pair at text[i:] (the byte at i
// and the one after it, NUL past the end), folded as the pairs of
// NewMulti are. raw's bits are a superset: a literal byte that is no
// ASCII lower case letter nor what folding gives (an upper case one, or
// one past 0x7f, masked) sets raw bits no folded pair has.
func (m *Multi) at(text string, i int) []anchor {
	p := uint(fold[text[i]]&0x7f) << 7
	if i+1 < len(text) {
		p |= uint(fold[text[i+1]] & 0x7f)
	}
	if ix := m.index[p]; ix != 0 {
		return m.anchors[ix-1]
	}
	return nil
}

// any4 reports whether one of the four pairs of bytes in w (eight bytes
// of text, the first in the low byte) is an anchor in raw.
func (m *Multi) any4(w uint64) bool {
	raw := &m.raw
	p0, p1, p2, p3 := uint(w)&0xffff, uint(w>>16)&0xffff, uint(w>>32)&0xffff, uint(w>>48)
	return (raw[p0>>6]>>(p0&63)|raw[p1>>6]>>(p1&63)|raw[p2>>6]>>(p2&63)|raw[p3>>6]>>(p3&63))&1 != 0
}

// IsASCII reports whether s has no byte >= 0x80, eight bytes a step.
func IsASCII(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if binary.LittleEndian.Uint64([]byte(s[i:i+8]))&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// equal reports whether t (as long as literal id) is literal id: byte for
// byte in an exact Multi, ignoring ASCII case otherwise.
func (m *Multi) equal(t string, id int32) bool {
	if m.exact != nil {
		return t == m.exact[id]
	}
	return equalFold(t, m.lits[id])
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

// Mask is Scan for a Multi of at most 64 literals, without a callback:
// bit i of the result says literal i occurs in text. ok is false, and
// every bit set, for a text that is not ASCII (see Scan).
func (m *Multi) Mask(text string) (found uint64, ok bool) {
	n := len(text)
	if !IsASCII(text) {
		return ^uint64(0), false
	}
	raw := &m.raw
	i := 0
	for ; i+8 <= n; i += 8 {
		if w := binary.LittleEndian.Uint64([]byte(text[i : i+8])); m.any4(w) {
			for k := i; k < i+8; k += 2 {
				if r := uint(text[k]) | uint(text[k+1])<<8; raw[r>>6&(1<<10-1)]&(1<<(r&63)) != 0 && m.maybe(text, k) {
					found |= m.verifyMask(text, k, uint(fold[text[k]])<<7|uint(fold[text[k+1]]))
				}
			}
		}
	}
	for ; i+1 < n; i += 2 {
		if r := uint(text[i]) | uint(text[i+1])<<8; raw[r>>6&(1<<10-1)]&(1<<(r&63)) != 0 && m.maybe(text, i) {
			found |= m.verifyMask(text, i, uint(fold[text[i]])<<7|uint(fold[text[i+1]]))
		}
	}
	if i < n {
		if r := uint(text[i]); raw[r>>6]&(1<<(r&63)) != 0 && m.maybe(text, i) {
			found |= m.verifyMask(text, i, uint(fold[text[i]])<<7)
		}
	}
	return found, true
}

func (m *Multi) verifyMask(text string, i int, p uint) (found uint64) {
	ix := m.index[p]
	if ix == 0 {
		return 0 // see at
	}
	for _, a := range m.anchors[ix-1] {
		l := m.lits[a.id]
		if s := i - a.off; s >= 0 && s+len(l) <= len(text) && m.equal(text[s:s+len(l)], a.id) {
			found |= 1 << (a.id & 63)
		}
	}
	return found
}

// NewMultiExact is NewMulti for literals matched byte for byte, case
// included: what a case-sensitive regex requires. Its bits then say
// exactly what strings.Contains would.
func NewMultiExact(lits []string) *Multi {
	m := NewMulti(lits)
	m.exact = slices.Clone(lits)
	return m
}

// LiteralMasks indexes the literals each of a list of regexes requires
// (literals[i] for regex i) for one Multi scan of a line: need[i] holds
// the bits of regex i's literals, so regex i can match only a line whose
// Mask holds all of them (a regex with no literals has need 0: always
// tried). The literals are a regex's own, case-sensitive (Literals): they
// are matched exactly, so a Mask of an ASCII text that holds them all
// spares the regex's Prefilter its Literals. Nil, nil when there is no
// literal or more than 64.
func LiteralMasks(literals [][]string) (*Multi, []uint64) {
	ids := map[string]int{}
	var lits []string
	need := make([]uint64, len(literals))
	for i, ls := range literals {
		for _, l := range ls {
			id, ok := ids[l]
			if !ok {
				id = len(lits)
				ids[l] = id
				lits = append(lits, l)
			}
			need[i] |= 1 << (id & 63)
		}
	}
	if len(lits) == 0 || len(lits) > 64 {
		return nil, nil
	}
	return NewMultiExact(lits), need
}
