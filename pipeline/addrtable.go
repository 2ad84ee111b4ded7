package pipeline

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"net/netip"
)

// addrTable maps the windows of a partition that count by address, each
// under its rule and address, to their records in the rule's slab: an
// open-addressing table probed linearly, 24 bytes a slot with no pointer.
// A flood of a million addresses makes every lookup a cache miss; here the
// key and the record's index share one slot (one miss, where a Go map
// reads a control word and then a slot), a lookup that misses hands the
// insertion its slot, and deleting shifts the slots after it back, so that
// no tombstone lengthens the probes of a table that turns over all day.
//
// The hash is seeded at random for each table, as Go's maps are: the
// addresses are the attackers', and one who holds an IPv6 range could
// otherwise pick thousands whose slots collide under a hash known in
// advance, each new window then probing all of them. The table never
// depends on its order: what iterates it (sweeps, sheds, saves) collects
// and sorts or only counts.
type addrTable struct {
	slots []addrSlot // a power of two long (or nil); tag 0 is a free slot
	n     int
	shift uint // 64 - log2(len(slots))
	seed  maphash.Seed
	memo  hashMemo
}

// addrSlot is one window: the address as two words, and its tag (the rule
// and the address's family, see makeAddrSlot).
type addrSlot struct {
	hi, lo uint64
	tag    uint32 // policy<<2 | 2 for an IPv4 address | 1 (in use)
	idx    uint32 // the record in the rule's slab
}

func makeAddrSlot(policy int, a netip.Addr) addrSlot {
	hi, lo, fam := addrWords(a)
	return addrSlot{hi: hi, lo: lo, tag: uint32(policy)<<2 | fam}
}

// addrWords is a's 16 bytes as two big-endian words, and the low bits of
// a slot's tag: 1 (in use) | 2 for an IPv4 address. The tables keyed by
// address (windows, bans, connections) share the form.
func addrWords(a netip.Addr) (hi, lo uint64, fam uint32) {
	b := a.As16()
	fam = 1
	if a.Is4() {
		fam |= 2
	}
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]), fam
}

// wordsAddr is the address addrWords made hi, lo and fam of.
func wordsAddr(hi, lo uint64, fam uint32) netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	a := netip.AddrFrom16(b)
	if fam&2 != 0 {
		a = a.Unmap()
	}
	return a
}

func (s *addrSlot) policy() int { return int(s.tag >> 2) }

func (s *addrSlot) addr() netip.Addr { return wordsAddr(s.hi, s.lo, s.tag) }

// key is the slot's key in the form the change tracking uses.
func (s *addrSlot) key() addrKey {
	var k addrKey
	binary.BigEndian.PutUint64(k.a[:8], s.hi)
	binary.BigEndian.PutUint64(k.a[8:], s.lo)
	k.policy = s.tag>>2<<1 | s.tag>>1&1
	return k
}

// home is where k's probe starts: the seeded hash's top bits, apart from
// the fixed hash of the address that chose the partition.
func (t *addrTable) home(k *addrSlot) uint64 {
	return t.memo.hash(t.seed, [3]uint64{k.hi, k.lo, uint64(k.tag)}) >> t.shift
}

// find returns k's slot, or the free slot where it would go. The table
// must not be nil.
func (t *addrTable) find(k *addrSlot) *addrSlot { return &t.slots[t.index(k)] }

// index is the index of find's slot.
func (t *addrTable) index(k *addrSlot) uint64 {
	mask := uint64(len(t.slots) - 1)
	for i := t.home(k); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.tag == 0 || s.tag == k.tag && s.lo == k.lo && s.hi == k.hi {
			return i
		}
	}
}

// get returns k's record index.
func (t *addrTable) get(k addrSlot) (uint32, bool) {
	if t.n == 0 {
		return 0, false
	}
	s := t.find(&k)
	return s.idx, s.tag != 0
}

// put sets k's record index (k is not in the table).
func (t *addrTable) put(k addrSlot, idx uint32) {
	// Half full at most: a window not yet held (every window that fires
	// is dropped, and the address's next line opens it again) probes to
	// the end of its run, which at three quarters full averages eight
	// and a half slots, three or four cache lines; at half, two and a
	// half.
	if (t.n+1)*2 > len(t.slots) {
		t.resize(max(16, 2*len(t.slots)))
	}
	s := t.find(&k)
	k.idx = idx
	*s = k
	t.n++
}

// del removes k and returns its record index.
func (t *addrTable) del(k addrSlot) (uint32, bool) {
	if t.n == 0 {
		return 0, false
	}
	hole := t.index(&k)
	s := &t.slots[hole]
	if s.tag == 0 {
		return 0, false
	}
	idx := s.idx
	mask := uint64(len(t.slots) - 1)
	// Backward-shift deletion: move into the hole every later slot of the
	// run whose home does not lie between the hole and it.
	for j := (hole + 1) & mask; t.slots[j].tag != 0; j = (j + 1) & mask {
		h := t.home(&t.slots[j])
		if (j-h)&mask >= (j-hole)&mask {
			t.slots[hole] = t.slots[j]
			hole = j
		}
	}
	t.slots[hole] = addrSlot{}
	t.n--
	// A flood gone stale leaves a table a sixteenth full: let most of it
	// go rather than hold its largest for good.
	if len(t.slots) > 64 && t.n*16 < len(t.slots) {
		t.resize(len(t.slots) / 4)
	}
	return idx, true
}

// resize moves the slots into a table of size slots.
func (t *addrTable) resize(size int) {
	if t.slots == nil {
		t.seed, t.memo = maphash.MakeSeed(), hashMemo{}
	}
	old := t.slots
	t.slots = make([]addrSlot, size)
	t.shift = uint(64 - bits.TrailingZeros(uint(size)))
	for i := range old {
		if s := &old[i]; s.tag != 0 {
			*t.find(s) = *s
		}
	}
}

// each calls f for every slot; f must not change the table.
func (t *addrTable) each(f func(s *addrSlot)) {
	for i := range t.slots {
		if s := &t.slots[i]; s.tag != 0 {
			f(s)
		}
	}
}

// grow sizes the table for n slots in use.
func (t *addrTable) grow(n int) {
	size := 16
	for size < n*2 {
		size *= 2
	}
	if size > len(t.slots) {
		t.resize(size)
	}
}

// hashMemo is a table's last key hashed and its hash: the lookup that
// follows a prefetch of the same key (see Engine.prefetchHit) hashes
// once. A key of the tables is never all zero (its last word holds a
// bit set in use), so the zero memo holds none; a new seed clears it.
type hashMemo struct {
	k [3]uint64
	h uint64
}

func (m *hashMemo) hash(seed maphash.Seed, k [3]uint64) uint64 {
	if k != m.k {
		m.k, m.h = k, maphash.Comparable(seed, k)
	}
	return m.h
}
