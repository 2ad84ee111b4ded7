package pipeline

import (
	"hash/maphash"
	"math/bits"
	"net/netip"
)

// connTable holds the connections a partition follows (see Engine.paired),
// each under its rule, address and process: an open-addressing table
// probed linearly, like addrTable, the line's host and program beside
// the key. Every line of sshd's looks its connection up, so the lookup
// is one probe into a few cache lines rather than a Go map's hash of a
// 32-byte key, and a sweep reads one array.
//
// The hash is seeded at random for each table, as addrTable's is: a
// syslog sender writes the address and the pid, and under a hash known in
// advance could pick thousands of connections with one home, each new
// one then probing all of them.
type connTable struct {
	slots []connSlot // a power of two long; policy 0 is a free slot
	n     int
	shift uint
	seed  maphash.Seed
	memo  hashMemo
}

// connSlot is a connection's last line in 40 bytes: its key (the rule,
// the address, the pid) and what waiting holds, the host and program by
// their number in the partition's names.
type connSlot struct {
	hi, lo        uint64 // the address
	at            int64  // unix ns
	pid           int32
	policy        uint32 // the rule's ID + 1
	host, program uint16
	kind          lineKind
}

// makeConnSlot is the key of a connection of a rule's, and whether it fits
// a slot (a pid that does not fit 32 bits, a log's mistake or an
// attacker's, is kept in the partition's map).
func makeConnSlot(policy int, a netip.Addr, pid int) (connSlot, bool) {
	hi, lo, _ := addrWords(a)
	return connSlot{hi: hi, lo: lo, pid: int32(pid), policy: uint32(policy) + 1}, int(int32(pid)) == pid
}

// waiting is the slot's line with its names.
func (s *connSlot) waiting(names []string) waiting {
	return waiting{host: names[s.host], program: names[s.program], at: s.at, kind: s.kind}
}

func (t *connTable) home(k *connSlot) uint64 {
	return t.memo.hash(t.seed, [3]uint64{k.hi, k.lo, uint64(uint32(k.pid))<<32 | uint64(k.policy)}) >> t.shift
}

// index is k's slot, or the free slot where it would go.
func (t *connTable) index(k *connSlot) uint64 {
	mask := uint64(len(t.slots) - 1)
	for i := t.home(k); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.policy == 0 || s.policy == k.policy && s.lo == k.lo && s.pid == k.pid && s.hi == k.hi {
			return i
		}
	}
}

func (t *connTable) len() int { return t.n }

// get returns the connection under k.
func (t *connTable) get(k *connSlot) (*connSlot, bool) {
	if t.n == 0 {
		return nil, false
	}
	s := &t.slots[t.index(k)]
	return s, s.policy != 0
}

// put keeps k, which is not in the table.
func (t *connTable) put(k connSlot) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.resize(max(16, 2*len(t.slots)))
	}
	t.slots[t.index(&k)] = k
	t.n++
}

// del removes s, a slot of the table, shifting back the slots after it
// (see addrTable.del).
func (t *connTable) del(s *connSlot) { t.delAt(t.index(s)) }

// delAt removes the slot at hole.
func (t *connTable) delAt(hole uint64) {
	mask := uint64(len(t.slots) - 1)
	for j := (hole + 1) & mask; t.slots[j].policy != 0; j = (j + 1) & mask {
		h := t.home(&t.slots[j])
		if (j-h)&mask >= (j-hole)&mask {
			t.slots[hole] = t.slots[j]
			hole = j
		}
	}
	t.slots[hole] = connSlot{}
	t.n--
}

func (t *connTable) resize(size int) {
	if t.slots == nil {
		t.seed, t.memo = maphash.MakeSeed(), hashMemo{}
	}
	old := t.slots
	t.slots = make([]connSlot, size)
	t.shift = uint(64 - bits.TrailingZeros(uint(size)))
	for i := range old {
		if s := &old[i]; s.policy != 0 {
			t.slots[t.index(s)] = *s
		}
	}
}

// sweep drops the connections whose last line is older than ConnWindow
// before ts, in place: from a free slot once around, each dropped slot
// refilled by del's shift is looked at again.
func (t *connTable) sweep(ts int64) {
	if t.n == 0 {
		return
	}
	mask := uint64(len(t.slots) - 1)
	start := uint64(0)
	for t.slots[start].policy != 0 {
		start++
	}
	for k := uint64(1); k < uint64(len(t.slots)); k++ {
		i := (start + k) & mask
		for s := &t.slots[i]; s.policy != 0 && ts-s.at > int64(ConnWindow); {
			t.delAt(i)
		}
	}
	// A flood gone stale leaves a table an eighth full or less: let most
	// of it go.
	if len(t.slots) > 64 && t.n*8 < len(t.slots) {
		t.resize(len(t.slots) / 4)
	}
}
