package pipeline

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"time"
)

func cloneString(s string) string { return strings.Clone(s) }

// counterKey names one window outside the counter (change tracking, the
// daemon's store): a rule and what it counts by.
type counterKey struct {
	policy int
	addr   netip.Addr
	key    string
}

// Counter counts matches per (rule, key) over sliding event-time windows.
// It is not safe for concurrent use; the engine owns one.
//
// A window holds the times of the last Threshold matches as a ring, and the
// numbers of the last few matching lines in an evidence ring (see
// evidence). A ring of exactly Threshold entries is all a sliding-window
// count needs: the window is full when the oldest of the last Threshold
// matches is no older than Window.
//
// Memory is what bounds a flood of distinct addresses, so a window costs
// one map entry of 24 bytes (the address as 16 bytes and the rule, no
// string, no pointer) and one fixed-size record of int64s in a slab per
// rule (newest match, ring positions, times, line numbers): about 120
// bytes for sshd's 5 times and 3 lines, with nothing for the garbage
// collector to scan.
//
// The windows are split into counterParts partitions by a fixed hash of
// what they count (the address, or the key). Each partition has its own
// maps, sweep schedule and share of Max: what happens to a window depends
// only on the matches of its own partition (and the lines it quotes only
// on the stream of hits, see evidence). That is what lets a parallel
// replay give each worker whole partitions and still decide exactly what
// one goroutine decides.
type Counter struct {
	parts [counterParts]*counterPart
	lines evidence
	// fired holds the numbers of the lines of the window that fired
	// last (see add), which firedLines copies out: only a ban that is
	// new quotes them, and most windows that fire find their address
	// banned already (a scanner's every third or twentieth request).
	// They are the window's numbers as they were: which of them the
	// stream still keeps is asked only by firedLines (each a look at
	// the ring's entries, a cache miss), and no hit comes in between.
	fired []uint64

	Evicted uint64 // windows dropped because they went stale
	// Max bounds the windows held (0: no bound). Each partition holds at
	// most its share of Max (Max/64, at least one); past it, the windows
	// of the partition whose last match is oldest are dropped, an eighth
	// of the share at a time, and counted in Overflow: a flood of distinct
	// addresses costs at most Max windows of memory, and what it pushes out
	// is what was least likely to reach a threshold. Bans are the ledger's
	// and are never dropped.
	//
	// With Whole set, Max bounds the windows as a whole instead: a new
	// window past Max drops the oldest of its own partition, or of the
	// fullest when its own holds less than its share, so Max distinct
	// addresses all keep a window however the hash spreads them (with
	// shares, a million addresses under a bound of a million kept
	// 960,940: the partitions the hash gives a few more than average shed
	// an eighth while others have room). What happens to a window then
	// depends on every partition, which a parallel replay cannot have:
	// the daemon's engine, on one goroutine for good, sets it.
	Max      int
	Overflow uint64
	Whole    bool

	// dirtyAddrs and dirtyKeys hold the windows changed since the last
	// TakeChanges, when tracking is on (the daemon persists them; replay
	// does not track): keys of 20 bytes with no pointer, so that a flood's
	// million changed windows cost the garbage collector nothing to scan.
	// savedNext is the first hit of the evidence stream whose line no
	// save has written yet.
	track      bool
	dirtyAddrs map[addrKey]struct{}
	dirtyKeys  map[strKey]struct{}
	savedNext  uint64
}

const (
	counterParts = 64
	// sweepMin is a partition's size below which it is never swept.
	sweepMin = 4096 / counterParts
)

// counterPart is one partition of the windows.
type counterPart struct {
	addrs     addrTable // window index in the rule's slab
	keys      map[strKey]uint32
	slabs     []*slab // by policy ID
	n         int     // live windows
	sweepAt   int     // sweep when n reaches this
	maxWindow time.Duration
}

// addrKey is a window counted by address: 20 bytes, no pointer.
type addrKey struct {
	a      [16]byte
	policy uint32 // policy ID << 1, | 1 for an IPv4 address
}

func makeAddrKey(policy int, a netip.Addr) addrKey {
	k := addrKey{a: a.As16(), policy: uint32(policy) << 1}
	if a.Is4() {
		k.policy |= 1
	}
	return k
}

func (k addrKey) addr() netip.Addr {
	a := netip.AddrFrom16(k.a)
	if k.policy&1 != 0 {
		a = a.Unmap()
	}
	return a
}

// strKey is a window counted by a key other than the address.
type strKey struct {
	policy int
	key    string
}

// partOfAddr is the partition of an address: a fixed hash (no random
// seed), so that a parallel replay routes it the same way; Fibonacci
// hashing, the top bits of a product.
func partOfAddr(a netip.Addr) int {
	if a.Is4() {
		b := a.As4()
		return int((uint64(binary.BigEndian.Uint32(b[:])) + 1) * 0x9e3779b97f4a7c15 >> (64 - 6))
	}
	// Only the first 48 bits: every address of an IPv6 range that failures
	// count by (Policy.V6Count, at least 48 bits) lands in one partition.
	b := a.As16()
	h := binary.BigEndian.Uint64(b[:8]) >> 16 * 0x9e3779b97f4a7c15
	return int(mix64(h) >> (64 - 6))
}

func partOfKey(s string) int {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return int(mix64(h) >> (64 - 6))
}

// mix64 is MurmurHash3's finaliser.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// slab stores the windows of one rule in a partition, each a record of
// 2 + threshold + evidence int64s:
//
//	[0] newest match (unix ns)
//	[1] ring positions: next time, times in use, next line, lines in use (16 bits each)
//	[2 : 2+threshold] times ring
//	[2+threshold :] line numbers ring
//
// Records live in chunks, so that growing never copies the windows held and
// a flood's memory is never held twice.
type slab struct {
	threshold, evidence int
	stride              int
	shift               uint // log2 of the records per chunk
	chunks              [][]int64
	free                []uint32
	next                uint32 // records ever handed out
}

func newSlab(threshold, evidence int) *slab {
	s := &slab{threshold: threshold, evidence: evidence, stride: 2 + threshold + evidence}
	// Chunks of about 32 KiB (512 records for sshd): a partition with a
	// few windows of a rule with a large threshold holds little.
	for s.shift = 9; s.shift > 2 && (1<<s.shift)*s.stride*8 > 32<<10; s.shift-- {
	}
	return s
}

func (s *slab) alloc() uint32 {
	if n := len(s.free); n > 0 {
		i := s.free[n-1]
		s.free = s.free[:n-1]
		clear(s.rec(i))
		return i
	}
	i := s.next
	s.next++
	if int(i>>s.shift) == len(s.chunks) {
		s.chunks = append(s.chunks, make([]int64, s.stride<<s.shift))
	}
	return i
}

func (s *slab) release(i uint32) { s.free = append(s.free, i) }

func (s *slab) rec(i uint32) []int64 {
	c := s.chunks[i>>s.shift]
	o := int(i&(1<<s.shift-1)) * s.stride
	return c[o : o+s.stride : o+s.stride]
}

// win is a view of one window record.
type win struct {
	r           []int64
	size, lsize uint16
}

func (s *slab) win(i uint32) win {
	return win{r: s.rec(i), size: uint16(s.threshold), lsize: uint16(s.evidence)}
}

func (w win) newest() int64  { return w.r[0] }
func (w win) times() []int64 { return w.r[2 : 2+int(w.size)] }
func (w win) lines() []int64 { return w.r[2+int(w.size):] }
func (w win) pos() [4]uint16 { // next, n, nextEv, nEv
	m := uint64(w.r[1])
	return [4]uint16{uint16(m), uint16(m >> 16), uint16(m >> 32), uint16(m >> 48)}
}
func (w win) setPos(p [4]uint16) {
	w.r[1] = int64(uint64(p[0]) | uint64(p[1])<<16 | uint64(p[2])<<32 | uint64(p[3])<<48)
}

func (w win) addTime(ts int64) {
	p := w.pos()
	w.r[2+int(p[0])] = ts
	p[0] = (p[0] + 1) % w.size
	if p[1] < w.size {
		p[1]++
	}
	w.setPos(p)
	if ts > w.r[0] {
		w.r[0] = ts
	}
}

func (w win) addLine(seq uint64) {
	if w.lsize == 0 {
		return
	}
	p := w.pos()
	w.r[2+int(w.size)+int(p[2])] = int64(seq)
	p[2] = (p[2] + 1) % w.lsize
	if p[3] < w.lsize {
		p[3]++
	}
	w.setPos(p)
}

// orderedTimes returns the times held, oldest first.
func (w win) orderedTimes() []int64 {
	p := w.pos()
	t := w.times()
	out := make([]int64, 0, p[1])
	for i := uint16(0); i < p[1]; i++ {
		out = append(out, t[(p[0]+w.size-p[1]+i)%w.size])
	}
	return out
}

// evidenceLines copies out the window's lines still in the ring, oldest
// first.
func (w win) evidenceLines(r *evidence) []string {
	p := w.pos()
	l := w.lines()
	out := make([]string, 0, p[3])
	for i := uint16(0); i < p[3]; i++ {
		j := (p[2] + w.lsize - p[3] + i) % w.lsize
		if line, ok := r.get(uint64(l[j])); ok {
			out = append(out, line)
		}
	}
	return out
}

func (c *Counter) touch(k counterKey) {
	if !c.track {
		return
	}
	if k.key != "" {
		c.dirtyKeys[strKey{k.policy, k.key}] = struct{}{}
	} else {
		c.dirtyAddrs[makeAddrKey(k.policy, k.addr)] = struct{}{}
	}
}

// markAll marks every window changed (a reload re-keyed them).
func (c *Counter) markAll() {
	clear(c.dirtyAddrs)
	clear(c.dirtyKeys)
	for _, pt := range c.parts {
		if pt != nil {
			pt.each(func(k counterKey, _ *slab, _ uint32) { c.touch(k) })
		}
	}
}

func NewCounter() *Counter { return &Counter{} }

// Len is the number of live windows.
func (c *Counter) Len() int {
	n := 0
	for _, pt := range c.parts {
		if pt != nil {
			n += pt.n
		}
	}
	return n
}

func (c *Counter) partIndex(target netip.Addr, key string) int {
	if key != "" {
		return partOfKey(key)
	}
	return partOfAddr(target)
}

func (c *Counter) part(i int) *counterPart {
	pt := c.parts[i]
	if pt == nil {
		pt = &counterPart{keys: map[strKey]uint32{}, sweepAt: sweepMin}
		c.parts[i] = pt
	}
	return pt
}

// bound makes room for a new window in partition pi, if Max requires it.
func (c *Counter) bound(pi int, pt *counterPart) {
	m := c.partMax(pi)
	if !c.Whole {
		if pt.n >= m {
			c.shed(pt, pt.n-m+max(1, m/8))
		}
		return
	}
	total := c.Len()
	if total < c.Max {
		return
	}
	// An eighth of a share at a time (amortised like the shares' sheds),
	// taken where it is held.
	from := pt
	if pt.n < m {
		for _, q := range c.parts {
			if q != nil && q.n > from.n {
				from = q
			}
		}
	}
	c.shed(from, min(from.n, total-c.Max+max(1, m/8)))
}

// partMax is partition i's share of Max.
func (c *Counter) partMax(i int) int {
	m := c.Max / counterParts
	if i < c.Max%counterParts {
		m++
	}
	return max(1, m)
}

func (pt *counterPart) slab(p *Policy) *slab {
	if p.ID >= len(pt.slabs) {
		pt.slabs = append(pt.slabs, make([]*slab, p.ID+1-len(pt.slabs))...)
	}
	s := pt.slabs[p.ID]
	if s == nil {
		s = newSlab(p.Threshold, p.Evidence)
		pt.slabs[p.ID] = s
	}
	return s
}

func (pt *counterPart) lookup(policy int, target netip.Addr, key string) (win, bool) {
	if policy >= len(pt.slabs) || pt.slabs[policy] == nil {
		return win{}, false
	}
	var i uint32
	var ok bool
	if key != "" {
		i, ok = pt.keys[strKey{policy, key}]
	} else {
		i, ok = pt.addrs.get(makeAddrSlot(policy, target))
	}
	if !ok {
		return win{}, false
	}
	return pt.slabs[policy].win(i), true
}

// Add records a match at t and reports whether the policy's threshold is
// reached; when it is, the window is reset (as fail2ban does after a ban)
// and the evidence lines are returned. target must be canonical (see
// Canonical); it is ignored when key is set.
func (c *Counter) Add(p *Policy, target netip.Addr, key string, t time.Time, line string) (bool, []string) {
	fire, lines := c.add(c.partIndex(target, key), p, target, key, t, line, 1)
	if fire && lines == nil {
		lines = c.firedLines()
	}
	return fire, lines
}

// firedLines copies out the lines of the window that fired last (see
// add), oldest first: those the stream still keeps.
func (c *Counter) firedLines() []string {
	out := make([]string, 0, len(c.fired))
	for _, seq := range c.fired {
		if line, ok := c.lines.get(seq); ok {
			out = append(out, line)
		}
	}
	return out
}

// add is Add in partition pi, which the caller has computed, of a line
// that stands for n matches (n ≥ 1): n times in the window, once in the
// evidence stream, since every hit numbers one line there (what a
// parallel replay counts on). When a window of a threshold above one
// fires, the lines are not copied (nil): their numbers are in c.fired
// until the next add, for firedLines.
func (c *Counter) add(pi int, p *Policy, target netip.Addr, key string, t time.Time, line string, n int) (bool, []string) {
	if p.Threshold <= 1 {
		c.lines.hit(line)
		if p.Evidence > 0 {
			return true, []string{strings.Clone(line)}
		}
		return true, nil
	}
	pt := c.part(pi)
	if p.Window > pt.maxWindow {
		pt.maxWindow = p.Window
	}
	s := pt.slab(p)
	var (
		ak  addrSlot
		idx uint32
		ok  bool
	)
	if key != "" {
		target = netip.Addr{}
		idx, ok = pt.keys[strKey{p.ID, key}]
	} else {
		ak = makeAddrSlot(p.ID, target)
		idx, ok = pt.addrs.get(ak)
	}
	if !ok {
		if pt.n >= pt.sweepAt {
			c.sweep(pt, t)
		}
		if c.Max > 0 {
			c.bound(pi, pt)
		}
		idx = s.alloc()
		if key != "" {
			pt.keys[strKey{p.ID, strings.Clone(key)}] = idx
		} else {
			pt.addrs.put(ak, idx)
		}
		pt.n++
	}
	if c.track {
		if key != "" {
			// Copied only when new: most lines count toward a window
			// changed since the last save already.
			if _, ok := c.dirtyKeys[strKey{p.ID, key}]; !ok {
				c.dirtyKeys[strKey{p.ID, strings.Clone(key)}] = struct{}{}
			}
		} else {
			c.dirtyAddrs[ak.key()] = struct{}{}
		}
	}
	w := s.win(idx)
	ts := t.UnixNano()
	for range min(max(n, 1), int(w.size)) {
		w.addTime(ts)
	}
	if p.Evidence > 0 {
		w.addLine(c.lines.put(line))
	} else {
		c.lines.hit(line)
	}
	pos := w.pos()
	if pos[1] < w.size {
		return false, nil
	}
	// The ring is full: next now points at the oldest entry.
	oldest := w.times()[pos[0]]
	if w.size > 1 && ts-oldest > int64(p.Window) {
		return false, nil
	}
	c.fired = w.appendAllSeqs(c.fired[:0])
	if key != "" {
		delete(pt.keys, strKey{p.ID, key})
	} else {
		pt.addrs.del(ak)
	}
	s.release(idx)
	pt.n--
	return true, nil
}

// Skip counts a hit that never reached Add (allowlisted, paired): every
// hit takes its place in the stream that decides which lines are still
// quoted (see evidence).
func (c *Counter) Skip(line string) { c.lines.hit(line) }

// Count reports how many matches the window for (p, target, key) holds
// within its window at time t (for status and explain).
func (c *Counter) Count(p *Policy, target netip.Addr, key string, t time.Time) int {
	return c.CountWithin(p, target, key, t, p.Window)
}

// CountWithin is Count over another window (at most the last Threshold
// matches are remembered).
func (c *Counter) CountWithin(p *Policy, target netip.Addr, key string, t time.Time, window time.Duration) int {
	pt := c.parts[c.partIndex(target, key)]
	if pt == nil {
		return 0
	}
	w, ok := pt.lookup(p.ID, target, key)
	if !ok {
		return 0
	}
	n := 0
	for _, ts := range w.times()[:w.pos()[1]] {
		if d := t.UnixNano() - ts; d >= 0 && d <= int64(window) {
			n++
		}
	}
	return n
}

// each calls f for every window of a partition.
func (pt *counterPart) each(f func(k counterKey, s *slab, idx uint32)) {
	pt.addrs.each(func(s *addrSlot) {
		p := s.policy()
		f(counterKey{policy: p, addr: s.addr()}, pt.slabs[p], s.idx)
	})
	for k, i := range pt.keys {
		f(counterKey{policy: k.policy, key: k.key}, pt.slabs[k.policy], i)
	}
}

func (pt *counterPart) drop(k counterKey) {
	var i uint32
	if k.key != "" {
		i = pt.keys[strKey{k.policy, k.key}]
		delete(pt.keys, strKey{k.policy, k.key})
	} else {
		i, _ = pt.addrs.del(makeAddrSlot(k.policy, k.addr))
	}
	pt.slabs[k.policy].release(i)
	pt.n--
}

// sweep drops the partition's windows whose newest match is older than the
// longest window: they can never reach a threshold again. It runs when the
// partition has doubled since its last sweep, so its cost is amortised over
// the insertions.
func (c *Counter) sweep(pt *counterPart, t time.Time) {
	cutoff := t.UnixNano() - int64(pt.maxWindow)
	var gone []counterKey
	pt.each(func(k counterKey, s *slab, i uint32) {
		if s.win(i).newest() < cutoff {
			gone = append(gone, k)
		}
	})
	for _, k := range gone {
		pt.drop(k)
		c.touch(k)
		c.Evicted++
	}
	pt.sweepAt = max(sweepMin, 2*pt.n)
}

// shed drops the partition's n windows whose newest match is oldest (ties
// by rule, then address or key, so that the choice never depends on map
// order).
func (c *Counter) shed(pt *counterPart, n int) {
	if n <= 0 {
		return
	}
	type cand struct {
		newest int64
		k      counterKey
	}
	all := make([]cand, 0, pt.n)
	pt.each(func(k counterKey, s *slab, i uint32) {
		all = append(all, cand{s.win(i).newest(), k})
	})
	slices.SortFunc(all, func(a, b cand) int {
		if c := cmp.Compare(a.newest, b.newest); c != 0 {
			return c
		}
		if c := cmp.Compare(a.k.policy, b.k.policy); c != 0 {
			return c
		}
		if c := a.k.addr.Compare(b.k.addr); c != 0 {
			return c
		}
		return strings.Compare(a.k.key, b.k.key)
	})
	for _, x := range all[:min(n, len(all))] {
		pt.drop(x.k)
		c.touch(x.k)
		c.Overflow++
	}
}

// remap re-keys windows after a reload: old rule ID → the rule's new
// policy; windows of rules that are gone are dropped. A rule whose
// threshold or evidence changed keeps its latest times and lines.
func (c *Counter) remap(ids map[int]*Policy) {
	for _, pt := range c.parts {
		if pt == nil {
			continue
		}
		old := pt
		np := &counterPart{keys: map[strKey]uint32{},
			sweepAt: old.sweepAt, maxWindow: old.maxWindow}
		old.each(func(k counterKey, s *slab, i uint32) {
			p := ids[k.policy]
			if p == nil {
				return
			}
			ns := np.slab(p)
			j := ns.alloc()
			w, nw := s.win(i), ns.win(j)
			times := w.orderedTimes()
			times = times[max(0, len(times)-ns.threshold):]
			for _, t := range times {
				nw.addTime(t)
			}
			nw.r[0] = w.newest()
			var seqs []int64
			pos, l := w.pos(), w.lines()
			for i := uint16(0); i < pos[3]; i++ {
				seqs = append(seqs, l[(pos[2]+w.lsize-pos[3]+i)%w.lsize])
			}
			for _, q := range seqs[max(0, len(seqs)-ns.evidence):] {
				nw.addLine(uint64(q))
			}
			if k.key != "" {
				np.keys[strKey{p.ID, k.key}] = j
			} else {
				np.addrs.put(makeAddrSlot(p.ID, k.addr), j)
			}
			np.n++
		})
		*pt = *np
	}
	if c.track {
		// IDs changed under the dirty set: the store is keyed by rule name,
		// so mark every surviving window to be written again.
		c.markAll()
	}
}

// Failing reports, per rule ID, how many keys have a live window (for
// status: "currently failing").
func (c *Counter) Failing(now time.Time) map[int]int {
	out := map[int]int{}
	for _, pt := range c.parts {
		if pt == nil {
			continue
		}
		cutoff := now.UnixNano() - int64(pt.maxWindow)
		pt.each(func(k counterKey, s *slab, i uint32) {
			if s.win(i).newest() >= cutoff {
				out[k.policy]++
			}
		})
	}
	return out
}

// restore puts a saved window back (the daemon's restart).
func (c *Counter) restore(p *Policy, a netip.Addr, key string, times []int64, lines []string) {
	pt := c.part(c.partIndex(a, key))
	if p.Window > pt.maxWindow {
		pt.maxWindow = p.Window
	}
	s := pt.slab(p)
	if key != "" {
		a = netip.Addr{}
	}
	k := counterKey{policy: p.ID, addr: a, key: key}
	if _, ok := pt.lookup(p.ID, a, key); ok {
		pt.drop(k)
	}
	i := s.alloc()
	w := s.win(i)
	for _, t := range times[max(0, len(times)-s.threshold):] {
		w.addTime(t)
	}
	for _, line := range lines[max(0, len(lines)-s.evidence):] {
		w.addLine(c.lines.put(line))
	}
	if key != "" {
		pt.keys[strKey{p.ID, strings.Clone(key)}] = i
	} else {
		pt.addrs.put(makeAddrSlot(p.ID, a), i)
	}
	pt.n++
}

// state returns the saved form of window k, if it is live.
func (c *Counter) state(rule string, k counterKey) (WindowState, bool) {
	pt := c.parts[c.partIndex(k.addr, k.key)]
	if pt == nil {
		return WindowState{}, false
	}
	w, ok := pt.lookup(k.policy, k.addr, k.key)
	if !ok {
		return WindowState{}, false
	}
	ws := WindowState{Rule: rule, Addr: k.addr, Key: k.key, Times: w.orderedTimes()}
	if w.pos()[3] > 0 {
		ws.Evidence = w.evidenceLines(&c.lines)
		ws.Lines = w.appendSeqs(nil, &c.lines)
	}
	return ws, true
}

// stateArena hands out the times and line numbers of many WindowStates
// from a few shared arrays.
type stateArena struct {
	times []int64
	seqs  []uint64
}

const stateArenaChunk = 8192

// stateRefs returns the saved form of window k, its evidence by number,
// if it is live.
func (c *Counter) stateRefs(rule string, k counterKey, a *stateArena) (WindowState, bool) {
	pt := c.parts[c.partIndex(k.addr, k.key)]
	if pt == nil {
		return WindowState{}, false
	}
	w, ok := pt.lookup(k.policy, k.addr, k.key)
	if !ok {
		return WindowState{}, false
	}
	if cap(a.times)-len(a.times) < int(w.size) {
		a.times = make([]int64, 0, max(stateArenaChunk, int(w.size)))
	}
	if cap(a.seqs)-len(a.seqs) < int(w.lsize) {
		a.seqs = make([]uint64, 0, max(stateArenaChunk, int(w.lsize)))
	}
	t0, s0 := len(a.times), len(a.seqs)
	a.times = w.appendTimes(a.times)
	a.seqs = w.appendSeqs(a.seqs, &c.lines)
	ws := WindowState{Rule: rule, Addr: k.addr, Key: k.key,
		Times: a.times[t0:len(a.times):len(a.times)]}
	if len(a.seqs) > s0 {
		ws.Lines = a.seqs[s0:len(a.seqs):len(a.seqs)]
	}
	return ws, true
}

// appendTimes appends the times held, oldest first.
func (w win) appendTimes(dst []int64) []int64 {
	p := w.pos()
	t := w.times()
	for i := uint16(0); i < p[1]; i++ {
		dst = append(dst, t[(p[0]+w.size-p[1]+i)%w.size])
	}
	return dst
}

// appendAllSeqs appends the numbers of the window's lines, oldest first,
// whether the stream still keeps them or not.
func (w win) appendAllSeqs(dst []uint64) []uint64 {
	p := w.pos()
	l := w.lines()
	for i := uint16(0); i < p[3]; i++ {
		dst = append(dst, uint64(l[(p[2]+w.lsize-p[3]+i)%w.lsize]))
	}
	return dst
}

// appendSeqs appends the numbers of the window's lines the stream still
// keeps, oldest first.
func (w win) appendSeqs(dst []uint64, r *evidence) []uint64 {
	n := len(dst)
	dst = w.appendAllSeqs(dst)
	kept := dst[:n] // filtered in place: kept never passes what is read
	for _, seq := range dst[n:] {
		if _, _, ok := r.line(seq); ok {
			kept = append(kept, seq)
		}
	}
	return kept
}

// takeLines returns the evidence lines no save has written yet, and the
// stream's position, and counts them as written.
func (c *Counter) takeLines() ([]EvidenceLine, uint64, uint64) {
	lines := c.lines.since(c.savedNext)
	c.savedNext = c.lines.next
	return lines, c.lines.next, c.lines.bytes
}

// expect sizes the partitions' address maps for n windows in all.
func (c *Counter) expect(n int) {
	per := n/counterParts + n/counterParts/16 + 16
	for i := range c.parts {
		if c.parts[i] == nil {
			c.parts[i] = &counterPart{keys: map[strKey]uint32{}, sweepAt: sweepMin}
			c.parts[i].addrs.grow(per)
		}
	}
}

// restoreRefs puts a saved window back whose evidence is by number (see
// Restorer.Line).
func (c *Counter) restoreRefs(p *Policy, a netip.Addr, key string, times []int64, seqs []uint64) {
	pt := c.part(c.partIndex(a, key))
	if p.Window > pt.maxWindow {
		pt.maxWindow = p.Window
	}
	s := pt.slab(p)
	var (
		i  uint32
		ok bool
		ak addrSlot
	)
	if key != "" {
		a = netip.Addr{}
		i, ok = pt.keys[strKey{p.ID, key}]
	} else {
		ak = makeAddrSlot(p.ID, a)
		i, ok = pt.addrs.get(ak)
	}
	if ok {
		clear(s.rec(i)) // saved again: the later one replaces it
	} else {
		i = s.alloc()
		if key != "" {
			pt.keys[strKey{p.ID, strings.Clone(key)}] = i
		} else {
			pt.addrs.put(ak, i)
		}
		pt.n++
	}
	w := s.win(i)
	for _, t := range times[max(0, len(times)-s.threshold):] {
		w.addTime(t)
	}
	for _, q := range seqs[max(0, len(seqs)-s.evidence):] {
		w.addLine(q)
	}
}

// forget drops window k if it is held (a save said it fired or went
// stale).
func (c *Counter) forget(k counterKey) {
	pt := c.parts[c.partIndex(k.addr, k.key)]
	if pt == nil {
		return
	}
	if _, ok := pt.lookup(k.policy, k.addr, k.key); ok {
		pt.drop(k)
	}
}
