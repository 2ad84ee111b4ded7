package pipeline

import (
	"net/netip"
	"time"
)

// StateView is what rule predicates may ask of the engine's state:
// offenses(target, window), banned(target), failures(key, rule, window) and
// distinct(value, key, window). It is read-only: a matcher asks, the
// engine alone writes its state (what distinct() saw is recorded after
// Match, see Sighter). The engine implements it and hands itself to a
// matcher that wants it (StatefulMatcher).
type StateView interface {
	Now() time.Time
	OffensesWithin(target netip.Addr, window time.Duration) int
	Banned(target netip.Addr) bool
	Failures(rule, key string, window time.Duration) int
	// Distinct returns how many distinct values key holds within window
	// once the event's earlier sightings and then value are recorded at
	// Now (user names tried from one address, ports probed), recording
	// nothing: what distinct() returns.
	Distinct(key, value string, window time.Duration, earlier []Sighting) int
}

// StatefulMatcher is a Matcher whose predicates read engine state.
type StatefulMatcher interface {
	Matcher
	SetState(StateView)
}

// Sighting is a value a predicate saw under a key (distinct()).
type Sighting struct{ Key, Value string }

// Sighter is a Matcher whose predicates saw values the engine is to
// remember (distinct()): after each Match the engine records what
// Sightings returns, in order. Matching only reads; counting what was
// seen is the engine's, as counting hits is.
type Sighter interface {
	Sightings() []Sighting
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

// Distinct implements StateView, on a copy of key's values: the same
// steps record takes, the same answer, nothing kept.
func (e *Engine) Distinct(key, value string, window time.Duration, earlier []Sighting) int {
	now := e.clock.Now().UnixNano()
	if e.distinctView == nil {
		e.distinctView = map[string]int64{}
	}
	vals := e.distinctView
	clear(vals)
	if dk := e.distinct[key]; dk != nil {
		for k, t := range dk.vals {
			vals[k] = t
		}
	}
	for _, s := range earlier {
		if s.Key == key {
			sight(vals, s.Value, now)
		}
	}
	sight(vals, value, now)
	n := 0
	for _, t := range vals {
		if now-t <= int64(window) {
			n++
		}
	}
	return n
}

// recordSightings remembers what the matcher's predicates saw on the
// event just matched.
func (e *Engine) recordSightings() {
	if e.sighter == nil {
		return
	}
	for _, s := range e.sighter.Sightings() {
		e.record(s.Key, s.Value)
	}
}

// distinctKey is what distinct() saw under one key.
type distinctKey struct {
	key   string
	vals  map[string]int64 // value → last seen (unix ns)
	dirty bool             // in Engine.distinctDirty
	gone  bool             // swept: to be forgotten by the store
}

// record remembers value under key at Now.
func (e *Engine) record(key, value string) {
	now := e.clock.Now().UnixNano()
	if e.distinct == nil {
		e.distinct = map[string]*distinctKey{}
	}
	dk := e.distinct[key]
	if dk == nil {
		if len(e.distinct) >= e.distinctAt {
			e.sweepDistinct(now)
		}
		dk = &distinctKey{key: cloneString(key), vals: map[string]int64{}}
		e.distinct[dk.key] = dk
	}
	e.changedDistinct(dk)
	// A copy even of a value already there: assigning to a string key
	// stores the new key's bytes (aliasing the line buffer) too.
	sight(dk.vals, cloneString(value), now)
}

// changedDistinct marks dk to be saved (when changes are tracked): a
// list, not a set, so a line costs no hashing of its key a second time.
func (e *Engine) changedDistinct(dk *distinctKey) {
	if e.trackDistinct && !dk.dirty {
		dk.dirty = true
		e.distinctDirty = append(e.distinctDirty, dk)
	}
}

// sight sets value's time in vals to now, forgetting the oldest value
// first when vals is full.
func sight(vals map[string]int64, value string, now int64) {
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
	vals[value] = now
}

// distinctKeep is how long a key distinct() saw nothing under is kept:
// longer than any distinct() window a pack uses (the fleet's is a day).
const distinctKeep = 24 * time.Hour

// sweepDistinct drops keys not seen for distinctKeep of event time; it
// runs when the map has doubled since the last sweep.
func (e *Engine) sweepDistinct(now int64) {
	for k, dk := range e.distinct {
		newest := int64(0)
		for _, t := range dk.vals {
			newest = max(newest, t)
		}
		if now-newest > int64(distinctKeep) {
			delete(e.distinct, k)
			dk.gone = true
			e.changedDistinct(dk)
		}
	}
	e.distinctAt = max(4096, 2*len(e.distinct))
}
