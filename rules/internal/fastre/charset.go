package fastre

import "unicode"

// charset is a set of ASCII bytes. The fast path only ever runs on ASCII
// text, so the part of a class above 0x7F can never match and is dropped.
type charset [2]uint64

func (cs *charset) has(c byte) bool { return cs[c>>6&1]&(1<<(c&63)) != 0 }

func (cs *charset) add(c byte) {
	if c < 0x80 {
		cs[c>>6] |= 1 << (c & 63)
	}
}

func (cs *charset) addRange(lo, hi rune) {
	if hi > 0x7F {
		hi = 0x7F
	}
	for r := lo; r <= hi; r++ {
		cs.add(byte(r))
	}
}

func (cs *charset) union(o *charset) { cs[0] |= o[0]; cs[1] |= o[1] }

func (cs *charset) intersects(o *charset) bool { return cs[0]&o[0] != 0 || cs[1]&o[1] != 0 }

// allASCII and allButNL are the sets of (?s). and plain . on ASCII text;
// the scanner has shortcuts for both.
var (
	allASCII = charset{^uint64(0), ^uint64(0)}
	allButNL = charset{^uint64(0) &^ (1 << '\n'), ^uint64(0)}
)

// foldSet is the ASCII part of the case-folding orbit of r, the runes a
// (?i) literal r matches in Go (unicode.SimpleFold, as syntax.Inst does).
// Non-ASCII runes matter too: (?i)\x{212A} (Kelvin sign) matches 'k'.
func foldSet(r rune) charset {
	var cs charset
	if r < 0x80 {
		cs.add(byte(r))
	}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < 0x80 {
			cs.add(byte(f))
		}
	}
	return cs
}

// classSet is the ASCII part of a syntax class: ranges as lo,hi pairs.
func classSet(ranges []rune) charset {
	var cs charset
	for i := 0; i+1 < len(ranges); i += 2 {
		if ranges[i] <= 0x7F {
			cs.addRange(ranges[i], ranges[i+1])
		}
	}
	return cs
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}
