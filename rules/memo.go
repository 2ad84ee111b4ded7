package rules

import (
	"hash/maphash"
	"unsafe"

	"github.com/stockade-ids/stockade/rules/regex"
)

// regexMemo remembers what the predicates' searching regexes answered for
// the strings they last read. An access log's attack lines repeat their
// user agents and paths (a scanner sends its one user agent and its word
// list, address after address), and a case-insensitive search of thirty
// tool names through a user agent, or of a dozen extensions through a
// path, cost a microsecond where a look-up costs a hash and a compare.
//
// A slot is a string's: a copy of it, and the answers of the last
// memoAnswers regexes asked about it. Several rules read the same field
// of a line (nginx-scan's three exclusions, web-admin-probe's and
// web-sensitive-files' tests all read the path): the slots of the last
// strings looked up are remembered by where the strings lie (recent),
// so that every regex after the first finds its string's slot without
// a hash, and in a slot the cache has just read. The slot's copy is
// still compared: a reader's buffer holds the next line's text where
// the last line's was.
//
// It is a Set's own (a Set is used by one goroutine), bounded
// (memoSlots × memoLen bytes, made at the first use), and the answer is
// the regex's whatever it holds: a flood of distinct strings only runs
// every regex, as without it, plus a hash and a copy.
type regexMemo struct {
	seed   maphash.Seed
	slots  []memoSlot
	arena  []byte
	recent [2]memoRecent
	// Hits and Misses count the look-ups (tests, `bench`'s notes).
	Hits, Misses uint64
}

type memoSlot struct {
	n    int32  // the string's length, -1 for an empty slot
	next uint8  // where the next answer goes, the oldest replaced
	ok   uint16 // a bit per answer of res: the regex matched
	res  [memoAnswers]*regex.Regex
}

// memoRecent is a string last looked up: where it lies, and 1 + its
// slot (0: none).
type memoRecent struct {
	p    *byte
	n    int
	slot int
}

const (
	memoSlots = 1024
	memoLen   = 160
	// memoAnswers is more than the path regexes of the rules an attack
	// line opens (nginx-scan's three, web-sensitive-files' two, …): a
	// line that opens more runs the oldest again.
	memoAnswers = 16
)

func (m *regexMemo) match(re *regex.Regex, s string) bool {
	if len(s) > memoLen {
		return re.Match(s)
	}
	sl := &m.slots[m.slotOf(s)]
	for i, r := range &sl.res {
		if r == re {
			m.Hits++
			return sl.ok&(1<<i) != 0
		}
	}
	m.Misses++
	ok := re.Match(s)
	i := sl.next
	sl.res[i] = re
	sl.ok &^= 1 << i
	if ok {
		sl.ok |= 1 << i
	}
	sl.next = (i + 1) % memoAnswers
	return ok
}

// slotOf returns the index of s's slot, making it s's when it held
// another string.
func (m *regexMemo) slotOf(s string) int {
	p := unsafe.StringData(s)
	for _, r := range &m.recent {
		if r.slot != 0 && r.p == p && r.n == len(s) && m.holds(r.slot-1, s) {
			return r.slot - 1
		}
	}
	if m.slots == nil {
		m.seed = maphash.MakeSeed()
		m.slots = make([]memoSlot, memoSlots)
		for i := range m.slots {
			m.slots[i].n = -1
		}
		m.arena = make([]byte, memoSlots*memoLen)
	}
	i := int(maphash.String(m.seed, s)>>32) & (memoSlots - 1)
	if !m.holds(i, s) {
		copy(m.arena[i*memoLen:], s)
		m.slots[i] = memoSlot{n: int32(len(s))}
	}
	m.recent[1], m.recent[0] = m.recent[0], memoRecent{p: p, n: len(s), slot: i + 1}
	return i
}

// holds reports whether slot i is s's.
func (m *regexMemo) holds(i int, s string) bool {
	return int(m.slots[i].n) == len(s) && string(m.arena[i*memoLen:i*memoLen+len(s)]) == s
}
