package pipeline

import (
	"maps"
	"net/netip"
	"slices"
	"time"
)

// The daemon persists the engine's state (windows, bans, offense history)
// so that a restart neither forgets an attacker at 4 of 5 failures nor lifts
// a ban. It saves only what changed since the last save (TakeChanges), in
// the same transaction as the file offsets, so state and offsets always
// agree: after a crash both roll back to the last save together and the
// lines after it are read again, counted once.

// WindowState is one sliding window, keyed by rule name (rule IDs change
// across reloads; names do not).
type WindowState struct {
	Rule     string
	Addr     netip.Addr // zero when Key is set
	Key      string
	Times    []int64 // unix nanoseconds, oldest first
	Evidence []string
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

// Changes is what changed since the previous TakeChanges.
type Changes struct {
	Windows     []WindowState // present now
	GoneWindows []string      // IDs of windows that fired or went stale
	Targets     []TargetState
}

// Empty reports whether there is nothing to save.
func (c *Changes) Empty() bool {
	return len(c.Windows) == 0 && len(c.GoneWindows) == 0 && len(c.Targets) == 0
}

// TrackChanges turns on change tracking (off by default: replay needs none).
func (e *Engine) TrackChanges() {
	e.counter.track, e.counter.dirty = true, map[counterKey]struct{}{}
	e.ledger.track, e.ledger.dirty = true, map[netip.Prefix]struct{}{}
}

// TakeChanges returns the changes since the last call and forgets them.
func (e *Engine) TakeChanges() Changes {
	var ch Changes
	names := e.policyNames()
	for k := range e.counter.dirty {
		name, ok := names[k.policy]
		if !ok {
			continue
		}
		ws, live := e.counter.state(name, k)
		if !live {
			ch.GoneWindows = append(ch.GoneWindows, windowID(name, k.addr, k.key))
			continue
		}
		ch.Windows = append(ch.Windows, ws)
	}
	clear(e.counter.dirty)
	for t := range e.ledger.dirty {
		ch.Targets = append(ch.Targets, e.ledger.state(t))
	}
	clear(e.ledger.dirty)
	return ch
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
		ts.RuleOffenses = maps.Clone(h.byRule)
		ts.History = h.eventsInOrder()
	}
	if b := l.bans[t]; b != nil {
		for _, r := range b.records {
			ts.Records = append(ts.Records, BanRecord{Rule: r.rule, Expires: r.expires, Info: r.info})
		}
	}
	return ts
}

// Restore loads saved state into a fresh engine: windows of rules that no
// longer exist are dropped, records that expired by now are dropped, and
// offense history is kept whole. It emits no decision: bans are re-applied
// to local sinks by the caller (a reconcile), not broadcast again.
func (e *Engine) Restore(windows []WindowState, targets []TargetState, clock, now time.Time) {
	byName := map[string]*Policy{}
	for _, p := range e.matcher.Policies() {
		byName[p.Name] = p
	}
	for _, ws := range windows {
		p := byName[ws.Rule]
		if p == nil || p.Threshold <= 1 || len(ws.Times) == 0 {
			continue
		}
		e.counter.restore(p, Canonical(ws.Addr), ws.Key, ws.Times, ws.Evidence)
	}
	for _, ts := range targets {
		if ts.Offenses > 0 || len(ts.History) > 0 {
			h := &offenseLog{n: ts.Offenses, byRule: maps.Clone(ts.RuleOffenses), times: append([]int64(nil), ts.BanTimes...)}
			h.events = slices.Clone(ts.History[max(0, len(ts.History)-MaxHistory):])
			if h.byRule == nil {
				h.byRule = map[string]int{}
			}
			e.ledger.history[ts.Target] = h
		}
		var b *activeBan
		for _, r := range ts.Records {
			if !r.Expires.After(now) {
				continue
			}
			if b == nil {
				b = &activeBan{}
				e.ledger.bans[ts.Target] = b
			}
			b.records = append(b.records, record{rule: r.Rule, expires: r.Expires, info: r.Info})
			if !ts.Target.IsSingleIP() {
				e.ledger.ranges[ts.Target] = struct{}{}
			}
			if r.Expires.After(b.until) {
				b.until = r.Expires
			}
			e.ledger.pushExpiry(ts.Target, r.Expires)
		}
	}
	e.clock.Advance(clock)
}

// MergeChanges folds newer changes over older ones that could not be saved:
// for each window and target the newer entry wins.
func MergeChanges(older, newer Changes) Changes {
	if older.Empty() {
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
	var out Changes
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
