package enforce

import (
	"container/heap"
	"encoding/json"
	"net/netip"
	"slices"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// memory is what the enforcer remembers of the decisions it applied, so
// that a captured signed decision replayed later changes nothing: per
// origin and target, the `at` of the newest decision applied and the ids
// applied at that instant. A repeat of the newest is a duplicate; anything
// older is stale (a ban replayed after the origin's unban, an unban
// replayed after its next ban). One entry per origin and target, not per
// id, keeps it as small as the ledger.
type memory struct {
	entries  map[string]*seen
	byForget forgetHeap
	// dirty are the keys changed since the last take, to persist.
	dirty   map[string]struct{}
	retain  time.Duration
	max     int
	evicted uint64 // entries forgotten early for the bound
}

type seen struct {
	key    string
	At     time.Time `json:"at"`
	IDs    []string  `json:"ids"`
	Forget time.Time `json:"forget"`
	index  int
}

// idsPerInstant bounds the ids kept for one origin, target and `at`: a
// sensor issues one or two decisions for the same target from one line.
const idsPerInstant = 8

func newMemory(retain time.Duration, max int) *memory {
	return &memory{entries: map[string]*seen{}, dirty: map[string]struct{}{}, retain: retain, max: max}
}

func seenKey(origin string, t netip.Prefix) string { return origin + "\x00" + t.String() }

// check says whether d, of origin about target, was applied already
// (duplicate) or is older than what was (stale); "" for new.
func (m *memory) check(origin string, t netip.Prefix, d *pipeline.Decision) Reason {
	s := m.entries[seenKey(origin, t)]
	switch {
	case s == nil || d.At.After(s.At):
		return ""
	case d.At.Before(s.At):
		return RefusedStale
	case slices.Contains(s.IDs, d.ID):
		return RefusedDuplicate
	}
	return ""
}

// newer says whether a decision newer than d, of origin about target,
// was applied since d was noted (a deferred ban overtaken by an unban).
func (m *memory) newer(origin string, t netip.Prefix, d *pipeline.Decision) bool {
	s := m.entries[seenKey(origin, t)]
	return s != nil && d.At.Before(s.At)
}

// note records d as applied and returns how to take that back. It is
// remembered until its expiry or for the retention, whichever is later:
// at least as long as the bus keeps it for replay.
func (m *memory) note(origin string, t netip.Prefix, d *pipeline.Decision, now time.Time) (undo func()) {
	key := seenKey(origin, t)
	s := m.entries[key]
	var prev *seen
	if s != nil {
		c := *s
		c.IDs = slices.Clone(s.IDs)
		prev = &c
	}
	forget := now.Add(m.retain)
	if d.Expires.After(forget) {
		forget = d.Expires
	}
	switch {
	case s == nil:
		s = &seen{key: key, At: d.At, IDs: []string{d.ID}, Forget: forget}
		m.entries[key] = s
		heap.Push(&m.byForget, s)
	case d.At.After(s.At):
		s.At, s.IDs = d.At, []string{d.ID}
	default:
		if len(s.IDs) >= idsPerInstant {
			s.IDs = slices.Delete(s.IDs, 0, 1)
		}
		s.IDs = append(s.IDs, d.ID)
	}
	if forget.After(s.Forget) {
		s.Forget = forget
		heap.Fix(&m.byForget, s.index)
	}
	m.dirty[key] = struct{}{}
	for m.max > 0 && len(m.entries) > m.max {
		m.drop(m.byForget[0])
		m.evicted++
	}
	return func() {
		if cur := m.entries[key]; cur != nil {
			m.drop(cur)
		}
		if prev != nil {
			m.entries[key] = prev
			heap.Push(&m.byForget, prev)
		}
		m.dirty[key] = struct{}{}
	}
}

func (m *memory) drop(s *seen) {
	heap.Remove(&m.byForget, s.index)
	delete(m.entries, s.key)
	m.dirty[s.key] = struct{}{}
}

// expire forgets what is past its time.
func (m *memory) expire(now time.Time) {
	for len(m.byForget) > 0 && !m.byForget[0].Forget.After(now) {
		m.drop(m.byForget[0])
	}
}

// take returns the changes since the last take: key → JSON, nil for gone.
func (m *memory) take(out map[string][]byte) {
	for k := range m.dirty {
		if s := m.entries[k]; s != nil {
			v, _ := json.Marshal(s)
			out[kindSeen+k] = v
		} else {
			out[kindSeen+k] = nil
		}
	}
	clear(m.dirty)
}

// restore loads one persisted entry; false when it does not decode.
func (m *memory) restore(key string, v []byte, now time.Time) bool {
	s := &seen{key: key}
	if err := json.Unmarshal(v, s); err != nil || len(s.IDs) == 0 {
		return false
	}
	if !s.Forget.After(now) {
		m.dirty[key] = struct{}{} // gone: deleted at the next save
		return true
	}
	if old := m.entries[key]; old != nil {
		m.drop(old)
	}
	m.entries[key] = s
	heap.Push(&m.byForget, s)
	return true
}

// forgetHeap orders entries by when they are forgotten, soonest first:
// the bound forgets those first.
type forgetHeap []*seen

func (h forgetHeap) Len() int           { return len(h) }
func (h forgetHeap) Less(i, j int) bool { return h[i].Forget.Before(h[j].Forget) }
func (h forgetHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *forgetHeap) Push(x any) {
	s := x.(*seen)
	s.index = len(*h)
	*h = append(*h, s)
}
func (h *forgetHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return s
}
