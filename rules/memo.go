package rules

import (
	"hash/maphash"
	"math/bits"
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
// web-sensitive-files' tests all read the path): the slots of the
// strings of the event being judged are remembered by where the strings
// lie (recent), so that every regex after the first finds its string's
// slot without a hash or a compare. Within one event (see forget) the
// same address and length are the same text: the event's texts are
// slices of its line, which nobody writes while it is judged.
//
// It is a Set's own (a Set is used by one goroutine), bounded
// (memoSlots × memoLen bytes, made at the first use), and the answer is
// the regex's whatever it holds: a flood of distinct strings only runs
// every regex, as without it, plus a hash and a copy.
type regexMemo struct {
	texts  textSlots
	slots  []memoSlot
	recent [2]memoRecent
	event  uint64 // the event being judged (see forget), 0 for none
	// Hits and Misses count the look-ups (tests, `bench`'s notes).
	Hits, Misses uint64
}

type memoSlot struct {
	next uint8  // where the next answer goes, the oldest replaced
	ok   uint16 // a bit per answer of res: the regex matched
	res  [memoAnswers]*regex.Regex
}

// memoRecent is a string of the event being judged: where it lies,
// its slot, and the event.
type memoRecent struct {
	p     *byte
	n     int
	slot  int
	event uint64
}

const (
	memoSlots = 1024
	memoLen   = 160
	// memoAnswers is more than the path regexes of the rules an attack
	// line opens (nginx-scan's three, web-sensitive-files' two, …): a
	// line that opens more runs the oldest again.
	memoAnswers = 16
)

// forget begins the judgement of another event: where its strings lie,
// the last event's may have held other text (a reader's buffer holds
// the next line where the last one was). A caller that never calls it
// looks every string up by its hash.
func (m *regexMemo) forget() { m.event++ }

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
		if r.event == m.event && m.event != 0 && r.p == p && r.n == len(s) {
			return r.slot
		}
	}
	if m.slots == nil {
		m.slots = make([]memoSlot, memoSlots)
	}
	i, held := m.texts.slot(s, memoSlots)
	if !held {
		m.slots[i] = memoSlot{}
		for k := range m.recent {
			if m.recent[k].slot == i {
				m.recent[k].event = 0 // its string's slot no more
			}
		}
	}
	m.recent[1], m.recent[0] = m.recent[0], memoRecent{p: p, n: len(s), slot: i, event: m.event}
	return i
}

// textSlots keys a fixed number of slots by a text of at most memoLen
// bytes: each slot holds a copy of its text, found by the text's hash
// (a random seed). The memos keep what they learnt of a text by its
// slot's index; a text that takes a slot from another makes that slot's
// entries the caller's to clear.
//
// A hash picks a pair of slots, and a text new to the pair takes the
// one the pair used least recently: two of a log's few hot texts (its
// browsers' agents, its pages) whose hashes meet keep a slot each,
// where one slot a hash had them take it from each other on every line
// (with thirty hot texts in a thousand slots, a meeting in about every
// other run, each run's seed another: a memo that missed on a line in
// ten for the whole replay).
type textSlots struct {
	key   uint64  // the hash's, random
	n     []int32 // the text's length, -1 for an empty slot
	arena []byte
	// older has, by pair of slots, the one a text new to the pair
	// takes (0 or 1).
	older []uint8
}

// slot returns text's slot among size (a power of two, two or more,
// the same every call) and whether it held text already; if not, it
// holds it now.
func (t *textSlots) slot(text string, size int) (int, bool) {
	if t.n == nil {
		t.key = maphash.String(maphash.MakeSeed(), "")
		t.n = make([]int32, size)
		t.empty()
		t.arena = make([]byte, size*memoLen)
		t.older = make([]uint8, size/2)
	}
	i := int(textHash(t.key, text)>>32) & (size - 2)
	for w := range 2 {
		if t.holds(i+w, text) {
			t.older[i>>1] = uint8(1 - w)
			return i + w, true
		}
	}
	w := int(t.older[i>>1] & 1)
	t.older[i>>1] = uint8(1 - w)
	i += w
	copy(t.arena[i*memoLen:i*memoLen+memoLen], text)
	t.n[i] = int32(len(text))
	return i, false
}

// holds reports whether slot i holds text.
func (t *textSlots) holds(i int, text string) bool {
	return int(t.n[i]) == len(text) && string(t.arena[i*memoLen:i*memoLen+len(text)]) == text
}

// empty forgets every slot's text.
func (t *textSlots) empty() {
	for i := range t.n {
		t.n[i] = -1
	}
}

// textHash hashes s with key, sixteen bytes a multiplication (the
// 128-bit product's halves folded, as wyhash does): a slot's text is
// hashed on every look-up, and maphash's generic path cost twice as
// much for a user agent, three times for a path. Its quality is for
// spreading texts over slots; a look-up compares the text it finds.
func textHash(key uint64, s string) uint64 {
	const m0, m1, m2 = 0xa0761d6478bd642f, 0xe7037ed1a0b428db, 0x8ebc6af09c88c6e3
	n := len(s)
	h := key ^ uint64(n)*m2
	// Loads through the string's pointer, each within it: a reslice and
	// two bounds checks a round cost as much as the round's product.
	p := unsafe.Pointer(unsafe.StringData(s))
	i := 0
	for ; i+16 <= n; i += 16 {
		hi, lo := bits.Mul64(load64(p, i)^m0, load64(p, i+8)^h)
		h = hi ^ lo
	}
	var a, b uint64
	switch r := n - i; {
	case r >= 8:
		a, b = load64(p, i), load64(p, n-8)
	case r >= 4:
		a, b = uint64(load32(p, i)), uint64(load32(p, n-4))
	case r > 0:
		a = uint64(s[i])<<16 | uint64(s[i+r/2])<<8 | uint64(s[n-1])
	}
	hi, lo := bits.Mul64(a^m1, b^h)
	return hi ^ lo
}

// load64 and load32 read the little-endian word at p+i (x86 and arm64
// load unaligned words; the byte order is the hash's only, not data's).
func load64(p unsafe.Pointer, i int) uint64 { return *(*uint64)(unsafe.Add(p, i)) }

func load32(p unsafe.Pointer, i int) uint32 { return *(*uint32)(unsafe.Add(p, i)) }
