package rules

import (
	"hash/maphash"
	"unsafe"

	"github.com/stockade-ids/stockade/rules/regex"
)

// regexMemo remembers what the predicates' searching regexes answered
// for the strings they last read. An access log's attack lines repeat
// their user agents and paths (a scanner sends its one user agent and
// its word list, address after address), and a case-insensitive search
// of thirty tool names through a user agent, or of a dozen extensions
// through a path, cost a microsecond where a look-up costs a hash and a
// compare. Each slot keeps the regex, a copy of the string and the
// answer; a string that differs, or is longer than memoLen, runs the
// regex. It is a Set's own (a Set is used by one goroutine), bounded
// (memoSlots × memoLen bytes, made at the first use), and the answer is
// the regex's whatever it holds: a flood of distinct strings only runs
// every regex, as without it, plus a hash and a copy.
type regexMemo struct {
	seed  maphash.Seed
	slots []memoSlot
	arena []byte
	// Hits and Misses count the look-ups (tests, `bench`'s notes).
	Hits, Misses uint64
}

type memoSlot struct {
	re *regex.Regex
	n  int32 // the string's length, -1 for an empty slot
	ok bool
}

const (
	memoSlots = 2048
	memoLen   = 160
)

func (m *regexMemo) match(re *regex.Regex, s string) bool {
	if len(s) > memoLen {
		return re.Match(s)
	}
	if m.slots == nil {
		m.seed = maphash.MakeSeed()
		m.slots = make([]memoSlot, memoSlots)
		for i := range m.slots {
			m.slots[i].n = -1
		}
		m.arena = make([]byte, memoSlots*memoLen)
	}
	h := maphash.String(m.seed, s) ^ uint64(uintptr(unsafe.Pointer(re)))*0x9e3779b97f4a7c15
	i := int(h>>32) & (memoSlots - 1)
	sl := &m.slots[i]
	at := m.arena[i*memoLen : i*memoLen+memoLen]
	if sl.re == re && int(sl.n) == len(s) && string(at[:len(s)]) == s {
		m.Hits++
		return sl.ok
	}
	m.Misses++
	ok := re.Match(s)
	copy(at, s)
	*sl = memoSlot{re: re, n: int32(len(s)), ok: ok}
	return ok
}
