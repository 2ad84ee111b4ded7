package pipeline

import (
	"hash/maphash"
	"math/bits"
)

// fpGroupBits is how many of a fingerprint's top bits pick its group: see
// fingerprints.
const fpGroupBits = 12

// fingerprints maps alert fingerprints to when each was last seen (unix
// ns). A fast.log replays every line through it against up to a million
// others; one table for them all made each lookup a cache miss and often
// a TLB miss: a tenth of a fast.log's replay. So the
// fingerprints are held in 4096 small tables, picked by their top 12
// bits, which a source fills with what keeps an alert's copies, and the
// alerts logged one after another, in one group: Suricata's the alert's
// offset in its quarter hour (see Event.Fingerprint). Alerts in time
// order then visit one group after another, each a few KB that stay in
// the cache while its alerts come in. Which group a fingerprint is in
// only decides where it is kept, never whether it is found: two equal
// fingerprints are in the same group. A flood of alerts within one group
// grows that group's table like any other hash table's, so crowding one
// group costs what crowding one table did.
//
// Each group is an open-addressing table probed linearly, a fingerprint
// and its time side by side: a lookup that misses leaves the slot the
// insertion that follows takes, and a group grows by rehashing only
// itself.
type fingerprints struct {
	groups []fpGroup // 1<<fpGroupBits of them once the first is set
	n      int
	zero   int64 // when fingerprint 0 was last seen, kept apart
	hasZ   bool
	// oldest is no later than any time held (when n > 0): a sweep with
	// nothing older than its cutoff to forget is then known without
	// reading the table, tens of MB that were read in full at every
	// doubling of a replay shorter than the window.
	oldest int64
	// seed is the hash's, at random for each table, as Go's maps'
	// are: a fingerprint is a hash of what an alert says with constants
	// every process shares (see Event.Fingerprint), so one who can make
	// alerts (their ports, their addresses) could otherwise pick
	// thousands whose slots collide in a group.
	seed maphash.Seed
	// hashed and its hash are the last fingerprint hashed: a lookup and
	// the insertion after it hash once.
	hashed, hashedH uint64
}

type fpGroup struct {
	slots []fpSlot // a power of two long; a zero fp is a free slot
	n     int32
	shift uint8 // 64 - log2(len(slots))
}

type fpSlot struct {
	fp uint64
	at int64 // when it was last seen
}

// minGroup is the smallest table of a group that holds anything: two
// cache lines.
const minGroup = 8

// fpGrowth is how many times larger a full group's table is made.
const fpGrowth = 4

func (f *fingerprints) group(fp uint64) *fpGroup {
	return &f.groups[fp>>(64-fpGroupBits)]
}

// hash is fp's in the table; the top bits of it place fp in its group.
func (f *fingerprints) hash(fp uint64) uint64 {
	if fp != f.hashed {
		f.hashed, f.hashedH = fp, maphash.Comparable(f.seed, fp)
	}
	return f.hashedH
}

// find returns fp's slot, or the free slot where it would go; fp is not 0,
// h is its hash and g holds at least one free slot.
func (g *fpGroup) find(fp, h uint64) *fpSlot {
	mask := uint64(len(g.slots) - 1)
	for i := h >> g.shift; ; i = (i + 1) & mask {
		if s := &g.slots[i]; s.fp == fp || s.fp == 0 {
			return s
		}
	}
}

// get returns when fp was last seen.
func (f *fingerprints) get(fp uint64) (int64, bool) {
	if fp == 0 {
		return f.zero, f.hasZ
	}
	if f.groups == nil {
		return 0, false
	}
	g := f.group(fp)
	if g.n == 0 {
		return 0, false
	}
	s := g.find(fp, f.hash(fp))
	return s.at, s.fp != 0
}

// set records fp at ts.
func (f *fingerprints) set(fp uint64, ts int64) {
	if f.n == 0 || ts < f.oldest {
		f.oldest = ts
	}
	if fp == 0 {
		if !f.hasZ {
			f.n++
		}
		f.zero, f.hasZ = ts, true
		return
	}
	if f.groups == nil {
		f.groups = make([]fpGroup, 1<<fpGroupBits)
		f.seed, f.hashed = maphash.MakeSeed(), 0
	}
	g := f.group(fp)
	if int(g.n+1)*4 > len(g.slots)*3 {
		// Four times over, not two: a replay fills every group from
		// empty, and each growth reads the group and writes a new one,
		// fresh memory the kernel must fault in: filling a million
		// fingerprints allocates 37 MB where doubling took 56, and moves
		// a third of the slots. A group just grown is 3/16 full at worst,
		// where doubling left it 3/8: at most twice the memory, and a
		// sweep shrinks it to half full again.
		g.rebuild(max(minGroup, fpGrowth*len(g.slots)), -1<<63, f)
	}
	s := g.find(fp, f.hash(fp))
	if s.fp == 0 {
		s.fp = fp
		g.n++
		f.n++
	}
	s.at = ts
}

func (f *fingerprints) len() int { return f.n }

// sweep forgets the fingerprints last seen before cutoff.
func (f *fingerprints) sweep(cutoff int64) {
	if f.n == 0 || f.oldest >= cutoff {
		return
	}
	// One pass: a group with nothing to forget is left as it is, so a
	// sweep that forgets nothing reads each group once and moves no slot.
	oldest := int64(1<<63 - 1)
	f.n = 0
	if f.hasZ = f.hasZ && f.zero >= cutoff; f.hasZ {
		f.n, oldest = 1, f.zero
	}
	for i := range f.groups {
		g := &f.groups[i]
		l, o := g.live(cutoff)
		oldest = min(oldest, o)
		switch {
		case l == int(g.n): // nothing to forget here
		case l == 0:
			g.slots, g.n = nil, 0 // an empty group costs nothing until it is used again
		default:
			size := minGroup
			for l*2 > size { // half full at most once rebuilt
				size *= 2
			}
			g.rebuild(size, cutoff, f)
		}
		f.n += int(g.n)
	}
	// Every time kept is oldest or later: the bound, made exact.
	f.oldest = oldest
}

// live counts the fingerprints of g seen at cutoff or after, and says
// when the oldest of them was (the largest int64 when none).
func (g *fpGroup) live(cutoff int64) (int, int64) {
	n, oldest := 0, int64(1<<63-1)
	if g.n == 0 {
		return 0, oldest
	}
	for i := range g.slots {
		if s := &g.slots[i]; s.fp != 0 && s.at >= cutoff {
			n++
			oldest = min(oldest, s.at)
		}
	}
	return n, oldest
}

// rebuild moves the fingerprints of g seen at cutoff or after into a
// table of size slots; f hashes them.
func (g *fpGroup) rebuild(size int, cutoff int64, f *fingerprints) {
	old := g.slots
	g.slots, g.n = make([]fpSlot, size), 0
	g.shift = uint8(64 - bits.TrailingZeros(uint(size)))
	for i := range old {
		if s := &old[i]; s.fp != 0 && s.at >= cutoff {
			*g.find(s.fp, f.hash(s.fp)) = *s
			g.n++
		}
	}
}
