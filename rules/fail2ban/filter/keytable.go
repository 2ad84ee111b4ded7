package filter

import "hash/maphash"

// keyTable finds an open connection's entry by its key (<F-MLFID>): open
// addressing with linear probing, in a table more than twice the size of
// the cache. sshd opens and forgets a connection every few lines, and a
// Go map's delete and assign were most of what the cache cost (on
// 200,000 auth.log lines the table runs 13 M instructions fewer, 0.7 %
// of the replay's). The hash
// is seeded per table: a key is text of the log, and a writer who could
// aim keys at one slot would make each look-up a walk of the cache (at
// most mlfMax entries, still).
type keyTable struct {
	seed  maphash.Seed
	slots []keySlot
	n     int
}

type keySlot struct {
	hash uint64
	e    *mlfEntry
}

// keyTableSize: a power of two, over twice mlfMax, so that probe runs
// stay short.
const keyTableSize = 256

func (t *keyTable) init() {
	if t.slots == nil {
		t.seed = maphash.MakeSeed()
		t.slots = make([]keySlot, keyTableSize)
	}
}

// find returns the slot of k, or of the empty slot that ends its run.
func (t *keyTable) find(k string) (int, uint64) {
	h := maphash.String(t.seed, k)
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for {
		s := &t.slots[i]
		if s.e == nil || s.hash == h && s.e.key == k {
			return int(i), h
		}
		i = (i + 1) & mask
	}
}

func (t *keyTable) get(k string) *mlfEntry {
	if t.n == 0 {
		return nil
	}
	i, _ := t.find(k)
	return t.slots[i].e
}

// put adds e under e.key, which the table does not hold.
func (t *keyTable) put(e *mlfEntry) {
	t.init()
	i, h := t.find(e.key)
	t.slots[i] = keySlot{hash: h, e: e}
	t.n++
}

// del removes k and returns its entry, nil when the table does not hold
// it. The run after it is shifted back over the
// hole, so that no tombstones build up: each key stays reachable from
// its home slot without a gap.
func (t *keyTable) del(k string) *mlfEntry {
	if t.n == 0 {
		return nil
	}
	i, _ := t.find(k)
	e := t.slots[i].e
	if e == nil {
		return nil
	}
	mask := len(t.slots) - 1
	for j := (i + 1) & mask; t.slots[j].e != nil; j = (j + 1) & mask {
		// The entry at j may fill the hole at i unless its home lies
		// cyclically in (i, j]: then it would be placed before its home.
		home := int(t.slots[j].hash) & mask
		if (j-home)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = keySlot{}
	t.n--
	return e
}
