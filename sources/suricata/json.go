package suricata

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/stockade-ids/stockade/pipeline"
)

// A small JSON reader specialised for eve.json: it walks one object,
// hands back raw string contents that alias the line, and skips every value
// it is not asked about without decoding it. It checks structure (strings,
// nesting, separators) but is lenient inside skipped values: it does not
// verify number syntax or that a ']' closes a '['. That is enough to refuse
// truncated and garbled lines, which is what happens to log files.

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// skipSpace returns the index of the first byte from b[i] on that is not
// JSON white space. Suricata writes none, so the common case is one test:
// every white space byte is below '!'.
func skipSpace(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && isSpace(b[i]) {
		i++
	}
	return i
}

// stringEnd returns the index just past the closing quote of the string
// whose content starts at b[i] (the byte after the opening quote). A quote
// closes the string unless an odd number of backslashes precede it.
func stringEnd(b []byte, i int) (int, bool) {
	start := i
	// Most strings of a record are short (member names, addresses,
	// times) and hold no escape: eight bytes a step find the first quote
	// or backslash; from a backslash on, the quotes are counted out.
	for ; i+8 <= len(b); i += 8 {
		if m := quoteOrEscape(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			i += bits.TrailingZeros64(m) / 8
			if b[i] == '"' {
				return i + 1, true
			}
			break
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' {
			return i + 1, true
		} else if c == '\\' {
			break
		}
	}
	for {
		k := bytes.IndexByte(b[i:], '"')
		if k < 0 {
			return 0, false
		}
		j := i + k
		n := 0
		for m := j - 1; m >= start && b[m] == '\\'; m-- {
			n++
		}
		if n%2 == 0 {
			return j + 1, true
		}
		i = j + 1
	}
}

// plainStringEnd returns the index just past the closing quote of the
// string whose content starts at b[i], or -1 when the string holds an
// escape or has no end: the strings of a plain record, read eight bytes a
// step.
func plainStringEnd(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		if m := quoteOrEscape(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			i += bits.TrailingZeros64(m) / 8
			if b[i] == '"' {
				return i + 1
			}
			return -1
		}
	}
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			return -1
		}
	}
	return -1
}

// quoteOrEscape has the top bit of the lowest byte of w that is a quote
// or a backslash set, and no bit below it (the bits above may be wrong:
// a borrow runs upward only).
func quoteOrEscape(w uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q, e := w^(ones*'"'), w^(ones*'\\')
	return ((q-ones)&^q | (e-ones)&^e) & highs
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch c := b[i]; {
	case c == '"':
		return stringEnd(b, i+1)
	case c == '{' || c == '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, ok := stringEnd(b, i+1)
				if !ok {
					return 0, false
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return 0, false
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '-' || c-'0' <= 9:
		i++
		for i < len(b) && (b[i]-'0' <= 9 || b[i] == '.' || b[i] == 'e' || b[i] == 'E' || b[i] == '+' || b[i] == '-') {
			i++
		}
		return i, true
	}
	return 0, false
}

func literal(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// readString reads the string value at b[i]. raw is its content as written,
// aliasing b.
func readString(b []byte, i int) (raw []byte, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	end, ok := stringEnd(b, i+1)
	if !ok {
		return nil, 0, false
	}
	return b[i+1 : end-1], end, true
}

// readInt reads a non-negative integer value at b[i]. Suricata writes ids,
// ports and severities as plain integers; a fraction, an exponent or a sign
// is refused rather than rounded.
func readInt(b []byte, i int) (n, next int, ok bool) {
	j := i
	for j < len(b) && b[j]-'0' <= 9 {
		j++
	}
	if j < len(b) && (b[j] == '.' || b[j] == 'e' || b[j] == 'E') {
		return 0, 0, false
	}
	n, ok = atoi(b[i:j])
	return n, j, ok
}

// unquote returns the string raw (the content of a JSON string) stands for.
// Without a backslash it aliases raw; with one it builds a new string, the
// only allocation on the alert path.
func unquote(raw []byte) (string, bool) {
	i := bytes.IndexByte(raw, '\\')
	if i < 0 {
		return pipeline.UnsafeString(raw), true
	}
	var sb strings.Builder
	sb.Grow(len(raw))
	sb.Write(raw[:i])
	for i < len(raw) {
		c := raw[i]
		if c != '\\' {
			j := bytes.IndexByte(raw[i:], '\\')
			if j < 0 {
				j = len(raw) - i
			}
			sb.Write(raw[i : i+j])
			i += j
			continue
		}
		if i+1 >= len(raw) {
			return "", false
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			sb.WriteByte(raw[i+1])
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'u':
			r, ok := hex4(raw[i+2:])
			if !ok {
				return "", false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// A pair is two escapes; a lone half is what encoding/json
				// turns into U+FFFD, and so do we.
				if len(raw)-i >= 6 && raw[i] == '\\' && raw[i+1] == 'u' {
					if r2, ok := hex4(raw[i+2:]); ok {
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							sb.WriteRune(d)
							i += 6
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			sb.WriteRune(r)
			continue
		default:
			return "", false
		}
		i += 2
	}
	return sb.String(), true
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// objectFields walks the object starting at b[i] and calls field for each
// member with the key's raw content and the index of its value; field
// returns the index just past the value (skipValue when it has no use for
// it). It returns the index just past the closing brace.
func objectFields(b []byte, i int, field func(key []byte, at int) (int, bool)) (int, bool) {
	if i >= len(b) || b[i] != '{' {
		return 0, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	return members(b, i, field)
}

// membersAfter is objectFields from b[i], just past a member's value: the
// rest of the object, the separator first.
func membersAfter(b []byte, i int, field func(key []byte, at int) (int, bool)) (int, bool) {
	i = skipSpace(b, i)
	switch {
	case i < len(b) && b[i] == '}':
		return i + 1, true
	case i >= len(b) || b[i] != ',':
		return 0, false
	}
	return members(b, skipSpace(b, i+1), field)
}

// members walks the members of an object from b[i], the start of a
// member's name, to the index just past the closing brace.
func members(b []byte, i int, field func(key []byte, at int) (int, bool)) (int, bool) {
	for {
		key, next, ok := readString(b, i)
		if !ok {
			return 0, false
		}
		i = skipSpace(b, next)
		if i >= len(b) || b[i] != ':' {
			return 0, false
		}
		i = skipSpace(b, i+1)
		if i, ok = field(key, i); !ok {
			return 0, false
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return i + 1, true
		default:
			return 0, false
		}
	}
}
