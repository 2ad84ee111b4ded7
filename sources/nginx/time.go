package nginx

import (
	"github.com/stockade-ids/stockade/sources/internal/civil"
	"time"
)

// parseTime reads $time_local, `08/Nov/2025:22:00:01 +0100` (len(b) ==
// timeLen), by hand: time.Parse costs several times the rest of the line
// and allocates on error. Out-of-range values are refused rather than
// normalised, so that 31/Feb is a bad line and not 3 March. Years before
// 1970 are refused too: no web server logged them, and 01/Jan/0001 would be
// the zero time.Time, which downstream reads as "no time".
func (p *Parser) parseTime(b []byte) (time.Time, bool) {
	// A busy log writes many lines a second: the last time read is the
	// next line's more often than not.
	if p.lastOK && string(b) == string(p.last[:]) {
		return p.lastTime, true
	}
	t, ok := p.readTime(b)
	if ok {
		copy(p.last[:], b)
		p.lastTime, p.lastOK = t, true
	}
	return t, ok
}

// readTime is parseTime without the memo.
func (p *Parser) readTime(b []byte) (time.Time, bool) {
	if b[2] != '/' || b[6] != '/' || b[11] != ':' || b[14] != ':' || b[17] != ':' || b[20] != ' ' {
		return time.Time{}, false
	}
	day, ok1 := civil.Digits(b[0:2])
	year, ok2 := civil.Digits(b[7:11])
	hour, ok3 := civil.Digits(b[12:14])
	minute, ok4 := civil.Digits(b[15:17])
	sec, ok5 := civil.Digits(b[18:20])
	zh, ok6 := civil.Digits(b[22:24])
	zm, ok7 := civil.Digits(b[24:26])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) {
		return time.Time{}, false
	}
	mon := month(b[3], b[4], b[5])
	if mon == 0 || year < 1970 || day < 1 || day > civil.DaysIn(year, mon) || hour > 23 || minute > 59 || sec > 59 || zh > 23 || zm > 59 {
		return time.Time{}, false
	}
	off := zh*3600 + zm*60
	switch b[21] {
	case '+':
	case '-':
		off = -off
	default:
		return time.Time{}, false
	}
	unix := civil.DaysFromCivil(year, mon, day)*86400 + int64(hour*3600+minute*60+sec) - int64(off)
	return time.Unix(unix, 0).In(p.location(off)), true
}

func (p *Parser) location(off int) *time.Location {
	if off == 0 {
		return time.UTC
	}
	if p.zone == nil || p.zoneOff != off {
		p.zone, p.zoneOff = time.FixedZone("", off), off
		p.lastOK = false // its time is in the zone before
	}
	return p.zone
}

// month maps the English abbreviation nginx and apache always write
// (strftime in the C locale) to 1..12, or 0.
func month(a, b, c byte) int {
	switch uint32(a)<<16 | uint32(b)<<8 | uint32(c) {
	case 'J'<<16 | 'a'<<8 | 'n':
		return 1
	case 'F'<<16 | 'e'<<8 | 'b':
		return 2
	case 'M'<<16 | 'a'<<8 | 'r':
		return 3
	case 'A'<<16 | 'p'<<8 | 'r':
		return 4
	case 'M'<<16 | 'a'<<8 | 'y':
		return 5
	case 'J'<<16 | 'u'<<8 | 'n':
		return 6
	case 'J'<<16 | 'u'<<8 | 'l':
		return 7
	case 'A'<<16 | 'u'<<8 | 'g':
		return 8
	case 'S'<<16 | 'e'<<8 | 'p':
		return 9
	case 'O'<<16 | 'c'<<8 | 't':
		return 10
	case 'N'<<16 | 'o'<<8 | 'v':
		return 11
	case 'D'<<16 | 'e'<<8 | 'c':
		return 12
	}
	return 0
}
