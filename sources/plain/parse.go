// Package plain reads logs that have no structure stockade knows beyond a
// timestamp at the start of each line: nginx's and Apache's error logs,
// and the many daemons that write "2006-01-02 15:04:05 message". The event
// carries the whole line (rules read it with regexes, as fail2ban's filters
// do) and the time it starts with; the text after the time is the message.
package plain

import (
	"bytes"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

var errNoTime = pipeline.Bad("no timestamp")

// Parser is a pipeline.Parser for timestamped lines. Times written without
// a zone are read in its location.
type Parser struct{ loc *time.Location }

// New returns a parser reading zone-less times in loc (nil: UTC).
func New(loc *time.Location) *Parser {
	if loc == nil {
		loc = time.UTC
	}
	return &Parser{loc: loc}
}

// Location is where the parser reads times written without a zone.
func (p *Parser) Location() *time.Location { return p.loc }

// Parse implements pipeline.Parser.
func (p *Parser) Parse(line []byte, ev *pipeline.Event) error {
	t, n, ok := Timestamp(line, p.loc)
	if !ok {
		return errNoTime
	}
	ev.Format = pipeline.FormatPlain
	ev.Time = t
	ev.Line = pipeline.UnsafeString(line)
	ev.Message = pipeline.UnsafeString(bytes.TrimLeft(line[n:], " \t"))
	return nil
}

// Sniff reports whether line starts with a timestamp this package reads.
func Sniff(line []byte) bool {
	_, _, ok := Timestamp(line, time.UTC)
	return ok
}

// Timestamp reads the time a line starts with and returns it and its
// length. Its shape picks the layout before any parsing, so a line that
// starts otherwise costs a few byte comparisons.
func Timestamp(b []byte, loc *time.Location) (time.Time, int, bool) {
	switch {
	case len(b) >= 19 && b[4] == '/' && b[7] == '/' && b[10] == ' ' && b[13] == ':' && b[16] == ':':
		// nginx error log: 2025/11/08 22:00:01 [error] 4242#0: ...
		return parse("2006/01/02 15:04:05", b[:19], loc)
	case len(b) >= 19 && b[4] == '-' && b[7] == '-' && (b[10] == 'T' || b[10] == ' ') && b[13] == ':' && b[16] == ':':
		// ISO 8601 and its common relatives: 2025-11-08T22:00:01.123+01:00,
		// 2025-11-08 22:00:01,123 (Python's logging).
		return iso(b, loc)
	case len(b) >= 26 && b[0] == '[' && b[3] == '/' && b[7] == '/' && b[12] == ':' && b[21] == ' ':
		// Common log format: [08/Nov/2025:22:00:01 +0100]
		if len(b) >= 28 && b[27] == ']' {
			t, _, ok := parse("02/Jan/2006:15:04:05 -0700", b[1:27], loc)
			return t, 28, ok
		}
	case len(b) >= 26 && b[0] == '[' && b[4] == ' ' && b[8] == ' ' && b[11] == ' ' && b[14] == ':' && b[17] == ':':
		// Apache's error log: [Sat Nov 08 22:00:01.123456 2025] or, before
		// 2.4, [Sat Nov 08 22:00:01 2025].
		end := bytes.IndexByte(b[:min(len(b), 40)], ']')
		if end < 0 {
			break
		}
		layout := "Mon Jan 02 15:04:05 2006"
		if b[20] == '.' {
			layout = "Mon Jan 02 15:04:05.000000 2006"
		}
		t, _, ok := parse(layout, b[1:end], loc)
		return t, end + 1, ok
	}
	return time.Time{}, 0, false
}

// iso reads 2006-01-02[T ]15:04:05 with an optional fraction (. or ,) and
// an optional zone (Z, ±hh:mm, ±hhmm).
func iso(b []byte, loc *time.Location) (time.Time, int, bool) {
	n := 19
	if n < len(b) && (b[n] == '.' || b[n] == ',') {
		n++
		for n < len(b) && b[n] >= '0' && b[n] <= '9' {
			n++
		}
	}
	base := make([]byte, 0, 40)
	base = append(base, b[:10]...)
	base = append(base, 'T')
	base = append(base, b[11:19]...)
	if n > 20 {
		base = append(base, '.')
		base = append(base, b[20:n]...)
	}
	zoned := false
	switch {
	case n < len(b) && b[n] == 'Z':
		base = append(base, 'Z')
		n++
		zoned = true
	case n+6 <= len(b) && (b[n] == '+' || b[n] == '-') && b[n+3] == ':':
		base = append(base, b[n:n+6]...)
		n += 6
		zoned = true
	case n+5 <= len(b) && (b[n] == '+' || b[n] == '-') && isDigits(b[n+1:n+5]):
		base = append(base, b[n:n+3]...)
		base = append(base, ':')
		base = append(base, b[n+3:n+5]...)
		n += 5
		zoned = true
	}
	if n < len(b) && b[n] != ' ' && b[n] != '\t' && b[n] != ']' && b[n] != '|' {
		return time.Time{}, 0, false // a longer token: not a timestamp we know
	}
	var t time.Time
	var err error
	if zoned {
		t, err = time.Parse(time.RFC3339Nano, string(base))
	} else {
		t, err = time.ParseInLocation("2006-01-02T15:04:05.999999999", string(base), loc)
	}
	if err != nil || t.Year() < 1970 {
		return time.Time{}, 0, false
	}
	return t, n, true
}

func parse(layout string, b []byte, loc *time.Location) (time.Time, int, bool) {
	t, err := time.ParseInLocation(layout, string(b), loc)
	if err != nil || t.Year() < 1970 {
		return time.Time{}, 0, false
	}
	return t, len(b), true
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
