package fail2ban

import (
	"github.com/stockade-ids/stockade/sources/internal/civil"
	"time"
)

// parseTime reads Python logging's asctime, `2025-11-08 22:00:01,123`, at
// the start of line, by hand: time.Parse costs more than the rest of the
// line. A line without that shape has no timestamp (a traceback or another
// format); one with the shape but impossible values has a bad one. It
// returns the index of the space that follows. Years before 1970 are
// impossible values too: 0001-01-01 00:00:00 in UTC is the zero time.Time,
// which downstream reads as "no time".
func (p *Parser) parseTime(line []byte) (time.Time, int, error) {
	if len(line) < 19 || line[4] != '-' || line[7] != '-' || line[10] != ' ' || line[13] != ':' || line[16] != ':' {
		return time.Time{}, 0, errNoTime
	}
	year, ok1 := civil.Digits(line[0:4])
	mon, ok2 := civil.Digits(line[5:7])
	day, ok3 := civil.Digits(line[8:10])
	hour, ok4 := civil.Digits(line[11:13])
	minute, ok5 := civil.Digits(line[14:16])
	sec, ok6 := civil.Digits(line[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, 0, errNoTime
	}
	if year < 1970 || mon < 1 || mon > 12 || day < 1 || day > civil.DaysIn(year, mon) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, 0, errTime
	}
	i, nsec := 19, 0
	if i < len(line) && (line[i] == ',' || line[i] == '.') {
		i++
		s, scale := i, 100_000_000
		for i < len(line) && line[i] >= '0' && line[i] <= '9' && i-s < 9 {
			nsec += int(line[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == s {
			return time.Time{}, 0, errTime
		}
	}
	if i == len(line) {
		return time.Time{}, 0, errLogger
	}
	if line[i] != ' ' {
		return time.Time{}, 0, errTime
	}
	return time.Date(year, time.Month(mon), day, hour, minute, sec, nsec, p.loc), i, nil
}
