// Package syslog parses syslog lines into pipeline.Events: RFC 3164 (BSD) as
// written to /var/log/auth.log and /var/log/secure, the same header behind
// rsyslog's RFC 3339 timestamp, and RFC 5424 as sent to network listeners.
//
// It does no I/O. One Parser serves one source, because RFC 3164 timestamps
// carry no year and the parser infers it from a reference time (see New).
package syslog

import (
	"bytes"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// The reasons a line is refused. They are metric labels, so the set is fixed.
var (
	errEmpty   = pipeline.Bad("empty")
	errNoTime  = pipeline.Bad("no timestamp")
	errBadTime = pipeline.Bad("bad timestamp")
	errNoHost  = pipeline.Bad("no host")
	errBadPRI  = pipeline.Bad("bad priority")
	errHeader  = pipeline.Bad("bad header")
	errBadSD   = pipeline.Bad("bad structured data")
)

// Parser parses the syslog lines of one source. It caches the year inference
// and the zone offset it last used, so it is not safe for concurrent use.
type Parser struct {
	loc *time.Location

	// limit is ref + 24h: no RFC 3164 line is placed later than this.
	limitSec  int64
	limitNsec int

	// year is limit's year in loc. For each month, kind says whether its
	// lines belong to year, to year-1, or must be compared with limit one by
	// one; days is day 1 of that month in the year kind picked, in days
	// since the Unix epoch, which saves the calendar arithmetic per line.
	year int
	kind [13]uint8
	days [13]int64

	zone zoneSpan

	// last is the last RFC 3164 timestamp read and where it places the
	// line: a busy log writes many lines in one second, and a line whose
	// stamp is the same bytes is placed without reading it again (the
	// year inference, which setRef changes, forgets it).
	last bsdMemo
}

// bsdMemo is a timestamp's bytes, its length (at most len(stamp); 0: none
// remembered) and its instant.
type bsdMemo struct {
	stamp [24]byte
	n     int
	sec   int64
	nsec  int
}

// recall returns the length of the remembered timestamp when b starts
// with its bytes and does not go on with a fraction the remembered one
// did not have (bsdStamp reads nothing past a timestamp but that).
func (m *bsdMemo) recall(b []byte) (int, bool) {
	n := m.n
	if n == 0 || len(b) < n || string(b[:n]) != string(m.stamp[:n]) || len(b) > n && b[n] == '.' {
		return 0, false
	}
	return n, true
}

// New returns a Parser that places RFC 3164 lines, which have no year, in
// the latest year that puts them no later than ref + 24h. For replay ref is
// the file's modification time, for a live source the current time; the
// 24 hours absorb clock and zone skew between the writer and us. A file that
// crosses New Year then comes out right, and no line lands in the future.
//
// Timestamps without a zone are read in loc (nil means time.Local), and
// every Event.Time is returned in loc.
func New(ref time.Time, loc *time.Location) *Parser {
	if loc == nil {
		loc = time.Local
	}
	p := &Parser{loc: loc}
	p.setRef(ref)
	return p
}

// SetRef moves the year-inference reference. A live source calls it with the
// wall clock now and then (each second is plenty), so a daemon that runs
// across New Year dates January lines in the new year.
func (p *Parser) SetRef(ref time.Time) { p.setRef(ref) }

// Parse implements pipeline.Parser. It sets Time, Host, Program, PID,
// Message, Line and Format; the strings alias line. Addr is left to the
// rules, which find it in Message. On error ev is left untouched.
func (p *Parser) Parse(line []byte, ev *pipeline.Event) error {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) == 0 || (line[0] == ' ' || line[0] == '\t') && blank(line) {
		return errEmpty
	}
	i := 0
	if line[0] == '<' {
		var ok bool
		if i, ok = skipPRI(line); !ok {
			return errBadPRI
		}
		if v := versionEnd(line, i); v > 0 {
			return p.parse5424(line, v, ev)
		}
	}
	var (
		c      clock
		n      int
		err    error
		recall bool
	)
	dated := i < len(line) && isDigit(line[i])
	switch {
	case dated:
		c, n, err = isoStamp(line[i:])
	default:
		if n, recall = p.last.recall(line[i:]); !recall {
			c, n, err = bsdStamp(line[i:])
		}
	}
	if err != nil {
		return err
	}
	stamp := line[i : i+n]
	i += n
	if i < len(line) && line[i] != ' ' {
		return errBadTime
	}
	i = skipSpaces(line, i)
	if i == len(line) {
		return errNoHost
	}
	var sec int64
	switch {
	case dated:
		sec = p.isoInstant(c)
	case recall:
		sec, c.nsec = p.last.sec, p.last.nsec
	default:
		sec = p.bsdInstant(c)
		if len(stamp) <= len(p.last.stamp) {
			p.last.n = copy(p.last.stamp[:], stamp)
			p.last.sec, p.last.nsec = sec, c.nsec
		}
	}
	host, prog, pid, i := header(line, i)

	ev.Time = time.Unix(sec, int64(c.nsec)).In(p.loc)
	ev.Host = pipeline.UnsafeString(host)
	ev.Program = pipeline.UnsafeString(prog)
	ev.PID = pid
	ev.Message = pipeline.UnsafeString(line[i:])
	ev.Line = pipeline.UnsafeString(line)
	ev.Format = pipeline.FormatSyslog
	return nil
}

// skipPRI returns the index just past a "<PRI>" prefix at the start of b.
func skipPRI(b []byte) (int, bool) {
	v := 0
	i := 1
	for ; i < len(b) && i <= 4 && isDigit(b[i]); i++ {
		v = v*10 + int(b[i]-'0')
	}
	if i == 1 || i > 4 || i >= len(b) || b[i] != '>' || v > 191 {
		return 0, false
	}
	return i + 1, true
}

// versionEnd returns the index just past an RFC 5424 VERSION and its space
// at b[i:], or 0 when there is none. An RFC 3339 year cannot be mistaken for
// it: its fourth byte is a digit, not a space.
func versionEnd(b []byte, i int) int {
	if i+1 < len(b) && b[i] >= '1' && b[i] <= '9' {
		if b[i+1] == ' ' {
			return i + 2
		}
		if i+2 < len(b) && isDigit(b[i+1]) && b[i+2] == ' ' {
			return i + 3
		}
	}
	return 0
}

// atoi returns the value of a short run of decimal digits, or 0 if s is
// anything else: a pid that is not a number is no pid.
func atoi(s []byte) int {
	if len(s) == 0 || len(s) > 10 {
		return 0
	}
	v := 0
	for _, c := range s {
		if !isDigit(c) {
			return 0
		}
		v = v*10 + int(c-'0')
	}
	return v
}

func isDigit(c byte) bool { return c-'0' < 10 }

func skipSpaces(b []byte, i int) int {
	for i < len(b) && b[i] == ' ' {
		i++
	}
	return i
}

// tokenEnd returns the index of the first space at or after i, or len(b).
func tokenEnd(b []byte, i int) int {
	if k := bytes.IndexByte(b[i:], ' '); k >= 0 {
		return i + k
	}
	return len(b)
}

func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}
