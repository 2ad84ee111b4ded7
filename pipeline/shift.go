package pipeline

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// State is the engine's whole state, as RestoreState takes it: every
// live window and every target the ledger knows, in a fixed order
// (windows by ID, targets by address), and the evidence lines the windows
// quote, by number and (for Restore) in full. A wall-clock step moves it in memory (Shift)
// into a new engine, without a round trip through the store.
func (e *Engine) State() Changes {
	var ch Changes
	names := e.policyNames()
	add := func(k counterKey) {
		name, ok := names[k.policy]
		if !ok {
			return
		}
		if ws, live := e.counter.state(name, k); live {
			ch.Windows = append(ch.Windows, ws)
		}
	}
	for _, pt := range e.counter.parts {
		if pt == nil {
			continue
		}
		pt.addrs.each(func(s *addrSlot) { add(counterKey{policy: s.policy(), addr: s.addr()}) })
		for k := range pt.keys {
			add(counterKey{policy: k.policy, key: k.key})
		}
	}
	slices.SortFunc(ch.Windows, func(a, b WindowState) int { return strings.Compare(a.ID(), b.ID()) })
	ch.Lines, ch.Next, ch.Bytes, ch.Full = e.counter.lines.since(0), e.counter.lines.next, e.counter.lines.bytes, true
	seen := map[netip.Prefix]bool{}
	for t := range e.ledger.bans.all() {
		seen[t] = true
	}
	for t := range e.ledger.history {
		seen[t] = true
	}
	for t := range seen {
		ch.Targets = append(ch.Targets, e.ledger.state(t))
	}
	slices.SortFunc(ch.Targets, func(a, b TargetState) int {
		return cmp.Or(a.Target.Addr().Compare(b.Target.Addr()), cmp.Compare(a.Target.Bits(), b.Target.Bits()))
	})
	for k, dk := range e.distinct {
		ch.Distinct = append(ch.Distinct, distinctState(k, dk.vals))
	}
	slices.SortFunc(ch.Distinct, func(a, b DistinctState) int { return strings.Compare(a.Key, b.Key) })
	return ch
}

// Shift moves every time ch holds by step: the windows' match times, the
// bans' expiries, the ban times of the offense history and what
// distinct() saw. Moved by a
// wall-clock step, bans and windows keep exactly the time they had left.
func (ch *Changes) Shift(step time.Duration) {
	shift := func(ns int64) int64 { return ns + int64(step) }
	for i := range ch.Windows {
		w := &ch.Windows[i]
		times := make([]int64, len(w.Times))
		for j, t := range w.Times {
			times[j] = shift(t)
		}
		w.Times = times
	}
	for i := range ch.Targets {
		t := &ch.Targets[i]
		recs := make([]BanRecord, len(t.Records))
		for j, r := range t.Records {
			recs[j] = BanRecord{Rule: r.Rule, Expires: r.Expires.Add(step), Info: r.Info}
			if r.Info != nil {
				info := *r.Info
				info.At = info.At.Add(step)
				recs[j].Info = &info
			}
		}
		t.Records = recs
		hist := make([]HistoryEntry, len(t.History))
		for j, e := range t.History {
			e.At = e.At.Add(step)
			if !e.Expires.IsZero() {
				e.Expires = e.Expires.Add(step)
			}
			hist[j] = e
		}
		t.History = hist
		times := make([]int64, len(t.BanTimes))
		for j, b := range t.BanTimes {
			times[j] = shift(b)
		}
		t.BanTimes = times
	}
	for i := range ch.Distinct {
		d := &ch.Distinct[i]
		vals := make([]Sighted, len(d.Values))
		for j, s := range d.Values {
			vals[j] = Sighted{Value: s.Value, At: shift(s.At)}
		}
		d.Values = vals
	}
}
