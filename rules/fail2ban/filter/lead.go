package filter

import (
	"math/bits"

	"github.com/stockade-ids/stockade/rules/fail2ban/pyre"
	"github.com/stockade-ids/stockade/rules/regex"
)

// leadMax bounds the bytes of a failregex's lead: "Failed " and "Invalid"
// are told apart in a few, and past a dozen each byte checked is a byte
// the regex reads again.
const leadMax = 12

// leadIndex tells which failregexes can match a text by its first bytes
// (see pyre.Regexp.Lead): each failregex anchored at the start of what it
// searches has a lead, those not anchored are always tried.
type leadIndex struct {
	// byFirst holds, for each first byte, the failregexes whose lead
	// starts with it and all those without a lead.
	byFirst [256]uint64
	// always are the failregexes without a lead (for an empty text).
	always uint64
	leads  [][]pyre.ByteSet // by failregex; nil for none
}

// leadIndexOf builds the index of at most 64 failregexes compiled with
// Compile; nil when none has a lead.
func leadIndexOf(fail []*regex.Regex) *leadIndex {
	if len(fail) > 64 {
		return nil
	}
	x := &leadIndex{leads: make([][]pyre.ByteSet, len(fail))}
	any := false
	for i, re := range fail {
		x.leads[i] = re.Leads
		bit := uint64(1) << i
		if x.leads[i] == nil {
			x.always |= bit
			for c := range x.byFirst {
				x.byFirst[c] |= bit
			}
			continue
		}
		any = true
		for c := range x.byFirst {
			if x.leads[i][0].Has(byte(c)) {
				x.byFirst[c] |= bit
			}
		}
	}
	if !any {
		return nil
	}
	return x
}

// candidates are the failregexes text's first bytes leave (bit i for
// failregex i).
func (x *leadIndex) candidates(text string) uint64 {
	if text == "" {
		return x.always
	}
	c := x.byFirst[text[0]]
	for m := c &^ x.always; m != 0; m &= m - 1 {
		i := bits.TrailingZeros64(m)
		l := x.leads[i]
		if len(l) > len(text) {
			c &^= 1 << i
			continue
		}
		for k := 1; k < len(l); k++ {
			if !l[k].Has(text[k]) {
				c &^= 1 << i
				break
			}
		}
	}
	return c
}
