package fail2ban

import "time"

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
	year, ok1 := num(line[0:4])
	mon, ok2 := num(line[5:7])
	day, ok3 := num(line[8:10])
	hour, ok4 := num(line[11:13])
	minute, ok5 := num(line[14:16])
	sec, ok6 := num(line[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, 0, errNoTime
	}
	if year < 1970 || mon < 1 || mon > 12 || day < 1 || day > daysIn(mon, year) || hour > 23 || minute > 59 || sec > 59 {
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

func num(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
