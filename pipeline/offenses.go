package pipeline

import (
	"slices"
	"strings"
	"time"
)

// offenseLog is a target's ban history: how many bans, per rule, when
// the last few were (for offenses(target, window) in predicates), and its
// last MaxHistory decisions.
//
// A ban writes here every time, and a flood of banned addresses keeps a
// log each for good, so the log holds no pointer per entry for the
// garbage collector to follow: an entry is 32 bytes of numbers, its
// strings (rule, origin, reason, action) indices into the log's own
// names, a handful shared by all its entries. A log is self-contained:
// a parallel replay moves it between ledgers as it is.
type offenseLog struct {
	n     int
	rules []ruleCount
	times []int64 // unix ns of the last maxBanTimes bans, oldest first
	// events are the last MaxHistory decisions: a ring once full, next
	// the oldest (see eventsInOrder).
	events []histEntry
	next   int
	names  []string
	locs   []*time.Location

	// The slices' first arrays, allocated with the log: a flood of new
	// targets banned once each costs one allocation a target, not five.
	rules0  [1]ruleCount
	times0  [1]int64
	events0 [1]histEntry
	names0  [4]string // action, rule, origin, reason
}

func newOffenseLog() *offenseLog {
	h := &offenseLog{}
	h.rules, h.times, h.events, h.names = h.rules0[:0], h.times0[:0], h.events0[:0], h.names0[:0]
	return h
}

// record counts a ban by rule at at and returns the target's bans so far.
func (h *offenseLog) record(rule string, at time.Time) int {
	h.n++
	h.countRule(rule)
	if len(h.times) < maxBanTimes {
		h.times = append(h.times, at.UnixNano())
	} else {
		// Shifted down in place: trimming the front off would leave the
		// slice no room, and the next ban would copy it to a new array.
		copy(h.times, h.times[1:])
		h.times[len(h.times)-1] = at.UnixNano()
	}
	return h.n
}

type ruleCount struct {
	rule string
	n    int
}

// histEntry is a HistoryEntry in the log's terms.
type histEntry struct {
	at, expires                  int64 // unix ns
	offense                      int32
	action, rule, origin, reason uint8 // in names
	atLoc, expiresLoc            uint8 // in locs
	flags                        uint8
}

const (
	histAt      = 1 << iota // At is set
	histExpires             // Expires is set
)

// maxLogNames bounds a log's names before they are gathered again from
// the entries held (at most 4 × MaxHistory of them).
const maxLogNames = 128

func (h *offenseLog) countRule(rule string) {
	for i := range h.rules {
		if h.rules[i].rule == rule {
			h.rules[i].n++
			return
		}
	}
	h.rules = append(h.rules, ruleCount{rule: rule, n: 1})
}

func (h *offenseLog) ruleCount(rule string) int {
	for _, r := range h.rules {
		if r.rule == rule {
			return r.n
		}
	}
	return 0
}

// ruleMap is the bans per rule as the saved state holds them.
func (h *offenseLog) ruleMap() map[string]int {
	m := make(map[string]int, len(h.rules))
	for _, r := range h.rules {
		m[r.rule] = r.n
	}
	return m
}

// setRules sets the bans per rule from the saved state, in the order of
// their names (a map's is random).
func (h *offenseLog) setRules(m map[string]int) {
	h.rules = h.rules[:0]
	for r, n := range m {
		h.rules = append(h.rules, ruleCount{rule: r, n: n})
	}
	slices.SortFunc(h.rules, func(a, b ruleCount) int { return strings.Compare(a.rule, b.rule) })
}

// name returns s's index in names, adding it if need be.
func (h *offenseLog) name(s string) uint8 {
	for i, n := range h.names {
		if n == s {
			return uint8(i)
		}
	}
	if h.names == nil {
		h.names = make([]string, 0, 4) // action, rule, origin, reason
	}
	h.names = append(h.names, s)
	return uint8(len(h.names) - 1)
}

// loc returns l's index: 0 for UTC, i+1 for locs[i].
func (h *offenseLog) loc(l *time.Location) uint8 {
	if l == time.UTC {
		return 0
	}
	for i, x := range h.locs {
		if x == l {
			return uint8(i + 1)
		}
	}
	h.locs = append(h.locs, l)
	return uint8(len(h.locs))
}

func (h *offenseLog) location(i uint8) *time.Location {
	if i == 0 {
		return time.UTC
	}
	return h.locs[i-1]
}

// add appends e to the history, the oldest going once MaxHistory are held.
func (h *offenseLog) add(e HistoryEntry) {
	if len(h.names) > maxLogNames-4 || len(h.locs) > maxLogNames-2 {
		h.gather()
	}
	x := histEntry{offense: int32(e.Offense), action: h.name(e.Action), rule: h.name(e.Rule),
		origin: h.name(e.Origin), reason: h.name(e.Reason)}
	if !e.At.IsZero() {
		x.at, x.atLoc, x.flags = e.At.UnixNano(), h.loc(e.At.Location()), x.flags|histAt
	}
	if !e.Expires.IsZero() {
		x.expires, x.expiresLoc, x.flags = e.Expires.UnixNano(), h.loc(e.Expires.Location()), x.flags|histExpires
	}
	if len(h.events) < MaxHistory {
		h.events = append(h.events, x)
	} else {
		h.events[h.next] = x
		h.next = (h.next + 1) % MaxHistory
	}
}

// gather keeps only the names and locations the entries held refer to.
func (h *offenseLog) gather() {
	all := h.eventsInOrder()
	h.names, h.locs, h.events, h.next = h.names[:0], h.locs[:0], h.events[:0], 0
	for _, e := range all {
		h.add(e)
	}
}

// entry is events[i] as a HistoryEntry.
func (h *offenseLog) entry(i int) HistoryEntry {
	x := &h.events[i]
	e := HistoryEntry{Action: h.names[x.action], Rule: h.names[x.rule], Origin: h.names[x.origin],
		Reason: h.names[x.reason], Offense: int(x.offense)}
	if x.flags&histAt != 0 {
		e.At = time.Unix(0, x.at).In(h.location(x.atLoc))
	}
	if x.flags&histExpires != 0 {
		e.Expires = time.Unix(0, x.expires).In(h.location(x.expiresLoc))
	}
	return e
}

// eventsInOrder is the history oldest first.
func (h *offenseLog) eventsInOrder() []HistoryEntry {
	out := make([]HistoryEntry, 0, len(h.events))
	for i := range h.events {
		out = append(out, h.entry((h.next+i)%len(h.events)))
	}
	return out
}
