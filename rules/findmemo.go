package rules

import (
	"github.com/stockade-ids/stockade/rules/regex"
)

// findMemo remembers what the scan of a field found in the texts it
// last read (see Set.find). The path is scanned for five hundred
// literals of its own, and a scanner's paths are its word list, sent
// address after address: where the literals of an attack path lie, the
// scan stops at every other pair to compare them (/phpmyadmin/index.php
// cost a thousand instructions), and a look-up costs a hash, a compare
// and a copy of the region's few words. An ordinary site's paths repeat
// as much.
//
// It is a Set's own, bounded (findSlots × memoLen bytes, and the found
// words, made at the first use), and what it answers is what the scan
// found in the same text: a flood of distinct paths only scans each, as
// without it, plus a hash and a copy.
type findMemo struct {
	texts textSlots
	slots []findSlot
	words []uint64 // findSlots × the widest region's words
	width int
}

type findSlot struct {
	reg   int8
	ascii bool // else the scan said nothing (see regex.Multi.Find)
	any   bool // the scan found a literal: the slot's words hold it
}

const findSlots = 1024

// find is m.Find(text, found) for region reg, whose found words are
// found (zero, as Set.read cleared them), from the memo when it holds
// text; any reports whether a literal was found. An ordinary path holds
// none: its slot's words are neither copied in nor out.
func (fm *findMemo) find(reg int, m *regex.Multi, text string, found []uint64) (ascii, any bool) {
	if len(text) > memoLen {
		return m.Find(text, found), nonzero(found)
	}
	if fm.slots == nil {
		fm.slots = make([]findSlot, findSlots)
	}
	if len(found) > fm.width {
		fm.width = len(found)
		fm.words = make([]uint64, findSlots*fm.width)
		fm.texts.empty()
	}
	i, held := fm.texts.slot(text, findSlots)
	sl := &fm.slots[i]
	if held && int(sl.reg) == reg {
		if sl.any {
			copy(found, fm.words[i*fm.width:i*fm.width+len(found)])
		}
		return sl.ascii, sl.any
	}
	ascii = m.Find(text, found)
	any = nonzero(found)
	if any {
		copy(fm.words[i*fm.width:i*fm.width+len(found)], found)
	}
	*sl = findSlot{reg: int8(reg), ascii: ascii, any: any}
	return ascii, any
}

func nonzero(words []uint64) bool {
	for _, w := range words {
		if w != 0 {
			return true
		}
	}
	return false
}
