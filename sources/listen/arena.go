package listen

// arena hands out message buffers carved from large slabs and never reuses
// them, so each event owns its memory without one allocation per message.
// A slab is freed by the garbage collector once no event points into it.
type arena struct {
	slab []byte // len is the part handed out
	size int
}

// bigShare is the fraction of a slab above which a message gets a buffer of
// its own, so one large message does not strand most of a slab.
const bigShare = 8

// alloc returns n bytes nobody else holds. The result's capacity ends at
// n so that an append cannot spill into the next message.
func (a *arena) alloc(n int) []byte {
	if n > a.size/bigShare {
		return make([]byte, n)
	}
	if cap(a.slab)-len(a.slab) < n {
		a.slab = make([]byte, 0, a.size)
	}
	l := len(a.slab)
	a.slab = a.slab[:l+n]
	return a.slab[l : l+n : l+n]
}

// clone returns a copy of b in the arena.
func (a *arena) clone(b []byte) []byte {
	dst := a.alloc(len(b))
	copy(dst, b)
	return dst
}
