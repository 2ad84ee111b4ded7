package pipeline

import (
	"net/netip"
	"strings"
	"time"
)

// The daemon persists the engine's state (windows, bans, offense history)
// so that a restart neither forgets an attacker at 4 of 5 failures nor lifts
// a ban. It saves only what changed since the last save (TakeChanges), in
// the same transaction as the file offsets, so state and offsets always
// agree: after a crash both roll back to the last save together and the
// lines after it are read again, counted once.

// WindowState is one sliding window, keyed by rule name (rule IDs change
// across reloads; names do not). Its evidence is either the numbers of its
// lines in the engine's evidence stream (Lines: what the engine saves, the
// lines themselves once each in Changes.Lines), or the lines themselves
// (Evidence: a state saved by an older stockade).
type WindowState struct {
	Rule     string
	Addr     netip.Addr // zero when Key is set
	Key      string
	Times    []int64 // unix nanoseconds, oldest first
	Evidence []string
	Lines    []uint64 `json:",omitempty"`
}

// EvidenceLine is a line of the evidence stream, that windows refer to by
// its number (Seq): At is the stream's bytes before it.
type EvidenceLine struct {
	Seq, At uint64
	Line    string
}

// ID names the window in a store.
func (w WindowState) ID() string { return windowID(w.Rule, w.Addr, w.Key) }

func windowID(rule string, a netip.Addr, key string) string {
	if key != "" {
		return rule + "\x00k\x00" + key
	}
	return rule + "\x00a\x00" + a.String()
}

// BanRecord is one rule's ban on a target.
type BanRecord struct {
	Rule    string
	Expires time.Time
	Info    *BanInfo `json:",omitempty"`
}

// TargetState is what the ledger knows of one target: its active records
// (none once they expired) and how many bans it ever had.
type TargetState struct {
	Target       netip.Prefix
	Records      []BanRecord
	Offenses     int
	RuleOffenses map[string]int `json:",omitempty"`
	BanTimes     []int64        `json:",omitempty"` // unix ns of the last bans
	History      []HistoryEntry `json:",omitempty"` // the last decisions about it
}

// DistinctState is what distinct() remembers under one key (the
// addresses that banned a target, the users tried from an address), in
// no fixed order. No Values: the key was forgotten.
type DistinctState struct {
	Key    string
	Values []Sighted
}

// Sighted is a value distinct() saw and when it last did, unix ns.
type Sighted struct {
	Value string
	At    int64
}

// Changes is what changed since the previous TakeChanges.
type Changes struct {
	Windows     []WindowState // present now
	GoneWindows []string      // IDs of windows that fired or went stale
	Targets     []TargetState
	Distinct    []DistinctState
	// Lines are the evidence lines the windows refer to that no earlier
	// Changes held, by number; Next and Bytes are the stream's position
	// (zero: Lines is empty and the position unknown).
	Lines       []EvidenceLine
	Next, Bytes uint64
	// Full is set on a whole state (State): it replaces what was saved
	// before rather than adding to it.
	Full bool
}

// Empty reports whether there is nothing to save.
func (c *Changes) Empty() bool {
	return !c.Full && len(c.Windows) == 0 && len(c.GoneWindows) == 0 && len(c.Targets) == 0 && len(c.Lines) == 0 && len(c.Distinct) == 0
}

// TrackChanges turns on change tracking (off by default: replay needs
// none). It is what a daemon's engine does, on one goroutine for good: its
// windows are bounded as a whole too (see Counter.Whole).
func (e *Engine) TrackChanges() {
	c := e.counter
	c.track, c.dirtyAddrs, c.dirtyKeys = true, map[addrKey]struct{}{}, map[strKey]struct{}{}
	c.Whole = true
	e.ledger.track, e.ledger.dirty = true, map[netip.Prefix]struct{}{}
	e.trackDistinct = true
}

// TakeChanges returns the changes since the last call and forgets them.
// The windows' times and line numbers share a few large arrays: a save
// of a flood's hundred thousand new windows costs a handful of
// allocations, not several per window.
func (e *Engine) TakeChanges() Changes {
	var ch Changes
	c := e.counter
	names := e.policyNames()
	var a stateArena
	ch.Windows = make([]WindowState, 0, len(c.dirtyAddrs)+len(c.dirtyKeys))
	visit := func(k counterKey) {
		name, ok := names[k.policy]
		if !ok {
			return
		}
		ws, live := c.stateRefs(name, k, &a)
		if !live {
			ch.GoneWindows = append(ch.GoneWindows, windowID(name, k.addr, k.key))
			return
		}
		ch.Windows = append(ch.Windows, ws)
	}
	for k := range c.dirtyAddrs {
		visit(counterKey{policy: int(k.policy >> 1), addr: k.addr()})
	}
	for k := range c.dirtyKeys {
		visit(counterKey{policy: k.policy, key: k.key})
	}
	c.dirtyAddrs, c.dirtyKeys = resetSet(c.dirtyAddrs), resetSet(c.dirtyKeys)
	ch.Lines, ch.Next, ch.Bytes = c.takeLines()
	for t := range e.ledger.dirty {
		ch.Targets = append(ch.Targets, e.ledger.state(t))
	}
	clear(e.ledger.dirty)
	ch.Distinct = e.takeDistinct()
	return ch
}

// takeDistinct returns the keys of distinct() changed since the last
// call, each whole (a key's values are at most maxDistinctValues), their
// values in one array: a save of a thousand keys costs two allocations,
// not one a key.
func (e *Engine) takeDistinct() []DistinctState {
	if len(e.distinctDirty) == 0 {
		return nil
	}
	out := make([]DistinctState, 0, len(e.distinctDirty))
	n := 0
	for _, dk := range e.distinctDirty {
		if !dk.gone {
			n += len(dk.vals)
		}
	}
	all := make([]Sighted, 0, n)
	// In the order they changed: a key swept and seen again comes
	// forgotten first, then with its new values.
	for i, dk := range e.distinctDirty {
		dk.dirty = false
		e.distinctDirty[i] = nil
		if dk.gone {
			out = append(out, DistinctState{Key: dk.key})
			continue
		}
		from := len(all)
		for v, t := range dk.vals {
			all = append(all, Sighted{Value: v, At: t})
		}
		out = append(out, DistinctState{Key: dk.key, Values: all[from:len(all):len(all)]})
	}
	if cap(e.distinctDirty) > 1<<14 {
		e.distinctDirty = nil // a flood's list is let go
	} else {
		e.distinctDirty = e.distinctDirty[:0]
	}
	return out
}

// distinctState is one key of distinct() as saved.
func distinctState(k string, vals map[string]int64) DistinctState {
	d := DistinctState{Key: k, Values: make([]Sighted, 0, len(vals))}
	for v, t := range vals {
		d.Values = append(d.Values, Sighted{Value: v, At: t})
	}
	return d
}

// resetSet empties a set; one a flood grew large is let go rather than
// kept at its largest for good.
func resetSet[K comparable](m map[K]struct{}) map[K]struct{} {
	if len(m) > 1<<14 {
		return map[K]struct{}{}
	}
	clear(m)
	return m
}

// TakeState calls f with every live window (ws and its slices are reused
// by the next call: f copies what it keeps), in no fixed order, and
// returns the evidence lines they may refer to and the stream's position:
// the windows of a whole-state save, read without building a million
// WindowStates. The windows count as saved from then on; the ledger's
// changes are still TakeChanges's.
func (e *Engine) TakeState(f func(ws *WindowState)) (lines []EvidenceLine, next, bytes uint64) {
	c := e.counter
	names := e.policyNames()
	var ws WindowState
	for _, pt := range c.parts {
		if pt == nil {
			continue
		}
		pt.each(func(k counterKey, s *slab, i uint32) {
			name, ok := names[k.policy]
			if !ok {
				return
			}
			w := s.win(i)
			ws = WindowState{Rule: name, Addr: k.addr, Key: k.key,
				Times: w.appendTimes(ws.Times[:0]), Lines: w.appendSeqs(ws.Lines[:0], &c.lines)}
			f(&ws)
		})
	}
	if c.track {
		c.dirtyAddrs, c.dirtyKeys = resetSet(c.dirtyAddrs), resetSet(c.dirtyKeys)
	}
	c.savedNext = 0
	return c.takeLines()
}

func (e *Engine) policyNames() map[int]string {
	m := make(map[int]string)
	for _, p := range e.matcher.Policies() {
		m[p.ID] = p.Name
	}
	return m
}

func (l *Ledger) state(t netip.Prefix) TargetState {
	ts := TargetState{Target: t}
	if h := l.history[t]; h != nil {
		ts.Offenses, ts.BanTimes = h.n, append([]int64(nil), h.times...)
		ts.RuleOffenses = h.ruleMap()
		ts.History = h.eventsInOrder()
	}
	if b := l.bans.get(t); b != nil {
		for _, r := range b.records {
			ts.Records = append(ts.Records, BanRecord{Rule: r.rule, Expires: r.expires, Info: r.info})
		}
	}
	return ts
}

// Restore loads saved state into a fresh engine: windows of rules that no
// longer exist are dropped, records that expired by now are dropped, and
// offense history is kept whole. It emits no decision: bans are re-applied
// to local sinks by the caller (a reconcile), not broadcast again. The
// windows' evidence is taken from their Evidence lines.
func (e *Engine) Restore(windows []WindowState, targets []TargetState, clock, now time.Time) {
	r := e.NewRestorer()
	r.inline = true
	for i := range windows {
		r.Window(&windows[i])
	}
	r.Targets(targets, now)
	r.Done(clock)
}

// RestoreState is Restore of a whole state (see State), evidence lines by
// number included: the engine quotes what the saved one would have.
func (e *Engine) RestoreState(st Changes, clock, now time.Time) {
	r := e.NewRestorer()
	for _, l := range st.Lines {
		r.Line(l)
	}
	r.Stream(st.Next, st.Bytes)
	for i := range st.Windows {
		r.Window(&st.Windows[i])
	}
	r.Targets(st.Targets, now)
	r.Distinct(st.Distinct, clock)
	r.Done(clock)
}

// Restorer loads saved state into a fresh engine piece by piece, in the
// order it was saved (a store's snapshot, then its log): a window saved
// again replaces the earlier one, a window gone is dropped, and evidence
// lines come in the order of their numbers.
type Restorer struct {
	e      *Engine
	byName map[string]*Policy
	last   uint64 // the number of the last line taken
	inline bool   // windows quote their Evidence even when they have Lines
	// The rule of the window before: a store's windows come rule by rule,
	// and the name is the same string.
	rule   string
	policy *Policy
}

// NewRestorer starts restoring into e.
func (e *Engine) NewRestorer() *Restorer {
	r := &Restorer{e: e, byName: map[string]*Policy{}}
	for _, p := range e.matcher.Policies() {
		r.byName[p.Name] = p
	}
	return r
}

// Window restores a window. ws is not kept.
func (r *Restorer) Window(ws *WindowState) {
	if ws.Rule != r.rule {
		r.rule, r.policy = ws.Rule, r.byName[ws.Rule]
	}
	p := r.policy
	if p == nil || p.Threshold <= 1 || len(ws.Times) == 0 {
		return
	}
	c := r.e.counter
	if ws.Evidence != nil && (r.inline || ws.Lines == nil) {
		c.restore(p, Canonical(ws.Addr), ws.Key, ws.Times, ws.Evidence)
		return
	}
	c.restoreRefs(p, Canonical(ws.Addr), ws.Key, ws.Times, ws.Lines)
}

// Expect says about n windows are coming: the counter's maps are sized
// for them at once, rather than grown (and rehashed) step by step to up
// to twice what they hold.
func (r *Restorer) Expect(n int) {
	r.e.counter.expect(n)
}

// Gone drops the window of a store's ID (WindowState.ID).
func (r *Restorer) Gone(id string) {
	rule, rest, ok := strings.Cut(id, "\x00")
	p := r.byName[rule]
	if !ok || p == nil || len(rest) < 2 {
		return
	}
	k := counterKey{policy: p.ID}
	switch rest[:2] {
	case "k\x00":
		k.key = rest[2:]
	case "a\x00":
		a, err := netip.ParseAddr(rest[2:])
		if err != nil {
			return
		}
		k.addr = Canonical(a)
	default:
		return
	}
	r.e.counter.forget(k)
}

// Line restores an evidence line. Lines come in the order of their
// numbers; one already taken (a save that was retried) is skipped.
func (r *Restorer) Line(l EvidenceLine) {
	if l.Seq <= r.last {
		return
	}
	ev := &r.e.counter.lines
	ev.store(l.Seq, l.At, quoted(l.Line))
	r.last = l.Seq
	if l.Seq >= ev.next {
		ev.next, ev.bytes = l.Seq+1, l.At+uint64(len(quoted(l.Line)))
	}
}

// Stream sets the evidence stream's position (Changes.Next and Bytes).
func (r *Restorer) Stream(next, bytes uint64) {
	ev := &r.e.counter.lines
	if next > ev.next {
		ev.next, ev.bytes = next, bytes
	}
}

// Targets restores the ledger's targets.
func (r *Restorer) Targets(targets []TargetState, now time.Time) {
	e := r.e
	for _, ts := range targets {
		if ts.Offenses > 0 || len(ts.History) > 0 {
			h := &offenseLog{n: ts.Offenses, times: append([]int64(nil), ts.BanTimes...)}
			h.setRules(ts.RuleOffenses)
			for _, x := range ts.History[max(0, len(ts.History)-MaxHistory):] {
				h.add(x)
			}
			e.ledger.forgetHistory(ts.Target)
			e.ledger.history[ts.Target] = h
		}
		var b *activeBan
		for _, rec := range ts.Records {
			if !rec.Expires.After(now) {
				continue
			}
			if b == nil {
				b = newActiveBan()
				if old := e.ledger.bans.get(ts.Target); old != nil {
					old.gone = true
				}
				e.ledger.bans.set(ts.Target, b)
			}
			b.records = append(b.records, record{rule: rec.Rule, expires: rec.Expires, info: rec.Info})
			if !ts.Target.IsSingleIP() {
				e.ledger.ranges[ts.Target] = struct{}{}
			}
			if rec.Expires.After(b.until) {
				b.until = rec.Expires
			}
			e.ledger.pushExpiry(ts.Target, b, rec.Expires)
		}
	}
}

// Distinct restores what distinct() remembered, as of the engine's clock
// clock: a key not seen for distinctKeep is dropped, as the engine's
// sweep would have, and a key holds at most maxDistinctValues values
// (the newest), as the engine keeps them.
func (r *Restorer) Distinct(ds []DistinctState, clock time.Time) {
	e := r.e
	for _, d := range ds {
		newest := int64(0)
		for _, s := range d.Values {
			newest = max(newest, s.At)
		}
		if len(d.Values) == 0 || !clock.IsZero() && clock.UnixNano()-newest > int64(distinctKeep) {
			delete(e.distinct, d.Key)
			continue
		}
		vals := make(map[string]int64, min(len(d.Values), maxDistinctValues))
		for _, s := range d.Values {
			sight(vals, s.Value, s.At)
		}
		if e.distinct == nil {
			e.distinct = map[string]*distinctKey{}
		}
		e.distinct[d.Key] = &distinctKey{key: d.Key, vals: vals}
	}
	e.distinctAt = max(e.distinctAt, 2*len(e.distinct))
}

// Done ends the restore: the engine's clock starts from clock, and what
// was restored counts as saved.
func (r *Restorer) Done(clock time.Time) {
	c := r.e.counter
	c.savedNext = c.lines.next
	r.e.clock.Advance(clock)
}

// MergeChanges folds newer changes over older ones that could not be saved:
// for each window and target the newer entry wins.
func MergeChanges(older, newer Changes) Changes {
	if older.Empty() || newer.Full {
		return newer
	}
	windows := map[string]WindowState{}
	gone := map[string]bool{}
	for _, c := range []Changes{older, newer} {
		for _, id := range c.GoneWindows {
			delete(windows, id)
			gone[id] = true
		}
		for _, w := range c.Windows {
			windows[w.ID()] = w
			delete(gone, w.ID())
		}
	}
	targets := map[netip.Prefix]TargetState{}
	for _, c := range []Changes{older, newer} {
		for _, t := range c.Targets {
			targets[t.Target] = t
		}
	}
	distinct := map[string]DistinctState{}
	for _, c := range []Changes{older, newer} {
		for _, d := range c.Distinct {
			distinct[d.Key] = d
		}
	}
	out := Changes{Next: max(older.Next, newer.Next), Bytes: max(older.Bytes, newer.Bytes), Full: older.Full}
	for _, d := range distinct {
		out.Distinct = append(out.Distinct, d)
	}
	out.Lines = append(append(out.Lines, older.Lines...), newer.Lines...)
	for _, w := range windows {
		out.Windows = append(out.Windows, w)
	}
	for id := range gone {
		out.GoneWindows = append(out.GoneWindows, id)
	}
	for _, t := range targets {
		out.Targets = append(out.Targets, t)
	}
	return out
}
