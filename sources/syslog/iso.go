package syslog

import "github.com/stockade-ids/stockade/sources/internal/civil"

// isoStamp parses the RFC 3339 timestamp that rsyslog's high-precision
// templates and RFC 5424 write, "2025-11-08T22:00:01.123456+01:00", at the
// start of b and returns its length. The fraction is optional, and so is the
// zone: some rsyslog templates drop it, and the Parser's location applies.
// A space where the 'T' belongs is refused, which keeps fail2ban's own log
// ("2025-11-08 22:00:01,123") out.
func isoStamp(b []byte) (c clock, n int, err error) {
	if len(b) < 5 || !isDigit(b[0]) || !isDigit(b[1]) || !isDigit(b[2]) || !isDigit(b[3]) || b[4] != '-' {
		return c, 0, errNoTime
	}
	if len(b) < 19 || b[7] != '-' || b[10] != 'T' && b[10] != 't' || b[13] != ':' || b[16] != ':' {
		return c, 0, errBadTime
	}
	hi, _ := two(b[0], b[1])
	lo, _ := two(b[2], b[3])
	c.year = hi*100 + lo
	mon, ok1 := two(b[5], b[6])
	day, ok2 := two(b[8], b[9])
	h, ok3 := two(b[11], b[12])
	m, ok4 := two(b[14], b[15])
	s, ok5 := two(b[17], b[18])
	// Nothing logs from before the Unix epoch, and refusing it keeps the
	// zero time.Time, which means "no time" downstream, out of events.
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || c.year < 1970 ||
		mon == 0 || mon > 12 || day == 0 || day > civil.DaysIn(c.year, mon) ||
		h > 23 || m > 59 || s > 60 {
		return c, 0, errBadTime
	}
	c.mon, c.day, c.sod = mon, day, h*3600+m*60+s
	i := 19
	if i < len(b) && b[i] == '.' {
		var k int
		if c.nsec, k = fraction(b[i+1:]); k == 0 {
			return c, 0, errBadTime
		}
		i += 1 + k
	}
	if i == len(b) {
		return c, i, nil
	}
	switch b[i] {
	case 'Z', 'z':
		c.zoned = true
		i++
	case '+', '-':
		// ±hh:mm per RFC 3339; ±hhmm is common enough from other writers.
		if i+5 > len(b) {
			return c, 0, errBadTime
		}
		oh, ok1 := two(b[i+1], b[i+2])
		j := i + 3
		if b[j] == ':' {
			j++
		}
		if j+2 > len(b) {
			return c, 0, errBadTime
		}
		om, ok2 := two(b[j], b[j+1])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return c, 0, errBadTime
		}
		c.off = oh*3600 + om*60
		if b[i] == '-' {
			c.off = -c.off
		}
		c.zoned = true
		i = j + 2
	}
	return c, i, nil
}
