package pipeline

import (
	"hash/maphash"
	"iter"
	"math/bits"
	"net/netip"
)

// banTable maps each banned target to its ban: an open-addressing table
// probed linearly, the target's address, its family and length, and the
// ban's pointer in one 32-byte slot (two to a cache line, never across
// one). Every ban request looks its target up first, and an alert flood
// asks again and again for targets banned already: a Go map read a
// control word, then a slot in another line, then the ban; here the slot
// is the first read and names the ban. Deleting shifts the slots after it
// back, so that no tombstone lengthens the probes of a table that turns
// over all day, as addrTable does.
//
// The hash is seeded at random for each table, as Go's maps are: the
// targets are the attackers' addresses, and one who holds an IPv6 range
// could otherwise pick thousands whose slots collide, each new ban then
// probing all of them. Nothing depends on the table's order: what
// iterates it sorts, counts or moves the bans elsewhere.
type banTable struct {
	slots []banSlot // a power of two long (or nil); tag 0 is a free slot
	n     int
	shift uint // 64 - log2(len(slots))
	seed  maphash.Seed
}

type banSlot struct {
	hi, lo uint64
	tag    uint32 // 1 (in use) | 2 for IPv4 | (bits+1)<<2
	ban    *activeBan
}

func makeBanSlot(t netip.Prefix) banSlot {
	hi, lo, fam := addrWords(t.Addr())
	return banSlot{hi: hi, lo: lo, tag: uint32(t.Bits()+1)<<2 | fam}
}

// target is the slot's key as the prefix it was made of.
func (s *banSlot) target() netip.Prefix {
	if s.tag>>2 == 0 {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(wordsAddr(s.hi, s.lo, s.tag), int(s.tag>>2)-1)
}

func (t *banTable) home(k *banSlot) uint64 {
	return maphash.Comparable(t.seed, [3]uint64{k.hi, k.lo, uint64(k.tag)}) >> t.shift
}

// index is where k's slot is, or the free slot where it would go. The
// table must not be nil.
func (t *banTable) index(k *banSlot) uint64 {
	mask := uint64(len(t.slots) - 1)
	for i := t.home(k); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.tag == 0 || s.tag == k.tag && s.lo == k.lo && s.hi == k.hi {
			return i
		}
	}
}

// get is target's ban, nil if none.
func (t *banTable) get(target netip.Prefix) *activeBan {
	if t.n == 0 {
		return nil
	}
	k := makeBanSlot(target)
	return t.slots[t.index(&k)].ban
}

// set makes b target's ban, in place of any other.
func (t *banTable) set(target netip.Prefix, b *activeBan) {
	// Half full at most: a target not yet banned (every new ban asks
	// first) probes to the end of its run, which at three quarters
	// full averages eight and a half slots, four cache lines; at half,
	// two and a half.
	if (t.n+1)*2 > len(t.slots) {
		t.resize(max(16, 2*len(t.slots)))
	}
	k := makeBanSlot(target)
	s := &t.slots[t.index(&k)]
	if s.tag == 0 {
		t.n++
	}
	k.ban = b
	*s = k
}

// del removes target's ban, if any.
func (t *banTable) del(target netip.Prefix) {
	if t.n == 0 {
		return
	}
	k := makeBanSlot(target)
	hole := t.index(&k)
	if t.slots[hole].tag == 0 {
		return
	}
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
	t.slots[hole] = banSlot{}
	t.n--
	// A flood gone stale leaves a table a sixteenth full: let most of it
	// go rather than hold its largest for good.
	if len(t.slots) > 64 && t.n*16 < len(t.slots) {
		t.resize(len(t.slots) / 4)
	}
}

func (t *banTable) resize(size int) {
	if t.slots == nil {
		t.seed = maphash.MakeSeed()
	}
	old := t.slots
	t.slots = make([]banSlot, size)
	t.shift = uint(64 - bits.TrailingZeros(uint(size)))
	for i := range old {
		if s := &old[i]; s.tag != 0 {
			t.slots[t.index(s)] = *s
		}
	}
}

func (t *banTable) len() int { return t.n }

// clear empties the table and lets its slots go.
func (t *banTable) clear() { *t = banTable{} }

// all yields every target and its ban; the loop must not change the
// table.
func (t *banTable) all() iter.Seq2[netip.Prefix, *activeBan] {
	return func(yield func(netip.Prefix, *activeBan) bool) {
		for i := range t.slots {
			if s := &t.slots[i]; s.tag != 0 && !yield(s.target(), s.ban) {
				return
			}
		}
	}
}
