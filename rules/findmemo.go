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
}

const findSlots = 1024

// find is m.Find(text, found) for region reg, whose found words are
// found, from the memo when it holds text.
func (fm *findMemo) find(reg int, m *regex.Multi, text string, found []uint64) bool {
	if len(text) > memoLen {
		return m.Find(text, found)
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
	words := fm.words[i*fm.width : i*fm.width+len(found)]
	if held && int(sl.reg) == reg {
		copy(found, words)
		return sl.ascii
	}
	ok := m.Find(text, found)
	copy(words, found)
	*sl = findSlot{reg: int8(reg), ascii: ok}
	return ok
}
