package pipeline

import (
	"net/netip"
	"slices"
	"strings"
	"time"
)

func cloneString(s string) string { return strings.Clone(s) }

// counterKey identifies one window: a rule and what it counts by. Keying by
// netip.Addr (not its string) keeps the hot path free of allocations.
type counterKey struct {
	policy int
	addr   netip.Addr
	key    string
}

// window holds the times of the last Threshold matches as a ring, and the
// numbers of the last few matching lines in the evidence ring (see
// evidence). A ring of exactly Threshold entries is all a sliding-window
// count needs: the window is full when the oldest of the last Threshold
// matches is no older than Window. Times and line numbers share one slice
// (times first): a tracked address costs about 170 bytes with the map
// entry, whatever the lines.
type window struct {
	slots       []int64 // [0:size) times in unix ns, ring; [size:) line numbers, ring
	newest      int64
	size        uint16 // the times ring's length (the rule's threshold)
	next, n     uint16 // times ring: next write, entries in use
	nextEv, nEv uint16 // line numbers ring
}

func newWindow(threshold, evidence int) *window {
	return &window{slots: make([]int64, threshold+evidence), size: uint16(threshold)}
}

func (w *window) times() []int64 { return w.slots[:w.size] }
func (w *window) lines() []int64 { return w.slots[w.size:] }

func (w *window) addTime(ts int64) {
	t := w.times()
	t[w.next] = ts
	w.next = (w.next + 1) % w.size
	if w.n < w.size {
		w.n++
	}
	if ts > w.newest {
		w.newest = ts
	}
}

func (w *window) addLine(seq uint64) {
	l := w.lines()
	if len(l) == 0 {
		return
	}
	l[w.nextEv] = int64(seq)
	w.nextEv = (w.nextEv + 1) % uint16(len(l))
	if w.nEv < uint16(len(l)) {
		w.nEv++
	}
}

// evidenceLines copies out the window's lines still in the ring, oldest
// first.
func (w *window) evidenceLines(r *evidence) []string {
	l := w.lines()
	out := make([]string, 0, w.nEv)
	for i := uint16(0); i < w.nEv; i++ {
		j := (w.nextEv + uint16(len(l)) - w.nEv + i) % uint16(len(l))
		if line, ok := r.get(uint64(l[j])); ok {
			out = append(out, line)
		}
	}
	return out
}

// Counter counts matches per (rule, key) over sliding event-time windows.
// It is not safe for concurrent use; the engine owns one.
type Counter struct {
	windows   map[counterKey]*window
	lines     evidence
	sweepAt   int // sweep when the map grows past this
	maxWindow time.Duration
	Evicted   uint64 // windows dropped because they went stale
	// Max bounds the windows held (0: no bound). Past it, the windows
	// whose last match is oldest are dropped, an eighth at a time, and
	// counted in Overflow: a flood of distinct addresses costs at most Max
	// windows of memory, and what it pushes out is what was least likely
	// to reach a threshold. Bans are the ledger's and are never dropped.
	Max      int
	Overflow uint64

	// dirty holds the windows changed since the last TakeDirty, when
	// tracking is on (the daemon persists them; replay does not track).
	track bool
	dirty map[counterKey]struct{}
}

func (c *Counter) touch(k counterKey) {
	if c.track {
		c.dirty[k] = struct{}{}
	}
}

func NewCounter() *Counter {
	return &Counter{windows: make(map[counterKey]*window), sweepAt: 4096}
}

// Len is the number of live windows.
func (c *Counter) Len() int { return len(c.windows) }

// Add records a match at t and reports whether the policy's threshold is
// reached; when it is, the window is reset (as fail2ban does after a ban)
// and the evidence lines are returned.
func (c *Counter) Add(p *Policy, target netip.Addr, key string, t time.Time, line string) (bool, []string) {
	if p.Threshold <= 1 {
		if p.Evidence > 0 {
			return true, []string{strings.Clone(line)}
		}
		return true, nil
	}
	if p.Window > c.maxWindow {
		c.maxWindow = p.Window
	}
	k := counterKey{policy: p.ID, addr: target, key: key}
	if key != "" {
		k.addr = netip.Addr{}
	}
	w := c.windows[k]
	if w == nil {
		if len(c.windows) >= c.sweepAt {
			c.sweep(t)
		}
		if c.Max > 0 && len(c.windows) >= c.Max {
			c.shed(len(c.windows) - c.Max + max(1, c.Max/8))
		}
		w = newWindow(p.Threshold, p.Evidence)
		if key != "" {
			k.key = strings.Clone(key)
		}
		c.windows[k] = w
	}
	ts := t.UnixNano()
	c.touch(k)
	w.addTime(ts)
	if p.Evidence > 0 {
		w.addLine(c.lines.put(line))
	}
	if w.n < w.size {
		return false, nil
	}
	// The ring is full: w.next now points at the oldest entry.
	oldest := w.times()[w.next]
	if w.size > 1 && ts-oldest > int64(p.Window) {
		return false, nil
	}
	ev := w.evidenceLines(&c.lines)
	delete(c.windows, k)
	c.touch(k)
	return true, ev
}

// Count reports how many matches the window for (p, target, key) holds
// within its window at time t (for status and explain).
func (c *Counter) Count(p *Policy, target netip.Addr, key string, t time.Time) int {
	return c.CountWithin(p, target, key, t, p.Window)
}

// CountWithin is Count over another window (at most the last Threshold
// matches are remembered).
func (c *Counter) CountWithin(p *Policy, target netip.Addr, key string, t time.Time, window time.Duration) int {
	k := counterKey{policy: p.ID, addr: target, key: key}
	if key != "" {
		k.addr = netip.Addr{}
	}
	w := c.windows[k]
	if w == nil {
		return 0
	}
	n := 0
	for _, ts := range w.times()[:w.n] {
		if d := t.UnixNano() - ts; d >= 0 && d <= int64(window) {
			n++
		}
	}
	return n
}

// sweep drops windows whose newest match is older than the longest window:
// they can never reach a threshold again. It runs when the map has doubled
// since the last sweep, so its cost is amortised over the insertions.
func (c *Counter) sweep(t time.Time) {
	cutoff := t.UnixNano() - int64(c.maxWindow)
	for k, w := range c.windows {
		if w.newest < cutoff {
			delete(c.windows, k)
			c.touch(k)
			c.Evicted++
		}
	}
	c.sweepAt = max(4096, 2*len(c.windows))
}

// shed drops the n windows whose newest match is oldest.
func (c *Counter) shed(n int) {
	if n <= 0 {
		return
	}
	newest := make([]int64, 0, len(c.windows))
	for _, w := range c.windows {
		newest = append(newest, w.newest)
	}
	slices.Sort(newest)
	cutoff := newest[min(n, len(newest))-1]
	for k, w := range c.windows {
		if n == 0 {
			break
		}
		if w.newest <= cutoff {
			delete(c.windows, k)
			c.touch(k)
			c.Overflow++
			n--
		}
	}
}

// remap re-keys windows after a reload: old rule ID → new rule ID; windows
// of rules that are gone are dropped.
func (c *Counter) remap(ids map[int]int) {
	old := c.windows
	c.windows = make(map[counterKey]*window, len(old))
	for k, w := range old {
		nid, ok := ids[k.policy]
		if !ok {
			continue
		}
		k.policy = nid
		c.windows[k] = w
	}
	if c.track {
		// IDs changed under the dirty set: the store is keyed by rule name,
		// so mark every surviving window to be written again.
		clear(c.dirty)
		for k := range c.windows {
			c.dirty[k] = struct{}{}
		}
	}
}

// Failing reports, per rule ID, how many keys have a live window (for
// status: "currently failing").
func (c *Counter) Failing(now time.Time) map[int]int {
	out := map[int]int{}
	cutoff := now.UnixNano() - int64(c.maxWindow)
	for k, w := range c.windows {
		if w.newest >= cutoff {
			out[k.policy]++
		}
	}
	return out
}
