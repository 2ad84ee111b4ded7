package syslog

import (
	"github.com/stockade-ids/stockade/sources/internal/civil"
	"math"
	"time"
)

// How a month's RFC 3164 lines get their year; see Parser.kind.
const (
	inYear     = iota // the whole month lies before the limit
	inPrevYear        // the whole month lies after it
	straddles         // the limit falls inside it: compare line by line
)

// slop keeps a month out of inYear and inPrevYear when the limit is within
// a day of its edges, where zone offsets could put a wall-clock time on the
// other side.
const slop = 24 * time.Hour

func (p *Parser) setRef(ref time.Time) {
	p.last.n = 0
	limit := ref.Add(24 * time.Hour)
	p.limitSec, p.limitNsec = limit.Unix(), limit.Nanosecond()
	p.year = limit.In(p.loc).Year()
	for m := 1; m <= 12; m++ {
		start := time.Date(p.year, time.Month(m), 1, 0, 0, 0, 0, p.loc)
		end := time.Date(p.year, time.Month(m+1), 1, 0, 0, 0, 0, p.loc)
		y := p.year
		switch {
		case !end.Add(slop).After(limit):
			p.kind[m] = inYear
		case start.Add(-slop).After(limit):
			p.kind[m] = inPrevYear
			y--
		default:
			p.kind[m] = straddles
		}
		p.days[m] = civil.DaysFromCivil(y, m, 1)
	}
}

// bsdInstant returns the Unix time of an RFC 3164 timestamp in the latest
// year that keeps it no later than the limit.
func (p *Parser) bsdInstant(c clock) int64 {
	if c.mon == 2 && c.day == 29 {
		return p.leapDay(c)
	}
	u := p.instant((p.days[c.mon]+int64(c.day-1))*86400 + int64(c.sod))
	if p.kind[c.mon] == straddles && p.after(u, c.nsec) {
		u = p.instant(civil.DaysFromCivil(p.year-1, c.mon, c.day)*86400 + int64(c.sod))
	}
	return u
}

// leapDay places Feb 29 in the latest leap year that keeps it no later than
// the limit. Any year before the limit's year does, so at most two leap
// years are tried.
func (p *Parser) leapDay(c clock) int64 {
	y := p.year
	if p.kind[2] == inPrevYear {
		y--
	}
	for tries := 0; ; y-- {
		if !isLeap(y) {
			continue
		}
		u := p.instant(civil.DaysFromCivil(y, 2, 29)*86400 + int64(c.sod))
		if tries++; tries == 2 || !p.after(u, c.nsec) {
			return u
		}
	}
}

func (p *Parser) after(sec int64, nsec int) bool {
	return sec > p.limitSec || sec == p.limitSec && nsec > p.limitNsec
}

// isoInstant returns the Unix time of a dated timestamp, read in the
// Parser's location when it names no zone.
func (p *Parser) isoInstant(c clock) int64 {
	civil := civil.DaysFromCivil(c.year, c.mon, c.day)*86400 + int64(c.sod)
	if c.zoned {
		return civil - int64(c.off)
	}
	return p.instant(civil)
}

// zoneSpan is one period of a location's zone: its offset and the Unix
// times [start, end) during which it applies.
type zoneSpan struct{ off, start, end int64 }

// instant converts civil, a wall-clock time in the Parser's location counted
// in seconds as if that location were UTC, to Unix time, with exactly the
// result time.Date would give. A log's lines almost all fall in one zone
// period, so the period last used answers without a zone lookup.
func (p *Parser) instant(civil int64) int64 {
	// time.Date looks up the zone at civil taken as a Unix time, then keeps
	// its offset if the result falls in the same period.
	if z := &p.zone; civil >= z.start && civil < z.end {
		if u := civil - z.off; u >= z.start && u < z.end {
			return u
		}
	}
	return p.instantSlow(civil)
}

func (p *Parser) instantSlow(civil int64) int64 {
	t := time.Unix(civil, 0).In(p.loc)
	_, off := t.Zone()
	start, end := t.ZoneBounds()
	p.zone = zoneSpan{off: int64(off), start: math.MinInt64, end: math.MaxInt64}
	if !start.IsZero() {
		p.zone.start = start.Unix()
	}
	if !end.IsZero() {
		p.zone.end = end.Unix()
	}
	u := civil - p.zone.off
	if u >= p.zone.start && u < p.zone.end {
		return u
	}
	// A wall-clock time skipped or repeated by a zone change: time.Date
	// takes the offset in force at the first guess.
	_, off = time.Unix(u, 0).In(p.loc).Zone()
	return civil - int64(off)
}

func isLeap(y int) bool {
	return y%4 == 0 && (y%100 != 0 || y%400 == 0)
}
