package pipeline

import (
	"net/netip"
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
// last few raw lines as evidence. A ring of exactly Threshold entries is all
// a sliding-window count needs: the window is full when the oldest of the
// last Threshold matches is no older than Window.
type window struct {
	times    []int64 // unix nanoseconds, ring
	evidence []string
	next     uint16 // ring position of the next write
	n        uint16 // entries in use
	nextEv   uint16
	nEv      uint16
	newest   int64
}

// Counter counts matches per (rule, key) over sliding event-time windows.
// It is not safe for concurrent use; the engine owns one.
type Counter struct {
	windows   map[counterKey]*window
	sweepAt   int // sweep when the map grows past this
	maxWindow time.Duration
	Evicted   uint64 // windows dropped because they went stale

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
		w = &window{times: make([]int64, p.Threshold)}
		if p.Evidence > 0 {
			w.evidence = make([]string, p.Evidence)
		}
		if key != "" {
			k.key = strings.Clone(key)
		}
		c.windows[k] = w
	}
	ts := t.UnixNano()
	if ts > w.newest {
		w.newest = ts
	}
	c.touch(k)
	size := uint16(len(w.times))
	w.times[w.next] = ts
	w.next = (w.next + 1) % size
	if w.n < size {
		w.n++
	}
	if len(w.evidence) > 0 {
		w.evidence[w.nextEv] = strings.Clone(line)
		w.nextEv = (w.nextEv + 1) % uint16(len(w.evidence))
		if w.nEv < uint16(len(w.evidence)) {
			w.nEv++
		}
	}
	if w.n < size {
		return false, nil
	}
	// The ring is full: w.next now points at the oldest entry.
	oldest := w.times[w.next]
	if size > 1 && ts-oldest > int64(p.Window) {
		return false, nil
	}
	ev := make([]string, 0, w.nEv)
	for i := uint16(0); i < w.nEv; i++ {
		j := (w.nextEv + uint16(len(w.evidence)) - w.nEv + i) % uint16(len(w.evidence))
		ev = append(ev, w.evidence[j])
	}
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
	for i := uint16(0); i < w.n; i++ {
		if d := t.UnixNano() - w.times[i]; d >= 0 && d <= int64(window) {
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
