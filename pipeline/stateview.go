package pipeline

import (
	"net/netip"
	"time"
)

// StateView is what rule predicates may ask of the engine's state:
// offenses(target, window), banned(target), failures(key, rule, window) and
// distinct(value, key, window). The engine implements it and hands itself
// to a matcher that wants it (StatefulMatcher).
type StateView interface {
	Now() time.Time
	OffensesWithin(target netip.Addr, window time.Duration) int
	Banned(target netip.Addr) bool
	Failures(rule, key string, window time.Duration) int
	// Distinct records value under key at Now and returns how many distinct
	// values key had within window (user names tried from one address).
	Distinct(key, value string, window time.Duration) int
}

// StatefulMatcher is a Matcher whose predicates read engine state.
type StatefulMatcher interface {
	Matcher
	SetState(StateView)
}

func hostPrefix(a netip.Addr) netip.Prefix {
	a = Canonical(a)
	return netip.PrefixFrom(a, a.BitLen())
}

// OffensesWithin implements StateView.
func (e *Engine) OffensesWithin(target netip.Addr, window time.Duration) int {
	return e.ledger.OffensesWithin(hostPrefix(target), window, e.clock.Now())
}

// Banned implements StateView: an active ban on target or a range over it.
func (e *Engine) Banned(target netip.Addr) bool {
	now := e.clock.Now()
	t := hostPrefix(target)
	if _, ok := e.ledger.Active(t, now); ok {
		return true
	}
	return e.ledger.Covered(t, now.Add(time.Nanosecond))
}

// Failures implements StateView: matches of rule for key (an address or a
// rule's own key) within window, as far as the window ring remembers (at
// most the rule's threshold).
func (e *Engine) Failures(rule, key string, window time.Duration) int {
	for _, p := range e.matcher.Policies() {
		if p.Name != rule {
			continue
		}
		if a, err := netip.ParseAddr(key); err == nil {
			// The rule counts an IPv6 address with its range (V6Count).
			return e.counter.CountWithin(p, e.countPrefix(p, Canonical(a)).Addr(), "", e.clock.Now(), window)
		}
		return e.counter.CountWithin(p, netip.Addr{}, key, e.clock.Now(), window)
	}
	return 0
}

// maxDistinctValues bounds the values remembered per key: past it the
// oldest is forgotten (the count saturates, which is what a threshold on
// it needs).
const maxDistinctValues = 256

// Distinct implements StateView.
func (e *Engine) Distinct(key, value string, window time.Duration) int {
	now := e.clock.Now().UnixNano()
	if e.distinct == nil {
		e.distinct = map[string]map[string]int64{}
	}
	vals := e.distinct[key]
	if vals == nil {
		if len(e.distinct) >= e.distinctAt {
			e.sweepDistinct(now)
		}
		vals = map[string]int64{}
		e.distinct[cloneString(key)] = vals
	}
	if _, ok := vals[value]; !ok && len(vals) >= maxDistinctValues {
		var oldK string
		oldT := int64(1<<63 - 1)
		for k, t := range vals {
			// Ties by value: which one goes must not depend on map order.
			if t < oldT || t == oldT && k < oldK {
				oldK, oldT = k, t
			}
		}
		delete(vals, oldK)
	}
	vals[cloneString(value)] = now
	n := 0
	for _, t := range vals {
		if now-t <= int64(window) {
			n++
		}
	}
	return n
}

// sweepDistinct drops keys not seen for a day of event time; it runs when
// the map has doubled since the last sweep.
func (e *Engine) sweepDistinct(now int64) {
	for k, vals := range e.distinct {
		newest := int64(0)
		for _, t := range vals {
			newest = max(newest, t)
		}
		if now-newest > int64(24*time.Hour) {
			delete(e.distinct, k)
		}
	}
	e.distinctAt = max(4096, 2*len(e.distinct))
}
