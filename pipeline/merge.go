package pipeline

import (
	"errors"
	"io"
	"time"
)

// The event-time merge, written once: Replay, pack tests (through Merge)
// and a parallel replay's merge take the events of several sources in the
// order of their times, ties to the source given first, and each source
// keeps its own order. This is how several files replay as they happened
// live.

// Merge takes the events of several iterators in event-time order.
type Merge struct {
	h    mergeHeap[*mergeHead]
	last *mergeHead // the head Next returned last, advanced by the next call
}

type mergeHead struct {
	it  Iterator
	idx int
	ev  Event
}

func (m *mergeHead) before(o *mergeHead) bool {
	return mergesBefore(m.ev.Time, m.idx, o.ev.Time, o.idx)
}

// NewMerge reads the first event of every iterator.
func NewMerge(its []Iterator) (*Merge, error) {
	m := &Merge{h: make(mergeHeap[*mergeHead], 0, len(its))}
	for i, it := range its {
		hd := &mergeHead{it: it, idx: i}
		if err := it.Next(&hd.ev); err != nil {
			if errors.Is(err, io.EOF) {
				continue
			}
			return nil, err
		}
		m.h = append(m.h, hd)
	}
	m.h.init((*mergeHead).before)
	return m, nil
}

// Next returns the next event and the index of its iterator, or io.EOF at
// the end of them all. The event is valid until the next call, which reads
// the next event of its iterator.
func (m *Merge) Next() (*Event, int, error) {
	if hd := m.last; hd != nil {
		m.last = nil
		hd.ev.Reset()
		if err := hd.it.Next(&hd.ev); err != nil {
			if !errors.Is(err, io.EOF) {
				return nil, 0, err
			}
			m.h.pop((*mergeHead).before)
		} else if len(m.h) > 1 { // one source (most replays): no order to keep
			m.h.fix((*mergeHead).before)
		}
	}
	if len(m.h) == 0 {
		return nil, 0, io.EOF
	}
	m.last = m.h[0]
	return &m.last.ev, m.last.idx, nil
}

// mergesBefore reports whether the event at time a of source ai goes before
// the event at time b of source bi.
func mergesBefore(a time.Time, ai int, b time.Time, bi int) bool {
	if x := a.Compare(b); x != 0 {
		return x < 0
	}
	return ai < bi
}

// mergeHeap holds the sources that have an event, the one whose event goes
// first at [0] by before. A source updates its head in place and calls fix,
// or pop once it has no more events.
type mergeHeap[T any] []T

func (h mergeHeap[T]) init(before func(a, b T) bool) {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i, before)
	}
}

// fix restores the order after the head at [0] moved to its next event.
func (h mergeHeap[T]) fix(before func(a, b T) bool) { h.down(0, before) }

// pop removes the head at [0].
func (h *mergeHeap[T]) pop(before func(a, b T) bool) {
	old := *h
	n := len(old) - 1
	old[0] = old[n]
	var zero T
	old[n] = zero
	*h = old[:n]
	h.down(0, before)
}

func (h mergeHeap[T]) down(i int, before func(a, b T) bool) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		j := l
		if r := l + 1; r < len(h) && before(h[r], h[l]) {
			j = r
		}
		if !before(h[j], h[i]) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}
