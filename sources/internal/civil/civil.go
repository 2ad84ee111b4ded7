// Package civil is the calendar arithmetic the byte-level timestamp parsers
// share: they turn fields into instants without time.Date, which is too slow
// for millions of lines a second.
package civil

// DaysIn is the number of days in month m (1-12) of year y.
func DaysIn(y, m int) int {
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

// DaysFromCivil returns the days from 1970-01-01 to y-m-d in the proleptic
// Gregorian calendar (Howard Hinnant's algorithm); m must be 1-12.
func DaysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := m + 9
	if m > 2 {
		mp = m - 3
	}
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// Digits parses a run of ASCII digits; an empty run is 0 (fixed-width
// fields are sliced by the caller, which checks their width).
func Digits(b []byte) (int, bool) {
	if len(b) > 18 {
		return 0, false // would overflow; no timestamp field is that long
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
