package pipeline

import "math/bits"

// fingerprints maps alert fingerprints to when each was last seen (unix
// ns): an open-addressing table probed linearly, a fingerprint and its
// time side by side. A fast.log replays every line through it against up
// to a million others, so each lookup is a cache miss: here a lookup that
// misses leaves the slot the insertion that follows takes, one miss for
// both (a Go map pays one for the lookup and another for the
// assignment), and the table never grows by rehashing half of itself
// while it is in use, only when it is rebuilt (see sweep).
type fingerprints struct {
	slots []fpSlot // a power of two long; a zero fp is a free slot
	n     int
	zero  int64 // when fingerprint 0 was last seen, kept apart
	hasZ  bool
	shift uint // 64 - log2(len(slots))
}

type fpSlot struct {
	fp uint64
	at int64 // when it was last seen
}

// find returns fp's slot, or the free slot where it would go; fp is
// not 0.
func (f *fingerprints) find(fp uint64) *fpSlot {
	mask := uint64(len(f.slots) - 1)
	// Fingerprints are hashes already; the multiplication spreads the
	// ones a test makes by hand.
	for i := (fp * 0x9e3779b97f4a7c15) >> f.shift; ; i = (i + 1) & mask {
		if s := &f.slots[i]; s.fp == fp || s.fp == 0 {
			return s
		}
	}
}

// get returns when fp was last seen.
func (f *fingerprints) get(fp uint64) (int64, bool) {
	if fp == 0 {
		return f.zero, f.hasZ
	}
	if len(f.slots) == 0 {
		return 0, false
	}
	s := f.find(fp)
	return s.at, s.fp != 0
}

// set records fp at ts.
func (f *fingerprints) set(fp uint64, ts int64) {
	if fp == 0 {
		if !f.hasZ {
			f.n++
		}
		f.zero, f.hasZ = ts, true
		return
	}
	if (f.n+1)*4 > len(f.slots)*3 {
		f.rebuild(max(64, 2*len(f.slots)), -1<<63)
	}
	s := f.find(fp)
	if s.fp == 0 {
		s.fp = fp
		f.n++
	}
	s.at = ts
}

func (f *fingerprints) len() int { return f.n }

// sweep forgets the fingerprints last seen before cutoff.
func (f *fingerprints) sweep(cutoff int64) {
	live := 0
	for i := range f.slots {
		if s := &f.slots[i]; s.fp != 0 && s.at >= cutoff {
			live++
		}
	}
	if f.hasZ && f.zero >= cutoff {
		live++
	}
	if live == f.n {
		return // nothing to forget: a rebuild would move every slot for nothing
	}
	size := 64
	for live*2 > size { // half full at most once rebuilt
		size *= 2
	}
	f.rebuild(size, cutoff)
}

// rebuild moves the fingerprints seen at cutoff or after into a table
// of size slots.
func (f *fingerprints) rebuild(size int, cutoff int64) {
	old := f.slots
	f.slots, f.n = make([]fpSlot, size), 0
	f.shift = uint(64 - bits.TrailingZeros(uint(size)))
	if f.hasZ = f.hasZ && f.zero >= cutoff; f.hasZ {
		f.n = 1
	}
	for i := range old {
		if s := &old[i]; s.fp != 0 && s.at >= cutoff {
			*f.find(s.fp) = *s
			f.n++
		}
	}
}
