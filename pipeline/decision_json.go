package pipeline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends the decision's JSON to dst, the very bytes
// json.Marshal(d) makes (HTML-escaped, as the NATS and Kafka sinks sign
// and send them), without reflection: at tens of thousands of decisions a
// second, encoding/json's reflection was a tenth of a replay's work.
// The error is json.Marshal's: a time whose year is outside [0,9999] or
// whose zone offset is not a whole RFC 3339 one; dst then holds a partial
// encoding the caller must drop. As with append, dst's spare capacity is
// the callee's: a few bytes past the returned length may be written.
func (d *Decision) AppendJSON(dst []byte) ([]byte, error) {
	return d.appendJSON(dst, true)
}

// AppendJSONUnescaped is AppendJSON with <, > and & left as they are: the
// bytes of a json.Encoder with SetEscapeHTML(false), less its newline,
// which is what the jsonl sink and replay's output write.
func (d *Decision) AppendJSONUnescaped(dst []byte) ([]byte, error) {
	return d.appendJSON(dst, false)
}

// FitJSON is AppendJSON in at most limit bytes. A decision larger than
// that (a rule keeping 100 lines of an attacker's text, each escaped up
// to six times over) keeps the last of its evidence lines that fit, the
// deciding line last among them, down to none: a bus refuses a message
// over its size at every retry, and a reader of a decisions file counts a
// line over its bound as bad, so a decision that did not fit would be a
// ban lost. It returns how many lines it left out; a decision that does
// not fit even without evidence is an error. d is not changed.
func (d *Decision) FitJSON(dst []byte, limit int) ([]byte, int, error) {
	return d.fitJSON(dst, limit, true)
}

// ErrTooLarge is FitJSON's error for a decision that does not fit even
// without its evidence.
var ErrTooLarge = errors.New("more than the limit")

// FitJSONUnescaped is FitJSON with AppendJSONUnescaped's bytes.
func (d *Decision) FitJSONUnescaped(dst []byte, limit int) ([]byte, int, error) {
	return d.fitJSON(dst, limit, false)
}

func (d *Decision) fitJSON(dst []byte, limit int, html bool) ([]byte, int, error) {
	start := len(dst)
	data, err := d.appendJSON(dst, html)
	if err != nil || len(data)-start <= limit {
		return data, 0, err
	}
	c := *d
	size := func(keep int) ([]byte, error) {
		c.Evidence = d.Evidence[len(d.Evidence)-keep:]
		return c.appendJSON(data[:start], html)
	}
	if data, err = size(0); err != nil {
		return nil, 0, err
	}
	if len(data)-start > limit {
		return nil, 0, fmt.Errorf("decision %s: %d bytes without its evidence, %w (%d)", d.ID, len(data)-start, ErrTooLarge, limit)
	}
	// The most lines that fit: more lines, more bytes.
	lo, hi := 0, len(d.Evidence)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if data, err = size(mid); err != nil {
			return nil, 0, err
		}
		if len(data)-start <= limit {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	if data, err = size(lo); err != nil {
		return nil, 0, err
	}
	return data, len(d.Evidence) - lo, nil
}

// appendJSON follows the struct's field order and tags; a field added to
// Decision must be added here too, which TestDecisionAppendJSON's
// random decisions (every field set) catch.
func (d *Decision) appendJSON(b []byte, html bool) ([]byte, error) {
	// One allocation for a signed message's fresh slice, not a doubling
	// per field; an escaped byte or two more costs one more.
	b = slices.Grow(b, d.sizeHint())
	var err error
	b = append(b, `{"id":`...)
	b = appendJSONString(b, d.ID, html)
	b = append(b, `,"action":`...)
	b = appendJSONString(b, string(d.Action), html)
	b = append(b, `,"target":`...)
	b = d.Target.appendJSON(b, html)
	b = append(b, `,"scope":`...)
	b = appendJSONString(b, string(d.Scope), html)
	b = append(b, `,"rule":`...)
	b = appendJSONString(b, d.Rule, html)
	b = append(b, `,"pack":`...)
	b = appendJSONString(b, d.Pack, html)
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, d.Reason, html)
	b = append(b, `,"at":"`...)
	if b, err = d.At.AppendText(b); err != nil {
		return b, err
	}
	b = append(b, `","duration_s":`...)
	b = strconv.AppendInt(b, d.Duration, 10)
	b = append(b, `,"expires":"`...)
	if b, err = d.Expires.AppendText(b); err != nil {
		return b, err
	}
	b = append(b, `","offense":`...)
	b = strconv.AppendInt(b, int64(d.Offense), 10)
	b = append(b, `,"origin":`...)
	b = appendJSONString(b, d.Origin, html)
	b = append(b, `,"source":`...)
	b = appendJSONString(b, d.Source, html)
	b = append(b, `,"evidence":`...)
	b = appendJSONStrings(b, d.Evidence, html)
	if len(d.Provenance) > 0 {
		b = append(b, `,"provenance":[`...)
		for i := range d.Provenance {
			if i > 0 {
				b = append(b, ',')
			}
			b = d.Provenance[i].appendJSON(b, html)
		}
		b = append(b, ']')
	}
	if d.Simulated {
		b = append(b, `,"simulated":true`...)
	}
	return append(b, '}'), nil
}

// sizeHint is the length of the decision's JSON when nothing needs
// escaping: the names and punctuation, two times and the strings.
func (d *Decision) sizeHint() int {
	n := 240 + len(d.ID) + len(d.Action) + len(d.Scope) + len(d.Rule) + len(d.Pack) + len(d.Reason) +
		len(d.Origin) + len(d.Source)
	for _, e := range d.Evidence {
		n += len(e) + 3
	}
	for i := range d.Provenance {
		p := &d.Provenance[i]
		n += 40 + len(p.ID) + len(p.Origin) + len(p.Signer)
	}
	return n
}

func (p *Provenance) appendJSON(b []byte, html bool) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, p.ID, html)
	b = append(b, `,"origin":`...)
	b = appendJSONString(b, p.Origin, html)
	if p.Signer != "" {
		b = append(b, `,"signer":`...)
		b = appendJSONString(b, p.Signer, html)
	}
	return append(b, '}')
}

// appendJSON is the target's text as a JSON string, as encoding/json
// makes of a TextMarshaler. The text is digits, hex, dots, colons and a
// slash, written as it is; an address's zone is not, and is escaped like
// any string.
func (t Target) appendJSON(b []byte, html bool) []byte {
	var buf [64]byte
	s, _ := t.AppendText(buf[:0]) // an address's AppendText never fails
	for _, c := range s {
		if !jsonSafeByte(c, html) {
			return appendJSONString(b, string(s), html)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONStrings is a []string as encoding/json writes it: null for
// nil, [] for empty.
func appendJSONStrings(b []byte, ss []string, html bool) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s, html)
	}
	return append(b, ']')
}

// An ASCII byte encoding/json writes as it is, as a 128-bit set: not a
// control byte, quote nor backslash; with html set, not <, > nor & either.
// Constants, not a table, so that the package holds no state.
const (
	jsonSafeLo     = uint64(0xffffffff_00000000) &^ (1 << '"')
	jsonHTMLSafeLo = jsonSafeLo &^ (1<<'<' | 1<<'>' | 1<<'&')
	jsonSafeHi     = ^uint64(0) &^ (1 << ('\\' - 64))
)

func jsonSafeByte(c byte, html bool) bool {
	switch {
	case c >= utf8.RuneSelf:
		return false
	case c >= 64:
		return jsonSafeHi>>(c-64)&1 != 0
	case html:
		return jsonHTMLSafeLo>>c&1 != 0
	}
	return jsonSafeLo>>c&1 != 0
}

// Tests of eight bytes at once, each byte's answer its top bit, every
// hit of a word known from one load (not only the first, as with the
// borrow of "Bit Twiddling Hacks"' haszero). They read a word's low seven
// bits, t = w & lows: adding lows to t^c (under 128, so nothing carries
// out of a byte) leaves a byte's top bit clear exactly when its low bits
// are c's. For an ASCII byte that is "the byte is c"; a byte past ASCII
// may pass for a quote, but every such byte is special, and nothing of a
// word is taken past its first special byte.
const (
	ones  = 0x0101010101010101
	lows  = 0x7f7f7f7f7f7f7f7f
	highs = 0x8080808080808080
)

// quoteBytes has the top bit of each quote and backslash of w (t is
// w & lows) set: the bytes encoding/json escapes with a backslash before
// them, the common case in a quoted JSON line.
func quoteBytes(t uint64) uint64 {
	return ^((t ^ '"'*ones + lows) & (t ^ '\\'*ones + lows)) & highs
}

// specialBytes has the top bit of each other byte of w that encoding/json
// does not write as it is: a control byte (low bits under 0x20, which
// adding 0x60 leaves without a top bit) and a byte of a multi-byte rune.
func specialBytes(w, t uint64) uint64 { return (w | ^(t + 0x60*ones)) & highs }

// htmlBytes has the top bit of each <, > and & of w (t is w & lows).
func htmlBytes(t uint64) uint64 {
	return ^((t ^ '<'*ones + lows) & (t ^ '>'*ones + lows) & (t ^ '&'*ones + lows)) & highs
}

// load64 is the eight bytes of s from i as a little-endian word (one load
// once compiled).
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

const jsonHex = "0123456789abcdef"

// escapeRoom is the room a word of appendJSONString needs past the end
// of the output: eight bytes stored after a backslash at most 15 bytes in
// (a byte of the word, moved on by the backslashes before it; the bound
// the loop's mask states).
const escapeRoom = 16 + 8

// appendJSONString escapes s exactly as encoding/json does: the short
// escapes \b \f \n \r \t, \u00XX for other control bytes (and <, >, & when
// html is set), \ufffd for each byte of invalid UTF-8, and \u2028 and
// \u2029 always, so that a line of a log quoted in evidence stays one
// line of JSON and JavaScript.
//
// It goes a word at a time (escapeRun); the bytes it stops at, and the
// last few, one at a time.
func appendJSONString(b []byte, s string, html bool) []byte {
	b = append(b, '"')
	// The output as its whole capacity and a position in it.
	buf, p := b[:cap(b)], len(b)
	for i := 0; i < len(s); {
		if len(buf)-p < escapeRoom {
			buf = slices.Grow(buf[:p], len(s)-i+escapeRoom)
			buf = buf[:cap(buf)]
		}
		if len(s)-i >= 8 {
			if p, i = escapeRun(buf, p, s, i, html); len(s)-i < 8 || len(buf)-p < escapeRoom {
				continue
			}
			// It stopped at a byte it does not write.
		} else if c := s[i]; jsonSafeByte(c, html) {
			buf[p] = c
			p, i = p+1, i+1
			continue
		}
		var done []byte
		done, i = appendJSONSpecial(buf[:p], s, i)
		buf, p = done[:cap(done)], len(done)
	}
	return append(buf[:p], '"')
}

// escapeRun writes s from i into buf from p, eight bytes at a time, while
// eight are left, buf has room for them and they are text, quotes and
// backslashes; it returns where it stopped in buf and in s. It calls
// nothing, so that its state stays in registers.
//
// A word's quotes and backslashes (an eve line quoted in evidence has one
// every few bytes) cost a store each, not a loop's turn: the word is
// stored whole, then for each of them a backslash and the rest of the
// word again, one byte on. What the stores leave past the end of the
// output is within buf's capacity (escapeRoom bytes), which append's
// contract leaves to the callee.
func escapeRun(buf []byte, p int, s string, i int, html bool) (int, int) {
	for lastS, lastP := len(s)-8, len(buf)-escapeRoom; i <= lastS && p <= lastP; {
		w := load64(s, i)
		t := w & lows
		q, other := quoteBytes(t), specialBytes(w, t)
		if html {
			other |= htmlBytes(t)
		}
		binary.LittleEndian.PutUint64(buf[p:p+8], w)
		if q|other == 0 {
			p, i = p+8, i+8
			continue
		}
		out := (*[escapeRoom]byte)(buf[p : p+escapeRoom])
		run := 8 // the bytes of the word written as they are or after a backslash
		if other != 0 {
			run = bits.TrailingZeros64(other) / 8
			q &= 1<<(8*run) - 1
		}
		shift := 0
		for ; q != 0; q &= q - 1 {
			k := bits.TrailingZeros64(q) / 8
			// k+shift < 16 (a byte of the word and the backslashes
			// before it), which the mask shows the compiler: no bounds
			// checks in the loop.
			j := (k + shift) & 15
			out[j] = '\\'
			shift++
			binary.LittleEndian.PutUint64(out[j+1:j+9], w>>(8*k))
		}
		p += run + shift
		i += run
		if run < 8 {
			break
		}
	}
	return p, i
}

// appendJSONSpecial writes the byte or rune at s[i] that is not ASCII
// text (a control byte, <, > or & under html, or the start of a
// multi-byte rune) and returns where the next one starts.
func appendJSONSpecial(b []byte, s string, i int) ([]byte, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return appendJSONEscape(b, c), i + 1
	}
	r, size := utf8.DecodeRuneInString(s[i:])
	switch {
	case r == utf8.RuneError && size == 1:
		return append(b, `\ufffd`...), i + 1
	case r == '\u2028' || r == '\u2029':
		return append(b, '\\', 'u', '2', '0', '2', jsonHex[r&0xF]), i + size
	}
	return append(b, s[i:i+size]...), i + size
}

func appendJSONEscape(b []byte, c byte) []byte {
	switch c {
	case '\\', '"':
		return append(b, '\\', c)
	case '\b':
		return append(b, '\\', 'b')
	case '\f':
		return append(b, '\\', 'f')
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	return append(b, '\\', 'u', '0', '0', jsonHex[c>>4], jsonHex[c&0xF])
}
