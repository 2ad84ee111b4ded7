package suricata

import (
	"encoding/binary"
	"math/bits"

	"github.com/stockade-ids/stockade/sources/internal/civil"
)

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
	// Suricata writes microseconds: six digits, then a space (fast.log)
	// or the zone (eve.json). Read at once, where the loop's turn a digit
	// was a fifth of a fast.log line's time reading.
	if len(b) > 6 && b[6]-'0' > 9 {
		d0, d1, d2, d3, d4, d5 := b[0]-'0', b[1]-'0', b[2]-'0', b[3]-'0', b[4]-'0', b[5]-'0'
		if max(d0, d1, d2, d3, d4, d5) <= 9 {
			us := ((((int(d0)*10+int(d1))*10+int(d2))*10+int(d3))*10+int(d4))*10 + int(d5)
			return us * 1000, 6
		}
	}
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

// lastByte is bytes.LastIndexByte eight bytes at a time: Go's is a loop
// over single bytes on amd64, and fast.log's tail is read from the right
// (its markers were a tenth of a line's parse).
func lastByte(b []byte, c byte) int {
	const ones, low7 = 0x0101010101010101, 0x7f7f7f7f7f7f7f7f
	pat := uint64(c) * ones
	i := len(b)
	for ; i >= 8; i -= 8 {
		w := binary.LittleEndian.Uint64(b[i-8:]) ^ pat
		// 0x80 in each byte of w that is zero, and only there: the
		// carries of the sum stay within their byte.
		if t := ^((w&low7 + low7) | w | low7); t != 0 {
			return i - 1 - bits.LeadingZeros64(t)/8
		}
	}
	for i--; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}
