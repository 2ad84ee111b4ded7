package suricata

import "github.com/stockade-ids/stockade/sources/internal/civil"

// atoi parses a non-empty run of at most 12 ASCII digits (no Suricata
// number comes near, and the bound keeps the sum far from overflow).
func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 12 {
		return 0, false
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

// num2 and num4 read the fixed-width fields of timestamps: exactly their
// width in digits, where atoi takes a run of any length.
func num2(b []byte) (int, bool) {
	if len(b) < 2 || b[0]-'0' > 9 || b[1]-'0' > 9 {
		return 0, false
	}
	return int(b[0]-'0')*10 + int(b[1]-'0'), true
}

func num4(b []byte) (int, bool) {
	hi, ok1 := num2(b)
	if !ok1 || len(b) < 4 {
		return 0, false
	}
	lo, ok2 := num2(b[2:])
	return hi*100 + lo, ok2
}

// fraction reads the digits after the seconds' dot as nanoseconds; it
// returns how many bytes it used.
func fraction(b []byte) (nsec, n int) {
	scale := int(1e9)
	for n < len(b) && b[n]-'0' <= 9 {
		if n < 9 {
			scale /= 10
			nsec += int(b[n]-'0') * scale
		}
		n++
	}
	return nsec, n
}

// validDate reports whether the fields name a real instant, so that a
// garbled 02/31 is refused rather than normalised by time.Date into March.
func validDate(year, month, day, hour, min, sec int) bool {
	if month < 1 || month > 12 || day < 1 || hour > 23 || min > 59 || sec > 59 {
		return false
	}
	return day <= civil.DaysIn(year, month)
}
